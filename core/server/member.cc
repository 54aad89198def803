#include "core/server/member.h"

#include <algorithm>
#include <chrono>

#include "core/common/log.h"
#include "core/server/join.h"
#include "core/server/member_metrics.h"
#include "core/server/membership.h"

namespace outpost::server {

Clock::duration Member::request_timeout() const {
  return std::chrono::milliseconds(5000 + 2 * opts_.election_timeout_ms);
}

Result<std::unique_ptr<Member>> Member::open(const MemberOptions& opts) {
  std::unique_ptr<Member> m(new Member(opts));
  Status s = m->init();
  if (!s) {
    m->stop();
    return s;
  }
  return m;
}

Status Member::load_cluster() {
  std::string raw;
  outpostpb::ClusterInfo info;
  if (engine_->get_meta(ClusterRecord::kMetaKey, &raw)) {
    if (!info.ParseFromString(raw))
      return {ErrorCode::kCorrupt, "corrupt cluster record in " + opts_.data_dir};
  } else {
    if (opts_.join_existing) {
      auto joined = join_cluster(
          {opts_.name, opts_.initial_cluster, opts_.advertise_peer_urls, peer_tls_}, clock_);
      if (!joined) return joined.status();
      info = std::move(joined.value());
    } else {
      info = initial_cluster_info(opts_.initial_cluster, opts_.cluster_token, opts_.name,
                                  opts_.advertise_client_urls);
    }
    if (info.local_id() == 0)
      return {ErrorCode::kInternal, "member " + opts_.name + " is not in --initial-cluster"};
    auto b = engine_->new_batch();
    b.put_meta(ClusterRecord::kMetaKey, info.SerializeAsString());
    Status s = engine_->write(b, /*sync=*/true);
    if (!s) return s;
  }
  // Client URLs may change between runs; the local member advertises what it was given now.
  for (auto& m : *info.mutable_members()) {
    if (m.id() != info.local_id()) continue;
    m.clear_client_urls();
    for (const auto& u : opts_.advertise_client_urls) m.add_client_urls(u);
  }
  if (is_removed(info, info.local_id()))
    return {ErrorCode::kInternal, "the member has been permanently removed from the cluster"};
  cluster_.set(std::move(info));
  return Status::ok();
}

Status Member::init() {
  if (opts_.peer_tls) {
    auto tls = transport::TlsContext::create(*opts_.peer_tls);
    if (!tls) return Status(ErrorCode::kIo, "peer TLS: " + tls.status().message());
    peer_tls_ = tls.value();
  }
  auto engine = storage::Engine::open(opts_.data_dir);
  if (!engine) return engine.status();
  engine_ = std::move(engine.value());
  engine_->set_unsafe_no_fsync(opts_.unsafe_no_fsync);
  Status s = load_cluster();
  if (!s) return s;

  auto store = mvcc::Store::open(engine_.get());
  if (!store) return store.status();
  store_ = std::move(store.value());

  // etcd's smallest lease TTL: 1.5 election timeouts, rounded up to whole seconds.
  const int64_t min_ttl = int64_t((opts_.election_timeout_ms * 3 / 2 + 999) / 1000);
  lessor_ = std::make_unique<lease::Lessor>(min_ttl, clock_);
  s = lessor_->restore(*engine_, *store_);
  if (!s) return s;
  store_->set_lease_hook(lessor_.get());
  auth_ = std::make_unique<auth::AuthStore>(clock_, opts_.auth_token_ttl);
  s = auth_->restore(*engine_);
  if (!s) return s;
  s = alarms_.restore(*engine_);
  if (!s) return s;
  // Every member serves watches from its own store: the applier's commits feed the hub.
  watch_hub_ = std::make_unique<mvcc::WatchHub>(*store_);
  store_->set_on_commit(
      [hub = watch_hub_.get()](int64_t rev, const std::vector<mvccpb::KeyValue>& ch) {
        hub->notify(rev, ch);
      });
  watch_hub_->start();

  waiters_ = std::make_unique<Waiters>(clock_, request_timeout());
  Applier::Options ao;
  ao.max_learners = opts_.max_learners;
  ao.on_applied = [this](uint64_t applied) { on_applied(applied); };
  ao.on_removed = opts_.on_removed;
  ao.warning_apply_duration = opts_.warning_apply_duration;
  ao.alarms = &alarms_;
  ao.quota = quota_;
  ao.db_size = [this] { return engine_->approximate_size(); };
  ao.on_nospace = [this] { raise_alarm(etcdserverpb::NOSPACE); };
  applier_ =
      std::make_unique<Applier>(*engine_, *store_, *lessor_, *auth_, cluster_, *waiters_, ao);
  barrier_ = std::make_unique<ReadBarrier>(applier_->applied_index());
  lag_ = std::make_unique<ReplicaLag>(clock_);
  lag_->on_applied(applier_->applied_index(), store_->current_revision());
  snapshot_index_ = applier_->applied_index();
  applier_->start();

  s = start_raft();
  if (!s) return s;

  renewals_ = std::make_unique<LeaseRenewals>(
      clock_, request_timeout(), [this](std::string payload, LeaseRenewals::CallDone done) {
        raft_->call_leader(std::move(payload), std::move(done));
      });
  forwarded_ = std::make_unique<ForwardedCalls>(
      clock_, request_timeout(),
      [this](std::string payload, Clock::duration timeout, ForwardedCalls::CallDone done) {
        raft_->call_leader(outpostpb::LeaderCall::CLIENT_CALL, std::move(payload), timeout,
                           std::move(done));
      },
      [this](uint64_t index, std::function<void(const Status&)> done) {
        barrier_->wait(index, std::move(done));
      });
  ClusterOps::Options co;
  co.max_learners = opts_.max_learners;
  co.strict_reconfig_check = opts_.strict_reconfig_check;
  co.election_timeout = std::chrono::milliseconds(opts_.election_timeout_ms);
  cluster_ops_ = std::make_unique<ClusterOps>(clock_, cluster_, *raft_, *waiters_, co);

  // Requests whose entries never came back (lost with a leader, or stuck without quorum).
  housekeeping_.add("request-timeouts", [this] {
    waiters_->expire([this](Clock::time_point start) { return timeout_status(start); });
  });
  housekeeping_.add("lease-renewals", [this] { renewals_->retry(); });
  housekeeping_.add("forwarded-calls", [this] { forwarded_->retry(); });
  housekeeping_.add("publish", [this] { maybe_publish(); });
  housekeeping_.add("leader-removals", [this] { cluster_ops_->tick(); });
  housekeeping_.add("lease-expiry", [this] { revoke_expired_leases(); });
  housekeeping_.add("leader-transfers", [this] { check_leader_transfers(); });
  if (opts_.auto_compaction_revisions > 0 || opts_.auto_compaction_period.count() > 0) {
    compactor_ = std::make_unique<AutoCompactor>(
        opts_.auto_compaction_revisions > 0 ? AutoCompactor::Mode::kRevision
                                            : AutoCompactor::Mode::kPeriodic,
        opts_.auto_compaction_period, opts_.auto_compaction_revisions, clock_.now());
    housekeeping_.add("auto-compaction", [this] { maybe_auto_compact(); });
  }
  housekeeping_.add("periodic", [this] {
    std::vector<std::function<void()>> tasks;
    {
      std::lock_guard l(periodic_mu_);
      tasks = periodic_;
    }
    for (auto& t : tasks) t();
  });
  housekeeping_.start();

  OUTPOST_LOG(
      kInfo, "member started", log::kv("name", opts_.name), log::kv_hex("member-id", member_id()),
      log::kv_hex("cluster-id", cluster_id()), log::kv("applied-index", applier_->applied_index()),
      log::kv("revision", store_->current_revision()), log::kv("peer-port", raft_->peer_port()));
  return Status::ok();
}

Status Member::start_raft() {
  RaftNodeOptions ro;
  ro.id = member_id();
  ro.cluster_id = cluster_id();
  ro.listen_host = opts_.listen_peer_host;
  ro.listen_port = opts_.listen_peer_port;
  ro.peer_tls = peer_tls_;
  ro.listen_tls = opts_.peer_listen_tls;
  ro.applied = applier_->applied_index();
  ro.heartbeat_ms = opts_.heartbeat_ms;
  ro.election_ticks = int(std::max<uint64_t>(1, opts_.election_timeout_ms / opts_.heartbeat_ms));
  ro.snapshot_rate_limit = opts_.snapshot_rate_limit;
  ro.membership = cluster_.get();
  ro.max_learners = opts_.max_learners;
  ro.force_new_cluster = opts_.force_new_cluster;
  ro.clock = &clock_;
  ro.read_timeout_ms =
      uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(request_timeout()).count());

