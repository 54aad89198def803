#include "core/server/member.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "core/common/log.h"
#include "core/mvcc/kv_ops.h"
#include "core/server/membership.h"

namespace outpost::server {
namespace {

// The waiting call's response when this member proposed the entry, else a scratch one: every
// member applies every entry, only the proposer answers.
template <class Resp>
Resp* response_or(google::protobuf::Message* waiting, Resp* scratch) {
  return waiting ? static_cast<Resp*>(waiting) : scratch;
}

}  // namespace

std::chrono::milliseconds Member::request_timeout() const {
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

Status Member::init() {
  auto engine = storage::Engine::open(opts_.data_dir);
  if (!engine) return engine.status();
  engine_ = std::move(engine.value());

  // Cluster identity: from disk when the member has run before, else from the flags.
  std::string raw;
  if (engine_->get_meta(kMetaCluster, &raw)) {
    if (!cluster_.ParseFromString(raw))
      return {ErrorCode::kCorrupt, "corrupt cluster record in " + opts_.data_dir};
  } else {
    if (opts_.join_existing) {
      Status s = join_cluster();
      if (!s) return s;
    } else {
      cluster_ = initial_cluster_info(opts_.initial_cluster, opts_.cluster_token, opts_.name,
                                      opts_.advertise_client_urls);
    }
    if (cluster_.local_id() == 0)
      return {ErrorCode::kInternal, "member " + opts_.name + " is not in --initial-cluster"};
    auto b = engine_->new_batch();
    b.put_meta(kMetaCluster, cluster_.SerializeAsString());
    Status s = engine_->write(b, /*sync=*/true);
    if (!s) return s;
  }
  // Client URLs may change between runs; the local member advertises what it was given now.
  for (auto& m : *cluster_.mutable_members()) {
    if (m.id() != cluster_.local_id()) continue;
    m.clear_client_urls();
    for (const auto& u : opts_.advertise_client_urls) m.add_client_urls(u);
  }
  cluster_changed();

  auto store = mvcc::Store::open(engine_.get());
  if (!store) return store.status();
  store_ = std::move(store.value());

  // etcd's smallest lease TTL: 1.5 election timeouts, rounded up to whole seconds.
  const int64_t min_ttl = int64_t((opts_.election_timeout_ms * 3 / 2 + 999) / 1000);
  lessor_ = std::make_unique<lease::Lessor>(min_ttl);
  Status s = lessor_->restore(*engine_, *store_);
  if (!s) return s;
  store_->set_lease_hook(lessor_.get());
  applied_index_ = store_->consistent_index();
  // Every member serves watches from its own store: the applier's commits feed the hub.
  watch_hub_ = std::make_unique<mvcc::WatchHub>(*store_);
  store_->set_on_commit([hub = watch_hub_.get()](int64_t rev, const std::vector<mvccpb::KeyValue>& ch) {
    hub->notify(rev, ch);
  });
  watch_hub_->start();

  RaftNodeOptions ro;
  ro.id = member_id();
  ro.cluster_id = cluster_id();
  ro.listen_host = opts_.listen_peer_host;
  ro.listen_port = opts_.listen_peer_port;
  ro.applied = applied_index_.load();
  ro.heartbeat_ms = opts_.heartbeat_ms;
  ro.election_ticks = int(std::max<uint64_t>(1, opts_.election_timeout_ms / opts_.heartbeat_ms));
  ro.snapshot_rate_limit = opts_.snapshot_rate_limit;
  snapshot_index_ = applied_index_.load();
  ro.membership = cluster_;
  ro.max_learners = opts_.max_learners;
  ro.force_new_cluster = opts_.force_new_cluster;
  if (is_removed(cluster_, member_id()))
    return {ErrorCode::kInternal, "the member has been permanently removed from the cluster"};

  next_id_ = uint64_t(std::chrono::steady_clock::now().time_since_epoch().count()) << 8;
  apply_thread_ = std::thread([this] { apply_loop(); });
  housekeeping_thread_ = std::thread([this] { housekeeping_loop(); });

  RaftNode::Callbacks cb;
  cb.committed = [this](std::vector<raftpb::Entry> ents) {
    {
      std::lock_guard l(mu_);
      for (auto& e : ents) committed_.push_back(std::move(e));
    }
    apply_cv_.notify_one();
  };
  cb.leader = [this](uint64_t leader, uint64_t term) { on_leader(leader, term); };
  cb.install = [this](std::unique_ptr<storage::Engine::Staging> staged, const raftpb::Snapshot&) {
    return install_snapshot(std::move(staged));
  };
  cb.refused = [this](uint64_t id, const Status& s) { fail_waiter(id, s); };
  // The leader answers keep-alives forwarded by the other members (renew_lease).
  cb.call = [this](const std::string& payload) {
    etcdserverpb::LeaseKeepAliveRequest req;
    etcdserverpb::LeaseKeepAliveResponse resp;
    if (!req.ParseFromString(payload)) return std::string();
    auto ttl = lessor_->renew(req.id());
    resp.set_id(req.id());
    resp.set_ttl(ttl ? ttl.value() : 0);  // 0: expired or revoked
    return resp.SerializeAsString();
  };
  auto node = RaftNode::start(ro, engine_.get(), std::move(cb));
  if (!node) return node.status();
  raft_ = std::move(node.value());

  OUTPOST_LOG(kInfo, "member started", log::kv("name", opts_.name),
              log::kv_hex("member-id", member_id()), log::kv_hex("cluster-id", cluster_id()),
              log::kv("applied-index", applied_index_.load()),
              log::kv("revision", store_->current_revision()),
              log::kv("peer-port", raft_->peer_port()));
  return Status::ok();
}

Member::~Member() { stop(); }

void Member::stop() {
  {
    std::lock_guard l(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  apply_cv_.notify_all();
  housekeeping_cv_.notify_all();
  if (raft_) raft_->stop();
  if (watch_hub_) watch_hub_->stop();
  if (housekeeping_thread_.joinable()) housekeeping_thread_.join();
  if (apply_thread_.joinable()) apply_thread_.join();
  std::map<uint64_t, Waiter> left;
  std::multimap<uint64_t, Done> reads;
  {
    std::lock_guard l(mu_);
    left.swap(waiters_);
    reads.swap(read_waiters_);
  }
  for (auto& [_, w] : left) w.done(Status::of(ErrorCode::kStopped));
  for (auto& [_, d] : reads) d(Status::of(ErrorCode::kStopped));
}

void Member::on_leader(uint64_t leader, uint64_t /*term*/) {
  if (leader != 0 && leader != last_leader_) {
    std::lock_guard l(mu_);
    lead_elected_ = std::chrono::steady_clock::now();
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
  req.set_id(next_id_.fetch_add(1));
  const uint64_t id = req.id();
  std::string data = req.SerializeAsString();
  if (data.size() > opts_.max_request_bytes) return done(Status::of(ErrorCode::kRequestTooLarge));
  if (!add_waiter(id, resp, done)) return done(Status::of(ErrorCode::kStopped));
  raft_->propose(std::move(data), [this, id](const Status& s) { fail_waiter(id, s); });
}

bool Member::add_waiter(uint64_t id, google::protobuf::Message* resp, Done& done) {
  std::lock_guard l(mu_);
  if (stopping_) return false;
  const auto now = std::chrono::steady_clock::now();
  waiters_.emplace(id, Waiter{resp, std::move(done), now + request_timeout(), now});
  return true;
}

Member::Waiter Member::take_waiter(uint64_t id) {
  std::lock_guard l(mu_);
  auto it = waiters_.find(id);
  if (id == 0 || it == waiters_.end()) return Waiter{nullptr, nullptr, {}, {}};
  Waiter w = std::move(it->second);
  waiters_.erase(it);
  return w;
}

void Member::renew_lease(int64_t id, etcdserverpb::LeaseKeepAliveResponse* resp, Done done) {
  renew_attempt({id, resp, std::move(done),
                 std::chrono::steady_clock::now() + request_timeout()});
}

void Member::renew_attempt(Renewal r) {
  etcdserverpb::LeaseKeepAliveRequest req;
  req.set_id(r.id);
  // Each attempt waits at most an election timeout (RaftNode::call_leader): long enough for a
  // live leader to answer, short enough to try again with the next one before the client
  // gives up.
  raft_->call_leader(req.SerializeAsString(),
          [this, r = std::move(r)](const Status& s, const std::string& answer) mutable {
            if (s && !r.resp->ParseFromString(answer))
              return r.done(Status::internal("undecodable keep-alive answer from the leader"));
            const bool lost = s.code() == ErrorCode::kNoLeader || s.code() == ErrorCode::kTimeout;
            const bool again = lost && std::chrono::steady_clock::now() < r.deadline;
            if (!again) return r.done(s);
            std::unique_lock l(mu_);
            if (stopping_) {
              l.unlock();
              return r.done(Status::of(ErrorCode::kStopped));
            }
            renewals_.push_back(std::move(r));  // tried again by housekeeping
          });
}

Status Member::timeout_status(std::chrono::steady_clock::time_point start) const {
  const auto window = std::chrono::milliseconds(2 * opts_.election_timeout_ms);
  if (start > lead_elected_ - window && start < lead_elected_)
    return Status::of(ErrorCode::kTimeoutLeaderFail);
  return Status::of(ErrorCode::kTimeout);
}

void Member::fail_waiter(uint64_t id, const Status& s) {
  Waiter w = take_waiter(id);
  if (w.done) w.done(s);
}

void Member::read_barrier(Done done) {
  raft_->read_index([this, done = std::move(done)](const Status& s, uint64_t index) mutable {
    if (!s) return done(s);
    {
      std::lock_guard l(mu_);
      if (applied_index_.load() < index && !stopping_) {
        read_waiters_.emplace(index, std::move(done));
        return;
      }
    }
    done(Status::ok());
  });
}

void Member::apply_loop() {
  pthread_setname_np(pthread_self(), "apply");
  std::deque<raftpb::Entry> todo;
  for (;;) {
    {
      std::unique_lock l(mu_);
      apply_cv_.wait(l, [&] { return stopping_ || !committed_.empty(); });
      if (stopping_) return;
      todo.swap(committed_);
    }
    {
      std::lock_guard a(apply_mu_);
      for (auto& e : todo) apply(e);
    }
    todo.clear();
    // Every snapshot_count entries: make the state durable, then let the log drop what is older.
    const uint64_t applied = applied_index_.load();
    if (applied >= snapshot_index_ + opts_.snapshot_count) {
      Status s = engine_->flush();
      if (s) {
        raft_->compact(applied);
        snapshot_index_ = applied;
      } else {
        OUTPOST_LOG(kWarn, "cannot flush the state machine", log::kv("error", s.message()));
      }
    }
    // Reads waiting for what was just applied may run now.
    std::vector<Done> ready;
    {
      std::lock_guard l(mu_);
      const uint64_t applied = applied_index_.load();
      auto end = read_waiters_.upper_bound(applied);
      for (auto it = read_waiters_.begin(); it != end; ++it) ready.push_back(std::move(it->second));
      read_waiters_.erase(read_waiters_.begin(), end);
    }
    for (auto& d : ready) d(Status::ok());
  }
}

void Member::apply(const raftpb::Entry& e) {
  if (e.index() <= applied_index_.load()) return;  // already in the state machine
  outpostpb::Request req;
  Waiter w{nullptr, nullptr, {}, {}};
  if (e.type() == raftpb::EntryNormal && !e.data().empty()) {
    if (!req.ParseFromString(e.data())) {
      OUTPOST_LOG(kFatal, "undecodable entry in raft log", log::kv("index", e.index()));
      std::abort();
    }
    w = take_waiter(req.id());
  }
  if (e.type() == raftpb::EntryConfChange) return apply_conf_change_entry(e);
  // Empty entries (a new leader's) only move the consistent index.
  apply_request(e.index(), req, &w);
}

void Member::apply_request(uint64_t index, const outpostpb::Request& req, Waiter* w) {
  auto leases = [this](int64_t id) { return lease_exists(id); };
  Status st;
  {
    mvcc::WriteTxn txn(*store_);
    txn.set_consistent_index(index);
    switch (req.op_case()) {
      case outpostpb::Request::kPut: {
        etcdserverpb::PutResponse scratch;
        auto* resp = response_or(w->resp, &scratch);
        st = mvcc::put(txn, req.put(), resp, leases);
        break;
      }
      case outpostpb::Request::kDeleteRange: {
        etcdserverpb::DeleteRangeResponse scratch;
        auto* resp = response_or(w->resp, &scratch);
        st = mvcc::delete_range(txn, req.delete_range(), resp);
        break;
      }
      case outpostpb::Request::kTxn: {
        etcdserverpb::TxnResponse scratch;
        auto* resp = response_or(w->resp, &scratch);
        st = mvcc::txn(txn, &txn, req.txn(), resp, leases);
        break;
      }
      case outpostpb::Request::kCompaction: {
        etcdserverpb::CompactionResponse scratch;
        auto* resp = response_or(w->resp, &scratch);
        st = mvcc::compaction(txn, req.compaction(), resp);
        break;
      }
      case outpostpb::Request::kLeaseGrant: {
        etcdserverpb::LeaseGrantResponse scratch;
        auto* resp = response_or(w->resp, &scratch);
        auto ttl = lessor_->grant(txn, req.lease_grant().id(), req.lease_grant().ttl());
        st = ttl.status();
        if (ttl) {
          resp->set_id(req.lease_grant().id());
          resp->set_ttl(ttl.value());
          resp->mutable_header()->set_revision(txn.rev());
        }
        break;
      }
      case outpostpb::Request::kLeaseRevoke: {
        etcdserverpb::LeaseRevokeResponse scratch;
        auto* resp = response_or(w->resp, &scratch);
        st = lessor_->revoke(txn, req.lease_revoke().id());
        resp->mutable_header()->set_revision(txn.rev());
        break;
      }
      case outpostpb::Request::kLeaseRenew: {
        etcdserverpb::LeaseKeepAliveResponse scratch;
        auto* resp = response_or(w->resp, &scratch);
        // Every member applies it; only the primary's renew moves a deadline.
        auto ttl = lessor_->renew(req.lease_renew().id());
        resp->set_id(req.lease_renew().id());
        resp->set_ttl(ttl ? ttl.value() : 0);
        break;
      }
      case outpostpb::Request::kMemberAttrs: {
        const auto& a = req.member_attrs();
        std::lock_guard l(cluster_mu_);
        for (auto& m : *cluster_.mutable_members()) {
          if (m.id() != a.id()) continue;
          m.set_name(a.name());
          *m.mutable_client_urls() = a.client_urls();
        }
        txn.put_meta(kMetaCluster, cluster_.SerializeAsString());
        break;
      }
      case outpostpb::Request::OP_NOT_SET:
        break;
    }
    Status committed = txn.end();
    if (!committed) {
      // The in-memory index is ahead of the disk now; the only safe way on is a restart, which
      // gets the entries again from the Raft log.
      OUTPOST_LOG(kFatal, "failed to commit applied entry", log::kv("index", index),
                  log::kv("error", committed.message()));
      std::abort();
    }
  }
  applied_index_ = index;
  if (w->done) w->done(st);
}

Status Member::install_snapshot(std::unique_ptr<storage::Engine::Staging> staged) {
  std::lock_guard a(apply_mu_);
  Status s = store_->replace_state([&] { return engine_->install_staged(std::move(staged)); });
  if (!s) {
    // The old state may be closed already; a restart goes back to it (Engine::open).
    OUTPOST_LOG(kFatal, "failed to install snapshot", log::kv("error", s.message()));
    std::abort();
  }
  s = lessor_->restore(*engine_, *store_);
  if (!s) return s;
  std::string raw;
  outpostpb::ClusterInfo info;
  if (engine_->get_meta(kMetaCluster, &raw) && info.ParseFromString(raw)) {
    // The record came from the leader: it names the leader as the local member.
    info.set_local_id(member_id());
    auto b = engine_->new_batch();
    b.put_meta(kMetaCluster, info.SerializeAsString());
    s = engine_->write(b, /*sync=*/true);
    if (!s) return s;
    {
      std::lock_guard l(cluster_mu_);
      cluster_ = info;
      cluster_changed();
    }
    if (raft_) raft_->reset_membership(info, store_->consistent_index());
  }
  applied_index_ = store_->consistent_index();
  snapshot_index_ = applied_index_.load();
  watch_hub_->resync_all();
  return Status::ok();
}

void Member::maybe_publish() {
  if (published_ || publishing_ || leader_id() == 0) return;
  publishing_ = true;
  outpostpb::Request r;
  auto* a = r.mutable_member_attrs();
  a->set_id(member_id());
  a->set_name(opts_.name);
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

int64_t Member::next_lease_id() {
  const uint64_t ms = uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
  const uint64_t low = ((ms << 8) + lease_seq_.fetch_add(1)) & ((uint64_t(1) << 48) - 1);
  const uint64_t id = ((member_id() & 0xffff) << 48 | low) & (uint64_t(INT64_MAX));
  return id == 0 ? 1 : int64_t(id);
}

void Member::housekeeping_loop() {
  pthread_setname_np(pthread_self(), "housekeeping");
  std::unique_lock l(mu_);
  while (!stopping_) {
    housekeeping_cv_.wait_for(l, std::chrono::milliseconds(100));
    if (stopping_) return;
    // Requests whose entries never came back (lost with a leader, or stuck without quorum).
    const auto now = std::chrono::steady_clock::now();
    std::vector<std::pair<Waiter, Status>> expired;
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (it->second.deadline > now) {
        ++it;
        continue;
      }
      Status why = timeout_status(it->second.start);
      expired.emplace_back(std::move(it->second), std::move(why));
      it = waiters_.erase(it);
    }
    std::vector<Renewal> renewals;
    renewals.swap(renewals_);
    l.unlock();
    for (auto& [w, why] : expired) w.done(why);
    for (auto& r : renewals) renew_attempt(std::move(r));
    maybe_publish();
    // Removals of the leader waiting for leadership to move (or for the transfer to time out).
    std::vector<PendingRemoval> due;
    {
      std::lock_guard g(mu_);
      const uint64_t leader = leader_id();
      for (auto it = pending_removals_.begin(); it != pending_removals_.end();) {
        if ((leader != 0 && leader != it->id) || it->deadline <= now) {
          due.push_back(std::move(*it));
          it = pending_removals_.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (auto& r : due) {
      raftpb::ConfChange cc;
      cc.set_type(raftpb::ConfChangeRemoveNode);
      cc.set_node_id(r.id);
      propose_conf_change(std::move(cc), std::move(r.done));
    }
    // The leader revokes expired leases through the log.
    for (int64_t id : lessor_->expired(1000)) {
      {
        std::lock_guard g(mu_);
        if (!revoking_.insert(id).second) continue;
      }
      OUTPOST_LOG(kInfo, "lease expired; revoking", log::kv_hex("lease-id", uint64_t(id)));
      outpostpb::Request r;
      r.mutable_lease_revoke()->set_id(id);
      auto* resp = new etcdserverpb::LeaseRevokeResponse;
      propose(std::move(r), resp, [this, id, resp](const Status&) {
        delete resp;
        std::lock_guard g(mu_);
        revoking_.erase(id);
      });
    }
    l.lock();
  }
}

}  // namespace outpost::server
