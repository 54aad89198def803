#include "core/server/raft_node.h"

#include <pthread.h>

#include <algorithm>
#include <random>

#include "core/common/log.h"
#include "core/common/metrics.h"
#include "core/common/panic.h"
#include "core/server/boot.h"
#include "core/server/membership.h"
#include "outpostpb/internal.pb.h"

namespace outpost::server {

Result<std::unique_ptr<RaftNode>> RaftNode::start(RaftNodeOptions opts, storage::Engine* engine,
                                                  Callbacks callbacks) {
  std::unique_ptr<RaftNode> n(new RaftNode());
  RaftNode* self = n.get();
  n->id_ = opts.id;
  n->clock_ = opts.clock ? opts.clock : &Clock::real();
  n->engine_ = engine;
  n->cb_ = std::move(callbacks);
  n->view_ =
      std::make_unique<MembershipView>(opts.id, opts.membership, opts.applied, opts.max_learners);

  auto log = storage::DurableLog::open(engine, conf_state_of(opts.membership));
  if (!log) return log.status();
  n->log_ = std::move(log.value());
  if (opts.force_new_cluster) {
    Status s =
        force_new_cluster(*n->log_, {opts.id, opts.membership, opts.applied, opts.max_learners});
    if (!s) return s;
  }

  raft::Config rc;
  rc.id = opts.id;
  rc.election_tick = opts.election_ticks;
  rc.heartbeat_tick = 1;
  rc.storage = &n->log_->storage();
  {
    // The state machine can be ahead of the log's commit only if a crash came between installing
    // a received snapshot and recording it; Raft must not be told it applied past its commit.
    raftpb::HardState hs;
    raftpb::ConfState cs;
    if (n->log_->storage().initial_state(&hs, &cs) != raft::Error::kOk)
      return Status(ErrorCode::kCorrupt, "cannot read the raft hard state");
    rc.applied =
        std::min(opts.applied, std::max(hs.commit(), n->log_->storage().first_index() - 1));
  }
  rc.check_quorum = true;
  rc.pre_vote = true;
  // Raft's own lines (elections, votes, configurations) in the member's log, as etcd's
  // "raft" logger; the library is pure and only formats them.
  rc.logger = [](raft::LogLevel level, std::string_view line) {
    switch (level) {
      case raft::LogLevel::kDebug: OUTPOST_LOG(kDebug, line, log::kv("logger", "raft")); break;
      case raft::LogLevel::kInfo: OUTPOST_LOG(kInfo, line, log::kv("logger", "raft")); break;
      case raft::LogLevel::kWarning: OUTPOST_LOG(kWarn, line, log::kv("logger", "raft")); break;
      case raft::LogLevel::kError: OUTPOST_LOG(kError, line, log::kv("logger", "raft")); break;
    }
  };
  rc.max_inflight_msgs = 512;
  rc.max_size_per_msg = 1 << 20;
  if (std::string err = rc.validate(); !err.empty())
    return Status(ErrorCode::kInternal, "invalid raft configuration: " + err);
  n->node_ = std::make_unique<raft::RawNode>(rc);
  n->last_ = n->log_->storage().last_index();
  align_config(*n->node_, conf_state_of(n->view_->view()));
  {
    // A member that is the only voter need not wait an election timeout to lead.
    const raftpb::ConfState cs = n->node_->status().conf_state;
    if (cs.voters_size() == 1 && cs.voters(0) == opts.id &&
        n->node_->campaign() != raft::Error::kOk)
      OUTPOST_LOG(kWarn, "cannot campaign as the only voter");
  }

  // Reads and calls to the leader wait at most an election timeout.
  const auto election =
      std::chrono::milliseconds(opts.heartbeat_ms * uint64_t(opts.election_ticks));
  n->reads_ = std::make_unique<ReadIndexRounds>(
      *n->clock_, election,
      opts.read_timeout_ms > 0 ? Clock::duration(std::chrono::milliseconds(opts.read_timeout_ms))
                               : Clock::duration(election),
      opts.id);
  n->calls_ = std::make_unique<LeaderCalls>(
      *n->clock_, election,
      [self](uint64_t to, transport::MessageKind kind, std::string payload) {
        return self->transport_->send(to, kind, std::move(payload));
      },
      n->cb_.call,
      [self](std::function<void()> fn) {
        self->post([&](Inbox& in) { in.tasks.push_back(std::move(fn)); });
      });
  n->snapshots_out_ = std::make_unique<SnapshotSender>(
      *engine, opts.cluster_id, opts.id, opts.snapshot_rate_limit, opts.peer_tls,
      [self](uint64_t peer, bool ok) {
        self->post([&](Inbox& in) { in.snapshot_reports.emplace_back(peer, ok); });
      });
  n->snapshots_in_ = std::make_unique<SnapshotReceiver>(*engine, opts.id);

  uv_loop_init(&n->loop_);
  transport::Options to;
  to.local_id = opts.id;
  to.cluster_id = opts.cluster_id;
  to.listen_host = opts.listen_host;
  to.listen_port = opts.listen_port;
  to.tls = opts.peer_tls;
  to.listen_tls = opts.listen_tls;
  to.clock = n->clock_;
  n->transport_ = std::make_unique<transport::Transport>(
      &n->loop_, to, [self](uint64_t from, transport::MessageKind kind, std::string payload) {
        self->on_peer_message(from, kind, std::move(payload));
      });
  n->transport_->set_on_snapshot(
      [self](uint64_t stream, uint64_t from, transport::SnapshotEvent ev, std::string payload) {
        self->on_snapshot_stream(stream, from, ev, std::move(payload));
      });
  std::string err;
  if (!n->transport_->listen(&err)) {
    n->transport_.reset();
    uv_run(&n->loop_, UV_RUN_NOWAIT);  // let the closed listener's handle be released
    uv_loop_close(&n->loop_);
    return Status(ErrorCode::kIo, err);
  }
  // Membership checks (--strict-reconfig-check) must not see a lost peer as still connected.
  n->transport_->set_on_peer_down([self](uint64_t) { self->publish_peer_state(); });
  n->transport_->set_on_query([self] {
    outpostpb::ClusterInfo c = self->view_->view();
    c.set_local_id(self->id_);
    return c.SerializeAsString();
  });
  n->port_ = n->transport_->port();
  for (const auto& m : n->view_->view().members())
    if (m.id() != opts.id) n->set_peer(m);

  uv_timer_init(&n->loop_, &n->tick_);
  n->tick_.data = self;
  uv_timer_init(&n->loop_, &n->reads_timer_);
  n->reads_timer_.data = self;
  // A random phase for the tick: members started together would otherwise tick in lockstep, and
  // two followers that drew the same randomized election timeout would campaign in the same
  // millisecond and split the vote. Out of phase, the first one's (pre-)vote reaches the other
  // before its own timer fires.
  const uint64_t phase = std::random_device{}() % std::max<uint64_t>(1, opts.heartbeat_ms);
  uv_timer_start(
      &n->tick_, [](uv_timer_t* t) { static_cast<RaftNode*>(t->data)->on_tick(); },
      opts.heartbeat_ms + phase, opts.heartbeat_ms);
  uv_async_init(&n->loop_, &n->wake_,
                [](uv_async_t* a) { static_cast<RaftNode*>(a->data)->on_wake(); });
  n->wake_.data = self;
  uv_check_init(&n->loop_, &n->check_);
  n->check_.data = self;
  uv_check_start(&n->check_,
                 [](uv_check_t* c) { static_cast<RaftNode*>(c->data)->handle_ready(); });
  n->opts_ = std::move(opts);
  n->thread_ = std::thread([self] { self->run(); });
  return n;
}

RaftNode::~RaftNode() { stop(); }

void RaftNode::stop() {
  {
    std::lock_guard l(mu_);
    if (stopped_) return;
    stopped_ = true;
    inbox_.stop = true;
  }
  // start() may have failed before the loop ran: then there is nothing to wake or close.
  if (!thread_.joinable()) return;
  uv_async_send(&wake_);
  thread_.join();
  snapshots_out_->stop();
  snapshots_in_->clear();
  uv_loop_close(&loop_);
  // Whatever was still waiting gets a definite answer.
  const Status stopped = Status::of(ErrorCode::kStopped);
  reads_->fail_all(stopped);
  calls_->fail_all(stopped);
  for (auto& [_, fn] : inbox_.proposals) fn(stopped);
  for (auto& [_, fn] : inbox_.conf_changes) fn(stopped);
  for (auto& fn : inbox_.reads) fn(stopped, 0);
  for (auto& c : inbox_.calls) c.done(stopped, {});
  inbox_.tasks.clear();  // answers to calls: the callers are answered by their own timeouts
}

void RaftNode::run() {
  pthread_setname_np(pthread_self(), "raft");
  handle_ready();
  uv_run(&loop_, UV_RUN_DEFAULT);
}

template <class Fn>
bool RaftNode::post(Fn fn) {
  {
    std::lock_guard l(mu_);
    if (stopped_) return false;
    fn(inbox_);
  }
  uv_async_send(&wake_);
  return true;
}

void RaftNode::propose(std::string data, OnDropped on_dropped) {
  if (!post([&](Inbox& in) { in.proposals.emplace_back(std::move(data), std::move(on_dropped)); }))
    on_dropped(Status::of(ErrorCode::kStopped));
}

void RaftNode::propose_conf_change(const raftpb::ConfChange& cc, OnDropped on_dropped) {
  if (!post([&](Inbox& in) { in.conf_changes.emplace_back(cc, std::move(on_dropped)); }))
    on_dropped(Status::of(ErrorCode::kStopped));
}

void RaftNode::read_index(OnRead on_read) {
  if (!post([&](Inbox& in) { in.reads.push_back(std::move(on_read)); }))
    on_read(Status::of(ErrorCode::kStopped), 0);
}

void RaftNode::call_leader(LeaderCalls::Service service, std::string payload,
                           Clock::duration timeout, CallDone done) {
  if (!post([&](Inbox& in) {
        in.calls.push_back(Inbox::Call{service, std::move(payload), timeout, std::move(done)});
      }))
    done(Status::of(ErrorCode::kStopped), {});
}

void RaftNode::compact(uint64_t applied) {
  post([&](Inbox& in) { in.compact_to = std::max(in.compact_to, applied); });
}

void RaftNode::transfer_leadership(uint64_t to) {
  post([&](Inbox& in) { in.transfer_to = to; });
}

bool RaftNode::leading() const { return node_->raft().state() == raft::StateType::kLeader; }

void RaftNode::on_wake() {
  on_inbox();
  if (!stopping_loop_) handle_ready();
}

void RaftNode::on_inbox() {
  Inbox in;
  {
    std::lock_guard l(mu_);
    std::swap(in, inbox_);
  }
  if (in.stop) {
    // Put back what was not taken so stop() can answer it, then close everything.
    std::lock_guard l(mu_);
    inbox_ = std::move(in);
    transport_->close();
    stopping_loop_ = true;
    auto close = [](auto* h) { uv_close(reinterpret_cast<uv_handle_t*>(h), nullptr); };
    close(&tick_);
    close(&reads_timer_);
    close(&wake_);
    close(&check_);
    return;
  }
  for (auto [peer, ok] : in.snapshot_reports) {
    node_->report_snapshot(peer, ok);
    snapshots_out_->reap(peer);
  }
  if (in.compact_to > 0) {
    const raftpb::ConfState cs = node_->status().conf_state;
    Status s = log_->compact(in.compact_to, cs, opts_.log_retain);
    if (!s) {
      OUTPOST_LOG(kWarn, "cannot compact raft log", log::kv("error", s.message()));
    } else {
      OUTPOST_LOG(kInfo, "compacted raft log", log::kv("snapshot-index", in.compact_to),
                  log::kv("first-index", log_->storage().first_index()));
    }
  }
  for (auto& [data, dropped] : in.proposals) {
    if (node_->propose(std::move(data)) != raft::Error::kOk && dropped)
      dropped(Status::of(ErrorCode::kNoLeader));
  }
  for (auto& [cc, dropped] : in.conf_changes) {
    Status ready = view_->check_promotion(cc, *node_);
    if (!ready) {
      if (dropped) dropped(ready);
      continue;
    }
    if (node_->propose_conf_change(cc) != raft::Error::kOk && dropped) {
      // Raft takes one conf change at a time: with a leader, the previous one is still pending.
      dropped(Status::of(leader_.load() != 0 ? ErrorCode::kTimeout : ErrorCode::kNoLeader));
    }
  }
  if (in.transfer_to != 0 && node_->transfer_leader(in.transfer_to) != raft::Error::kOk)
    OUTPOST_LOG(kInfo, "leadership transfer not started",
                log::kv_hex("transferee", in.transfer_to));
  for (auto& task : in.tasks) task();
  for (auto& c : in.calls)
    calls_->call(node_->raft().lead(), node_->raft().lead() == id_, c.service, std::move(c.payload),
                 c.timeout, std::move(c.done));
  // One ReadIndex round for every read that arrived together.
  reads_->start(*node_, std::move(in.reads));
  arm_reads_timer();
}

void RaftNode::arm_reads_timer() {
  const auto at = reads_->wake_at();
  if (!at) return;
  const auto wait = std::chrono::ceil<std::chrono::milliseconds>(*at - clock_->now());
  uv_timer_start(
      &reads_timer_,
      [](uv_timer_t* t) {
        auto* self = static_cast<RaftNode*>(t->data);
        self->reads_->poll(*self->node_);
        self->arm_reads_timer();
        self->handle_ready();
      },
      uint64_t(std::max<int64_t>(0, wait.count())), 0);
}

void RaftNode::on_tick() {
  node_->tick();
  publish_peer_state();
  reads_->expire(*node_);
  arm_reads_timer();
  calls_->expire();
  if (leading()) send_leader_state();
  messages_sent_ = transport_->stats().frames_sent;
  // At once: the check handle runs only after the loop's next poll returns, which without I/O
  // is the next tick; heartbeats and (pre-)votes a tick produces would wait that long.
  handle_ready();
}

// early: only the kinds of message a leader sends (appends, heartbeats, snapshots, read index
// answers); the rest once the write is done.
namespace {
// etcd_network_peer_round_trip_time_seconds (etcd's buckets: 0.1 ms doubling to ~3.3 s), measured
// by the leader from a heartbeat to its answer. Raft thread only: thread_local keeps one table
// per member (each has its own raft thread) without a field in the header.
thread_local std::map<uint64_t, Clock::time_point> heartbeat_sent;
void heartbeat_went(uint64_t to) { heartbeat_sent.insert_or_assign(to, Clock::real().now()); }
void heartbeat_answered(uint64_t from) {
  auto it = heartbeat_sent.find(from);
  if (it == heartbeat_sent.end()) return;
  static auto& family = metrics::default_registry().histogram(
      "etcd_network_peer_round_trip_time_seconds",
      "Round trip from a leader's heartbeat to its answer, per peer, in seconds.",
      metrics::exponential_buckets(0.0001, 2, 16), {"To"});
  thread_local std::map<uint64_t, metrics::Histogram*> children;
  metrics::Histogram*& h = children[from];
  if (!h) h = &family.labels({metrics::id_label(from)});
  h->observe(std::chrono::duration<double>(Clock::real().now() - it->second).count());
  heartbeat_sent.erase(it);
}
}  // namespace

void RaftNode::send_messages(raft::Ready& rd, bool early) {
  for (auto& m : rd.messages) {
    const auto t = m.type();
    const bool leader_kind = t == raftpb::MsgApp || t == raftpb::MsgHeartbeat ||
                             t == raftpb::MsgSnap || t == raftpb::MsgReadIndexResp;
    if (early && !leader_kind) continue;
    const uint64_t to = m.to();
    if (to == 0) continue;  // went out early
    if (t == raftpb::MsgReadIndexResp) read_index_answered_.fetch_add(1);
    if (t == raftpb::MsgHeartbeat) heartbeat_went(to);
    if (t == raftpb::MsgSnap) {
      send_snapshot(std::move(m));
    } else if (!transport_->send(to, transport::MessageKind::kRaft, m.SerializeAsString())) {
      node_->report_unreachable(to);
    }
    m.set_to(0);
  }
}

void RaftNode::handle_ready() {
  while (node_->has_ready()) {
    raft::Ready rd = node_->ready();
    // The term first: whoever sees the new leader must also see its term.
    term_ = node_->raft().term();
    leading_term_ = leading() ? node_->raft().term() : 0;
    if (rd.soft_state) {
      const uint64_t before = leader_.load();
      leader_ = rd.soft_state->lead;
      if (before != rd.soft_state->lead) {
        OUTPOST_LOG(kInfo, "raft leader changed", log::kv_hex("leader", rd.soft_state->lead),
                    log::kv("term", node_->raft().term()));
      }
    }
    // A leader's messages go out before its own write, as etcd's do: followers write the new
    // entries while the leader does, and nothing is committed on the leader's count before its
    // own write is done (the acknowledgements that commit come back in a later round). Anyone
    // else's messages may promise what this Ready persists (votes, append acknowledgements), so
    // they wait for the write (only a leader's kinds of message go early).
    if (leading()) send_messages(rd, /*early=*/true);
    Status s = log_->save(rd.hard_state, rd.entries, rd.snapshot, rd.must_sync);
    if (!s) OUTPOST_PANIC("cannot persist raft state", log::kv("error", s.message()));
    if (rd.hard_state) commit_ = rd.hard_state->commit();
    last_ = log_->storage().last_index();
    send_messages(rd, /*early=*/false);
    if (!rd.committed_entries.empty()) {
      for (const auto& e : rd.committed_entries)
        if (e.type() == raftpb::EntryConfChange) apply_peer_change(view_->on_committed(e, *node_));
      cb_.committed(rd.committed_entries);
    }
    if (!rd.read_states.empty()) {
      reads_->resolve(*node_, rd.read_states);
      arm_reads_timer();
    }
    if (rd.soft_state && cb_.leader) cb_.leader(rd.soft_state->lead, node_->raft().term());
    node_->advance();
  }
}

void RaftNode::on_peer_message(uint64_t from, transport::MessageKind kind, std::string payload) {
  if (is_removed(view_->view(), from)) return;  // a removed member has no say
  switch (kind) {
    case transport::MessageKind::kRaft: return on_raft_message(from, std::move(payload));
    case transport::MessageKind::kLeaderCall: return calls_->on_call(from, payload, leading());
    case transport::MessageKind::kLeaderCallAnswer: return calls_->on_answer(payload);
    case transport::MessageKind::kLeaderState: {
      outpostpb::LeaderState st;
      if (from == node_->raft().lead() && st.ParseFromString(payload) && cb_.leader_state)
        cb_.leader_state(st);
      return;
    }
    case transport::MessageKind::kProposalRefused: {
      outpostpb::ProposalRefused r;
      if (r.ParseFromString(payload) && cb_.refused)
        cb_.refused(r.conf_change_id(),
                    Status::of(r.reason() == outpostpb::ProposalRefused::READ_ONLY_REPLICA
                                   ? ErrorCode::kPromoteReadOnly
                                   : ErrorCode::kLearnerNotReady));
      return;
    }
  }
}

void RaftNode::on_raft_message(uint64_t from, std::string payload) {
  raftpb::Message m;
  if (!m.ParseFromString(payload) || m.from() != from) {
    OUTPOST_LOG(kWarn, "dropped undecodable raft message", log::kv_hex("peer-id", from));
    return;
  }
  if (m.type() == raftpb::MsgHeartbeatResp) heartbeat_answered(from);
  if (m.type() == raftpb::MsgProp && leading()) {
    refuse_unready_promotions(from, m);
    if (m.entries().empty()) return;
  }
  // Raft refuses what it must ignore (a message from a peer it no longer knows, a proposal it
  // cannot take); the sender retries or learns from the next round, as with a lost message.
  (void)node_->step(std::move(m));
}

void RaftNode::refuse_unready_promotions(uint64_t from, raftpb::Message& m) {
  // A follower's promotion is checked here, where the learner's progress is known.
  auto* ents = m.mutable_entries();
  for (int i = 0; i < ents->size();) {
    raftpb::ConfChange cc;
    Status ok;
    if (ents->Get(i).type() == raftpb::EntryConfChange && cc.ParseFromString(ents->Get(i).data()) &&
        !(ok = view_->check_promotion(cc, *node_))) {
      outpostpb::ProposalRefused no;
      no.set_conf_change_id(cc.id());
      no.set_reason(ok.code() == ErrorCode::kPromoteReadOnly
                        ? outpostpb::ProposalRefused::READ_ONLY_REPLICA
                        : outpostpb::ProposalRefused::LEARNER_NOT_READY);
      transport_->send(from, transport::MessageKind::kProposalRefused, no.SerializeAsString());
      ents->DeleteSubrange(i, 1);
      continue;
    }
    ++i;
  }
}

void RaftNode::reset_membership(const outpostpb::ClusterInfo& membership, uint64_t applied) {
  view_->reset(membership, applied);
  for (auto it = peers_.begin(); it != peers_.end();) {
    if (find_member(membership, it->first) == nullptr) {
      transport_->remove_peer(it->first);
      it = peers_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& m : membership.members())
    if (m.id() != id_) set_peer(m);
}

void RaftNode::apply_peer_change(const MembershipView::PeerChange& change) {
  if (change.removed != 0) {
    transport_->remove_peer(change.removed);
    peers_.erase(change.removed);
  }
  if (change.updated != nullptr) set_peer(*change.updated);
}

void RaftNode::set_peer(const outpostpb::MemberInfo& m) {
  PeerAddr addr;
  if (m.peer_urls().empty() || !split_url(m.peer_urls(0), &addr.host, &addr.port)) {
    OUTPOST_LOG(kWarn, "member has no usable peer URL", log::kv_hex("member-id", m.id()));
    return;
  }
  addr.tls = m.peer_urls(0).rfind("https://", 0) == 0;
  auto it = peers_.find(m.id());
  if (it != peers_.end() && it->second.host == addr.host && it->second.port == addr.port &&
      it->second.tls == addr.tls)
    return;
  if (it != peers_.end()) transport_->remove_peer(m.id());
  peers_[m.id()] = addr;
  transport_->add_peer(m.id(), addr.host, addr.port, addr.tls);
}

void RaftNode::publish_peer_state() {
  std::map<uint64_t, Clock::time_point> active;
  for (const auto& [id, _] : peers_)
    if (auto since = transport_->connected_since(id)) active[id] = *since;
  std::map<uint64_t, uint64_t> match;
  if (leading())
    for (const auto& [id, pr] : node_->status().progress) match[id] = pr.match;
  std::lock_guard l(active_mu_);
  active_.swap(active);
  match_.swap(match);
}

void RaftNode::send_leader_state() {
  const raft::Status status = node_->status();
  const raftpb::ConfState& cs = status.conf_state;
  if (cs.learners_size() == 0) return;
  outpostpb::LeaderState st;
  st.set_term(node_->raft().term());
  st.set_commit_index(node_->raft().log().committed());
  st.set_last_index(node_->raft().log().last_index());
  if (cb_.fill_leader_state) cb_.fill_leader_state(&st);
  for (uint64_t learner : cs.learners()) {
    auto it = status.progress.find(learner);
    st.set_match_index(it == status.progress.end() ? 0 : it->second.match);
    (void)transport_->send(learner, transport::MessageKind::kLeaderState, st.SerializeAsString());
  }
}

void RaftNode::send_snapshot(raftpb::Message m) {
  const uint64_t to = m.to();
  auto peer = peers_.find(to);
  if (peer == peers_.end()) {
    node_->report_snapshot(to, false);
    return;
  }
  // False when a stream to the peer is under way: Raft waits for its report.
  (void)snapshots_out_->send(std::move(m), peer->second.host, peer->second.port, peer->second.tls);
}

void RaftNode::on_snapshot_stream(uint64_t stream, uint64_t from, transport::SnapshotEvent ev,
                                  std::string payload) {
  auto got = snapshots_in_->on_event(stream, from, ev, std::move(payload),
                                     node_->raft().log().committed());
  if (!got || !cb_.install) return;
  // Install, then let Raft record the snapshot.
  const auto started = clock_->now();
  Status s = cb_.install(std::move(got->staged), got->msg.snapshot());
  if (!s) {
    OUTPOST_LOG(kError, "cannot install received snapshot", log::kv("error", s.message()));
    return;
  }
  OUTPOST_LOG(kInfo, "installed snapshot", log::kv_hex("from", from), log::kv("bytes", got->bytes),
              log::kv("snapshot-index", got->msg.snapshot().metadata().index()),
              log::kv("seconds", std::chrono::duration<double>(clock_->now() - started).count()));
  const uint64_t index = got->msg.snapshot().metadata().index();
  if (node_->step(std::move(got->msg)) != raft::Error::kOk)
    OUTPOST_LOG(kError, "raft refused the installed snapshot", log::kv("snapshot-index", index));
  // The snapshot's configuration is the leader's as of its compaction point; the state may be
  // further along (its membership is what the view now holds).
  align_config(*node_, conf_state_of(view_->view()));
}

}  // namespace outpost::server