  RaftNode::Callbacks cb;
  cb.committed = [this](std::vector<raftpb::Entry> ents) { applier_->enqueue(std::move(ents)); };
  cb.leader = [this](uint64_t leader, uint64_t) { on_leader(leader); };
  cb.install = [this](std::unique_ptr<storage::Engine::Staging> staged, const raftpb::Snapshot&) {
    return install_snapshot(std::move(staged));
  };
  cb.refused = [this](uint64_t id, const Status& s) { waiters_->fail(id, s); };
  // The leader answers keep-alives and client calls forwarded by the other members.
  cb.call = [this](outpostpb::LeaderCall::Service service, std::string payload,
                   LeaderCalls::Reply reply) {
    answer_call(service, std::move(payload), std::move(reply));
  };
  cb.leader_state = [this](const outpostpb::LeaderState& st) { lag_->on_leader_state(st); };
  cb.fill_leader_state = [this](outpostpb::LeaderState* st) {
    st->set_revision(store_->current_revision());
    st->set_applied_index(applier_->applied_index());
  };
  auto node = RaftNode::start(ro, engine_.get(), std::move(cb));
  if (!node) return node.status();
  raft_ = std::move(node.value());
  return Status::ok();
}

Member::~Member() { stop(); }

void Member::stop() {
  if (stopped_.exchange(true)) return;
  housekeeping_.stop();
  if (raft_) raft_->stop();
  if (watch_hub_) watch_hub_->stop();
  if (applier_) applier_->stop();
  if (renewals_) renewals_->stop();
  if (forwarded_) forwarded_->stop();
  if (cluster_ops_) cluster_ops_->stop();
  if (waiters_) waiters_->stop();
  if (barrier_) barrier_->stop();
}

void Member::on_leader(uint64_t leader) {
  if (leader != 0 && leader != last_leader_) {
    lead_elected_ = clock_.now().time_since_epoch().count();
    leader_changes_seen().inc();
  }
  last_leader_ = leader;
  // Only the leader keeps lease deadlines; a new leader gives every lease a full TTL, plus an
  // election timeout as etcd does.
  const bool me = leader == member_id();
  if (me && !lessor_->primary())
    lessor_->promote(std::chrono::milliseconds(opts_.election_timeout_ms));
  if (!me && lessor_->primary()) lessor_->demote();
}

void Member::propose(outpostpb::Request req, google::protobuf::Message* resp, Done done) {
  // etcd_server_proposals_pending / _failed_total (member_metrics.h).
  proposals_pending().add(1);
  done = [done = std::move(done)](const Status& s) {
    proposals_pending().add(-1);
    if (s.code() == ErrorCode::kTimeout || s.code() == ErrorCode::kTimeoutLeaderFail ||
        s.code() == ErrorCode::kStopped || s.code() == ErrorCode::kNoLeader)
      proposals_failed().inc();
    done(s);
  };
  const uint64_t id = waiters_->add(resp, done);
  if (id == 0) return done(Status::of(ErrorCode::kStopped));
  req.set_id(id);
  std::string data = req.SerializeAsString();
  if (data.size() > opts_.max_request_bytes)
    return waiters_->fail(id, Status::of(ErrorCode::kRequestTooLarge));
  raft_->propose(std::move(data), [this, id](const Status& s) { waiters_->fail(id, s); });
}

Status Member::timeout_status(Clock::time_point start) const {
  const Clock::time_point elected{Clock::duration(lead_elected_.load())};
  const auto window = std::chrono::milliseconds(2 * opts_.election_timeout_ms);
  if (start > elected - window && start < elected) return Status::of(ErrorCode::kTimeoutLeaderFail);
  return Status::of(ErrorCode::kTimeout);
}

void Member::read_barrier(Done done) {
  raft_->read_index([this, done = std::move(done)](const Status& s, uint64_t index) mutable {
    if (!s) return done(s);
    barrier_->wait(index, std::move(done));
  });
}

void Member::on_applied(uint64_t applied) {
  // Every snapshot_count entries: make the state durable, then let the log drop what is older.
  // A flush that failed (e.g. a full disk) is tried again a tenth of snapshot_count later, not
  // at every entry; the log keeps everything meanwhile.
  if (applied >= snapshot_index_ + opts_.snapshot_count && applied >= flush_retry_at_) {
    Status s = engine_->flush();
    if (s) {
      raft_->compact(applied);
      snapshot_index_ = applied;
    } else {
      flush_retry_at_ = applied + std::max<uint64_t>(1, opts_.snapshot_count / 10);
      OUTPOST_LOG(kWarn, "cannot flush the state machine", log::kv("error", s.message()),
                  log::kv("retry-at-index", flush_retry_at_));
    }
  }
  lag_->on_applied(applied, store_->current_revision());
  // Reads waiting for what was just applied may run now.
  barrier_->advance(applied);
}

Status Member::install_snapshot(std::unique_ptr<storage::Engine::Staging> staged) {
  auto info = applier_->install(std::move(staged));
  if (!info) return info.status();
  const uint64_t applied = applier_->applied_index();
  raft_->reset_membership(info.value(), applied);
  snapshot_index_ = applied;
  watch_hub_->resync_all();
  barrier_->advance(applied);
  return Status::ok();
}

void Member::maybe_publish() {
  if (published_ || publishing_ || leader_id() == 0) return;
  publishing_ = true;
  outpostpb::Request r;
  auto* a = r.mutable_member_attrs();
  a->set_id(member_id());
  a->set_name(opts_.name);
  a->set_promote(opts_.promote);
  a->set_failover_after_s(opts_.failover_after_s);
  for (const auto& u : opts_.advertise_client_urls) a->add_client_urls(u);
  propose(std::move(r), nullptr, [this](const Status& s) {
    if (s) {
      published_ = true;
      OUTPOST_LOG(kInfo, "published local member to cluster", log::kv("name", opts_.name),
                  log::kv_hex("member-id", member_id()));
    }
    publishing_ = false;
  });
}

void Member::answer_call(outpostpb::LeaderCall::Service service, std::string payload,
                         LeaderCalls::Reply reply) {
  if (service == outpostpb::LeaderCall::LEASE_RENEW)
    return reply(LeaseRenewals::answer(*lessor_, payload));
  outpostpb::ForwardedCall call;
  ForwardHandler handler;
  {
    std::lock_guard l(forward_mu_);
    handler = forward_handler_;
  }
  if (service != outpostpb::LeaderCall::CLIENT_CALL || !call.ParseFromString(payload) || !handler) {
    outpostpb::ForwardedAnswer a;
    a.set_code(14);  // UNAVAILABLE: this member takes no forwarded calls
    a.set_message("etcdserver: the leader cannot run forwarded calls");
    return reply(a.SerializeAsString());
  }
  handler(std::move(call), [this, reply = std::move(reply)](outpostpb::ForwardedAnswer a) {
    a.set_applied_index(applier_->applied_index());
    forwarded_answered_.fetch_add(1);
    reply(a.SerializeAsString());
  });
}

void Member::maybe_auto_compact() {
  const int64_t rev = compactor_->poll(clock_.now(), store_->current_revision(), is_leader());
  if (rev == 0) return;
  const bool periodic = opts_.auto_compaction_revisions == 0;
  const char* kind = periodic ? "periodic" : "revision";
  OUTPOST_LOG(kInfo, std::string("starting auto ") + kind + " compaction",
              log::kv("revision", rev));
  outpostpb::Request r;
  r.mutable_compaction()->set_revision(rev);
  r.set_internal(true);  // the member's own compaction: no client's permissions apply
  auto resp = std::make_shared<etcdserverpb::CompactionResponse>();
  const auto started = clock_.now();
  propose(std::move(r), resp.get(), [this, rev, kind, resp, started](const Status& s) {
    // "Already compacted" is success, as in etcd (another compaction got there first).
    const bool ok = s || s.code() == ErrorCode::kCompacted;
    if (ok) {
      OUTPOST_LOG(kInfo, std::string("completed auto ") + kind + " compaction",
                  log::kv("revision", rev),
                  log::kv("took-ms", int64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                 clock_.now() - started)
                                                 .count())));
    } else {
      OUTPOST_LOG(kWarn, std::string("failed auto ") + kind + " compaction",
                  log::kv("revision", rev), log::kv("error", s.message()));
    }
    compactor_->done(ok, clock_.now());
  });
}

void Member::revoke_expired_leases() {
  // Only a leader revokes, and it stamps the term it leads in (see expiry_term in
  // internal.proto): a member that just stepped down may still see the leases as its own.
  const uint64_t term = raft_->leading_term();
  if (term == 0) return;
  for (int64_t id : lessor_->expired(1000)) {
    {
      std::lock_guard g(revoking_mu_);
      if (!revoking_.insert(id).second) continue;
    }
    OUTPOST_LOG(kInfo, "lease expired; revoking", log::kv_hex("lease-id", uint64_t(id)));
    outpostpb::Request r;
    r.mutable_lease_revoke()->set_id(id);
    r.set_internal(true);     // the leader's own revoke: no client's permissions apply
    r.set_expiry_term(term);  // applied only if committed in this term (see internal.proto)
    auto resp = std::make_shared<etcdserverpb::LeaseRevokeResponse>();
    propose(std::move(r), resp.get(), [this, id, resp](const Status&) {
      std::lock_guard g(revoking_mu_);
      revoking_.erase(id);
    });
  }
}

int64_t Member::next_lease_id() {
  const uint64_t ms = uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
  const uint64_t low = ((ms << 8) + lease_seq_.fetch_add(1)) & ((uint64_t(1) << 48) - 1);
  const uint64_t id = ((member_id() & 0xffff) << 48 | low) & (uint64_t(INT64_MAX));
  return id == 0 ? 1 : int64_t(id);
}

}  // namespace outpost::server
