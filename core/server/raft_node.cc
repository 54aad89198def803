#include "core/server/raft_node.h"

#include <pthread.h>

#include <algorithm>
#include <cstdlib>
#include <random>

#include "core/common/log.h"
#include "core/server/membership.h"

namespace outpost::server {
namespace {

void fatal(const char* what, const Status& s) {
  OUTPOST_LOG(kFatal, what, log::kv("error", s.message()));
  std::abort();
}

}  // namespace

namespace {

// Brings Raft's configuration in line with `want` (the membership the state machine holds).
void align_config(raft::RawNode& node, const raftpb::ConfState& want) {
  const raftpb::ConfState have = node.status().conf_state;
  auto in = [](const auto& ids, uint64_t id) {
    return std::find(ids.begin(), ids.end(), id) != ids.end();
  };
  auto change = [&](raftpb::ConfChangeType t, uint64_t id) {
    raftpb::ConfChange cc;
    cc.set_type(t);
    cc.set_node_id(id);
    node.apply_conf_change(cc);
  };
  for (const auto& ids : {have.voters(), have.learners()})
    for (uint64_t id : ids)
      if (!in(want.voters(), id) && !in(want.learners(), id)) change(raftpb::ConfChangeRemoveNode, id);
  for (uint64_t id : want.learners())
    if (!in(have.learners(), id) && !in(have.voters(), id)) change(raftpb::ConfChangeAddLearnerNode, id);
  for (uint64_t id : want.voters())
    if (!in(have.voters(), id)) change(raftpb::ConfChangeAddNode, id);
}

// etcd's --force-new-cluster: entries after the commit index are dropped, and the removal of every
// other member (as of the last committed entry) is appended and marked committed, so the member
// leads a cluster of one once it has applied them.
Status force_new_cluster(storage::DurableLog& log, const RaftNodeOptions& opts) {
  raftpb::HardState hs;
  raftpb::ConfState cs;
  log.storage().initial_state(&hs, &cs);
  const uint64_t first = log.storage().first_index();
  const uint64_t commit = std::max(hs.commit(), first - 1);
  outpostpb::ClusterInfo fin = opts.membership;
  if (commit > opts.applied) {
    std::vector<raftpb::Entry> ents;
    const uint64_t lo = std::max(opts.applied + 1, first);
    if (lo <= commit &&
        log.storage().entries(lo, commit + 1, UINT64_MAX, &ents) != raft::Error::kOk)
      return Status(ErrorCode::kCorrupt, "force-new-cluster: cannot read the raft log");
    for (const auto& e : ents) {
      raftpb::ConfChange cc;
      outpostpb::ConfChangeContext ctx;
      if (e.type() != raftpb::EntryConfChange || !cc.ParseFromString(e.data()) ||
          !ctx.ParseFromString(cc.context()))
        continue;
      if (validate_conf_change(fin, cc, ctx, opts.max_learners)) apply_conf_change(&fin, cc, ctx);
    }
  }
  uint64_t term = hs.term();
  uint64_t last_term = 0;
  if (log.storage().term(commit, &last_term) == raft::Error::kOk) term = std::max(term, last_term);
  std::vector<raftpb::Entry> add;
  auto append = [&](raftpb::EntryType type, std::string data) {
    raftpb::Entry e;
    e.set_type(type);
    e.set_term(term);
    e.set_index(commit + 1 + add.size());
    e.set_data(std::move(data));
    add.push_back(std::move(e));
  };
  for (const auto& m : fin.members()) {
    raftpb::ConfChange cc;
    if (m.id() == opts.id) {
      if (!m.is_learner()) continue;
      outpostpb::ConfChangeContext ctx;
      *ctx.mutable_member() = m;
      ctx.set_is_promote(true);
      cc.set_type(raftpb::ConfChangeAddNode);
      cc.set_context(ctx.SerializeAsString());
    } else {
      cc.set_type(raftpb::ConfChangeRemoveNode);
    }
    cc.set_node_id(m.id());
    append(raftpb::EntryConfChange, cc.SerializeAsString());
  }
  // Uncommitted entries are dropped even when there is nobody to remove.
  if (add.empty() && log.storage().last_index() > commit) append(raftpb::EntryNormal, "");
  if (add.empty()) return Status::ok();
  hs.set_term(term);
  hs.set_commit(add.back().index());
  OUTPOST_LOG(kWarn, "forcing a new cluster: discarding uncommitted entries, removing every other member",
              log::kv("commit-index", commit), log::kv("discarded", log.storage().last_index() - commit),
              log::kv("removed", fin.members_size() - 1));
  return log.save(hs, add, std::nullopt, /*sync=*/true);
}

}  // namespace

Result<std::unique_ptr<RaftNode>> RaftNode::start(RaftNodeOptions opts, storage::Engine* engine,
                                                  Callbacks callbacks) {
  std::unique_ptr<RaftNode> n(new RaftNode());
  n->id_ = opts.id;
  n->engine_ = engine;
  n->cb_ = std::move(callbacks);
  n->view_ = opts.membership;
  n->view_index_ = opts.applied;

  auto log = storage::DurableLog::open(engine, conf_state_of(opts.membership));
  if (!log) return log.status();
  n->log_ = std::move(log.value());
  if (opts.force_new_cluster) {
    Status s = force_new_cluster(*n->log_, opts);
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
    n->log_->storage().initial_state(&hs, &cs);
    rc.applied = std::min(opts.applied, std::max(hs.commit(), n->log_->storage().first_index() - 1));
  }
  rc.check_quorum = true;
  rc.pre_vote = true;
  rc.max_inflight_msgs = 512;
  rc.max_size_per_msg = 1 << 20;
  if (std::string err = rc.validate(); !err.empty())
    return Status(ErrorCode::kInternal, "invalid raft configuration: " + err);
  n->node_ = std::make_unique<raft::RawNode>(rc);
  n->last_ = n->log_->storage().last_index();
  align_config(*n->node_, conf_state_of(n->view_));
  {
    // A member that is the only voter need not wait an election timeout to lead.
    const raftpb::ConfState cs = n->node_->status().conf_state;
    if (cs.voters_size() == 1 && cs.voters(0) == opts.id) n->node_->campaign();
  }

  uv_loop_init(&n->loop_);
  transport::Options to;
  to.local_id = opts.id;
  to.cluster_id = opts.cluster_id;
  to.listen_host = opts.listen_host;
  to.listen_port = opts.listen_port;
  RaftNode* self = n.get();
  n->transport_ = std::make_unique<transport::Transport>(
      &n->loop_, to,
      [self](uint64_t from, std::string payload) { self->on_peer_message(from, std::move(payload)); });
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
    outpostpb::ClusterInfo c = self->view_;
    c.set_local_id(self->id_);
    return c.SerializeAsString();
  });
  n->port_ = n->transport_->port();
  for (const auto& m : n->view_.members())
    if (m.id() != opts.id) n->set_peer(m);

  uv_timer_init(&n->loop_, &n->tick_);
  n->tick_.data = self;
  // A random phase for the tick: members started together would otherwise tick in lockstep, and
  // two followers that drew the same randomized election timeout would campaign in the same
  // millisecond and split the vote. Out of phase, the first one's (pre-)vote reaches the other
  // before its own timer fires.
  const uint64_t phase = std::random_device{}() % std::max<uint64_t>(1, opts.heartbeat_ms);
  uv_timer_start(&n->tick_, [](uv_timer_t* t) { static_cast<RaftNode*>(t->data)->on_tick(); },
                 opts.heartbeat_ms + phase, opts.heartbeat_ms);
  uv_async_init(&n->loop_, &n->wake_, [](uv_async_t* a) { static_cast<RaftNode*>(a->data)->on_wake(); });
  n->wake_.data = self;
  uv_check_init(&n->loop_, &n->check_);
  n->check_.data = self;
  uv_check_start(&n->check_, [](uv_check_t* c) { static_cast<RaftNode*>(c->data)->handle_ready(); });
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
  cancel_snapshots_ = true;
  {
    std::lock_guard l(snap_mu_);
    for (auto& [_, t] : senders_)
      if (t.joinable()) t.join();
    senders_.clear();
  }
  incoming_.clear();
  uv_loop_close(&loop_);
  // Whatever was still waiting gets a definite answer.
  for (auto& [_, pr] : reads_)
    for (auto& fn : pr.waiters) fn(Status::of(ErrorCode::kStopped), 0);
  reads_.clear();
  for (auto& [_, fn] : inbox_.proposals) fn(Status::of(ErrorCode::kStopped));
  for (auto& [_, fn] : inbox_.conf_changes) fn(Status::of(ErrorCode::kStopped));
  for (auto& fn : inbox_.reads) fn(Status::of(ErrorCode::kStopped), 0);
  for (auto& [_, c] : calls_) c.done(Status::of(ErrorCode::kStopped), {});
  calls_.clear();
  for (auto& [_, done] : inbox_.calls) done(Status::of(ErrorCode::kStopped), {});
}

void RaftNode::run() {
  pthread_setname_np(pthread_self(), "raft");
  handle_ready();
  uv_run(&loop_, UV_RUN_DEFAULT);
}

void RaftNode::propose(std::string data, OnDropped on_dropped) {
  {
    std::lock_guard l(mu_);
    if (!stopped_) {
      inbox_.proposals.emplace_back(std::move(data), std::move(on_dropped));
      on_dropped = nullptr;
    }
  }
  if (on_dropped) return on_dropped(Status::of(ErrorCode::kStopped));
  uv_async_send(&wake_);
}

void RaftNode::propose_conf_change(const raftpb::ConfChange& cc, OnDropped on_dropped) {
  {
    std::lock_guard l(mu_);
    if (!stopped_) {
      inbox_.conf_changes.emplace_back(cc, std::move(on_dropped));
      on_dropped = nullptr;
    }
  }
  if (on_dropped) return on_dropped(Status::of(ErrorCode::kStopped));
  uv_async_send(&wake_);
}

void RaftNode::read_index(OnRead on_read) {
  {
    std::lock_guard l(mu_);
    if (!stopped_) {
      inbox_.reads.push_back(std::move(on_read));
      on_read = nullptr;
    }
  }
  if (on_read) return on_read(Status::of(ErrorCode::kStopped), 0);
  uv_async_send(&wake_);
}

void RaftNode::call_leader(std::string payload, CallDone done) {
  {
    std::lock_guard l(mu_);
    if (!stopped_) {
      inbox_.calls.emplace_back(std::move(payload), std::move(done));
      done = nullptr;
    }
  }
  if (done) return done(Status::of(ErrorCode::kStopped), {});
  uv_async_send(&wake_);
}

void RaftNode::start_call(std::string payload, CallDone done) {
  const uint64_t leader = node_->raft().lead();
  if (leader == 0) return done(Status::of(ErrorCode::kNoLeader), {});
  if (leader == id_) {
    if (!cb_.call) return done(Status::of(ErrorCode::kNoLeader), {});
    return done(Status::ok(), cb_.call(payload));
  }
  const uint64_t id = ++call_seq_;
  raftpb::Message m;
  m.set_type(raftpb::MsgLeaderCall);
  m.set_to(leader);
  m.set_from(id_);
  m.set_index(id);
  m.set_context(std::move(payload));
  if (!transport_->send(leader, m.SerializeAsString()))
    return done(Status::of(ErrorCode::kNoLeader), {});
  calls_[id] = PendingCall{std::move(done), std::chrono::steady_clock::now()};
}

void RaftNode::fail_old_calls() {
  const auto limit = std::chrono::milliseconds(opts_.heartbeat_ms * uint64_t(opts_.election_ticks));
  const auto now = std::chrono::steady_clock::now();
  for (auto it = calls_.begin(); it != calls_.end();) {
    if (now - it->second.since < limit) {
      ++it;
      continue;
    }
    auto done = std::move(it->second.done);
    it = calls_.erase(it);
    done(Status::of(ErrorCode::kTimeout), {});
  }
}

void RaftNode::compact(uint64_t applied) {
  {
    std::lock_guard l(mu_);
    if (stopped_) return;
    inbox_.compact_to = std::max(inbox_.compact_to, applied);
  }
  uv_async_send(&wake_);
}

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
    close(&wake_);
    close(&check_);
    return;
  }
  for (auto [peer, ok] : in.snapshot_reports) {
    node_->report_snapshot(peer, ok);
    std::lock_guard l(snap_mu_);
    auto it = senders_.find(peer);
    if (it != senders_.end() && it->second.joinable()) it->second.join();
    senders_.erase(peer);
  }
  if (in.compact_to > 0) {
    const raftpb::ConfState cs = node_->status().conf_state;
    Status s = log_->compact(in.compact_to, cs, opts_.log_retain);
    if (!s) OUTPOST_LOG(kWarn, "cannot compact raft log", log::kv("error", s.message()));
    else OUTPOST_LOG(kInfo, "compacted raft log", log::kv("snapshot-index", in.compact_to),
                     log::kv("first-index", log_->storage().first_index()));
  }
  for (auto& [data, dropped] : in.proposals) {
    if (node_->propose(std::move(data)) != raft::Error::kOk && dropped)
      dropped(Status::of(ErrorCode::kNoLeader));
  }
  for (auto& [cc, dropped] : in.conf_changes) {
    Status ready = check_promotion(cc);
    if (!ready) {
      if (dropped) dropped(ready);
      continue;
    }
    if (node_->propose_conf_change(cc) != raft::Error::kOk && dropped) {
      // Raft takes one conf change at a time: with a leader, the previous one is still pending.
      dropped(Status::of(leader_.load() != 0 ? ErrorCode::kTimeout : ErrorCode::kNoLeader));
    }
  }
  if (in.transfer_to != 0) node_->transfer_leader(in.transfer_to);
  for (auto& [payload, done] : in.calls) start_call(std::move(payload), std::move(done));
  if (!in.reads.empty()) {
    // One ReadIndex round for every read that arrived together.
    std::string ctx = std::to_string(id_) + "/" + std::to_string(++read_seq_);
    PendingRead& pr = reads_[ctx];
    pr.waiters = std::move(in.reads);
    pr.since = std::chrono::steady_clock::now();
    if (node_->read_index(ctx) != raft::Error::kOk) {
      for (auto& fn : pr.waiters) fn(Status::of(ErrorCode::kNoLeader), 0);
      reads_.erase(ctx);
    }
  }
}

void RaftNode::transfer_leadership(uint64_t to) {
  {
    std::lock_guard l(mu_);
    if (stopped_) return;
    inbox_.transfer_to = to;
  }
  uv_async_send(&wake_);
}

void RaftNode::on_tick() {
  node_->tick();
  publish_peer_state();
  fail_old_reads();
  fail_old_calls();
  // At once: the check handle runs only after the loop's next poll returns, which without I/O
  // is the next tick; heartbeats and (pre-)votes a tick produces would wait that long.
  handle_ready();
}

void RaftNode::fail_old_reads() {
  const auto limit = std::chrono::milliseconds(opts_.heartbeat_ms * uint64_t(opts_.election_ticks));
  const auto now = std::chrono::steady_clock::now();
  for (auto it = reads_.begin(); it != reads_.end();) {
    if (now - it->second.since < limit) {
      ++it;
      continue;
    }
    for (auto& fn : it->second.waiters) fn(Status::of(ErrorCode::kTimeout), 0);
    it = reads_.erase(it);
  }
}

void RaftNode::resolve_reads(const std::vector<raft::ReadState>& rs) {
  for (const auto& r : rs) {
    auto it = reads_.find(r.request_ctx);
    if (it == reads_.end()) continue;
    for (auto& fn : it->second.waiters) fn(Status::ok(), r.index);
    reads_.erase(it);
  }
}

void RaftNode::handle_ready() {
  while (node_->has_ready()) {
    raft::Ready rd = node_->ready();
    // The term first: whoever sees the new leader must also see its term.
    term_ = node_->raft().term();
    if (rd.soft_state) {
      const uint64_t before = leader_.load();
      leader_ = rd.soft_state->lead;
      if (before != rd.soft_state->lead) {
        OUTPOST_LOG(kInfo, "raft leader changed", log::kv_hex("leader", rd.soft_state->lead),
                    log::kv("term", node_->raft().term()));
      }
    }
    // early: only the kinds of message a leader sends (appends, heartbeats, snapshots, read
    // index answers); the rest once the write is done.
    auto send_messages = [&](bool early) {
      for (auto& m : rd.messages) {
        const auto t = m.type();
        const bool leader_kind = t == raftpb::MsgApp || t == raftpb::MsgHeartbeat ||
                                 t == raftpb::MsgSnap || t == raftpb::MsgReadIndexResp;
        if (early && !leader_kind) continue;
        const uint64_t to = m.to();
        if (to == 0) continue;  // went out early
        if (t == raftpb::MsgSnap) {
          send_snapshot(std::move(m));
        } else if (!transport_->send(to, m.SerializeAsString())) {
          node_->report_unreachable(to);
        }
        m.set_to(0);
      }
    };
    // A leader's messages go out before its own write, as etcd's do: followers write the new
    // entries while the leader does, and nothing is committed on the leader's count before its
    // own write is done (the acknowledgements that commit come back in a later round). Anyone
    // else's messages may promise what this Ready persists (votes, append acknowledgements), so
    // they wait for the write (only a leader's kinds of message go early).
    if (node_->raft().state() == raft::StateType::kLeader) send_messages(/*early=*/true);
    Status s = log_->save(rd.hard_state, rd.entries, rd.snapshot, rd.must_sync);
    if (!s) fatal("cannot persist raft state", s);
    if (rd.hard_state) commit_ = rd.hard_state->commit();
    last_ = log_->storage().last_index();
    send_messages(/*early=*/false);
    if (!rd.committed_entries.empty()) {
      for (const auto& e : rd.committed_entries)
        if (e.type() == raftpb::EntryConfChange) on_conf_change_committed(e);
      cb_.committed(rd.committed_entries);
    }
    if (!rd.read_states.empty()) resolve_reads(rd.read_states);
    if (rd.soft_state && cb_.leader) cb_.leader(rd.soft_state->lead, node_->raft().term());
    node_->advance();
  }
}

void RaftNode::on_peer_message(uint64_t from, std::string payload) {
  raftpb::Message m;
  if (!m.ParseFromString(payload) || m.from() != from) {
    OUTPOST_LOG(kWarn, "dropped undecodable raft message", log::kv_hex("peer-id", from));
    return;
  }
  if (is_removed(view_, from)) return;  // a removed member has no say
  if (m.type() == raftpb::MsgLeaderCall) {
    raftpb::Message resp;
    resp.set_type(raftpb::MsgLeaderCallResp);
    resp.set_to(from);
    resp.set_from(id_);
    resp.set_index(m.index());
    if (node_->raft().state() == raft::StateType::kLeader && cb_.call) {
      resp.set_context(cb_.call(m.context()));
    } else {
      resp.set_reject(true);  // not (or no longer) the leader: the caller tries again
    }
    transport_->send(from, resp.SerializeAsString());
    return;
  }
  if (m.type() == raftpb::MsgLeaderCallResp) {
    auto it = calls_.find(m.index());
    if (it == calls_.end()) return;  // timed out already
    auto done = std::move(it->second.done);
    calls_.erase(it);
    if (m.reject()) return done(Status::of(ErrorCode::kNoLeader), {});
    return done(Status::ok(), std::move(*m.mutable_context()));
  }
  if (m.type() == raftpb::MsgPropRefused) {
    if (cb_.refused) cb_.refused(m.index(), Status::of(ErrorCode::kLearnerNotReady));
    return;
  }
  if (m.type() == raftpb::MsgProp && node_->raft().state() == raft::StateType::kLeader) {
    // A follower's promotion is checked here, where the learner's progress is known.
    auto* ents = m.mutable_entries();
    for (int i = 0; i < ents->size();) {
      raftpb::ConfChange cc;
      if (ents->Get(i).type() == raftpb::EntryConfChange && cc.ParseFromString(ents->Get(i).data()) &&
          !check_promotion(cc)) {
        raftpb::Message no;
        no.set_type(raftpb::MsgPropRefused);
        no.set_to(from);
        no.set_from(id_);
        no.set_index(cc.id());
        no.set_reject(true);
        no.set_reject_hint(1);
        transport_->send(from, no.SerializeAsString());
        ents->DeleteSubrange(i, 1);
        continue;
      }
      ++i;
    }
    if (ents->empty()) return;
  }
  node_->step(std::move(m));
}

Status RaftNode::check_promotion(const raftpb::ConfChange& cc) {
  if (cc.type() != raftpb::ConfChangeAddNode) return Status::ok();
  outpostpb::ConfChangeContext ctx;
  if (!ctx.ParseFromString(cc.context()) || !ctx.is_promote()) return Status::ok();
  const raft::Status st = node_->status();
  if (st.progress.empty()) return Status::ok();  // not the leader: Raft forwards it there
  auto learner = st.progress.find(cc.node_id());
  auto self = st.progress.find(id_);
  if (learner == st.progress.end() || self == st.progress.end()) return Status::ok();
  // etcd's rule: the learner's match index must be at least 90% of the leader's.
  if (double(learner->second.match) < double(self->second.match) * 0.9) {
    OUTPOST_LOG(kWarn, "rejecting member promote request; learner is not in sync with leader",
                log::kv_hex("learner-id", cc.node_id()), log::kv("learner-match", learner->second.match),
                log::kv("leader-match", self->second.match));
    return Status::of(ErrorCode::kLearnerNotReady);
  }
  return Status::ok();
}

void RaftNode::on_conf_change_committed(const raftpb::Entry& e) {
  if (e.index() <= view_index_) return;  // in the installed state already (reset_membership)
  raftpb::ConfChange cc;
  outpostpb::ConfChangeContext ctx;
  if (!cc.ParseFromString(e.data()) || !ctx.ParseFromString(cc.context())) {
    OUTPOST_LOG(kError, "undecodable conf change entry", log::kv("index", e.index()));
    return;
  }
  Status valid = validate_conf_change(view_, cc, ctx, opts_.max_learners);
  if (!valid) {
    // Every member reaches the same verdict; Raft records a change that changes nothing.
    raftpb::ConfChange none = cc;
    none.set_node_id(0);
    node_->apply_conf_change(none);
    OUTPOST_LOG(kInfo, "ignored invalid conf change", log::kv("index", e.index()),
                log::kv_hex("member-id", cc.node_id()), log::kv("reason", valid.message()));
    return;
  }
  server::apply_conf_change(&view_, cc, ctx);
  const raftpb::ConfState cs = node_->apply_conf_change(cc);
  const uint64_t id = cc.node_id();
  if (id != id_) {
    if (cc.type() == raftpb::ConfChangeRemoveNode) {
      transport_->remove_peer(id);
      peers_.erase(id);
    } else if (const auto* m = find_member(view_, id)) {
      set_peer(*m);
    }
  }
  static const char* const kinds[] = {"add-voter", "remove", "update", "add-learner"};
  OUTPOST_LOG(kInfo, "applied conf change", log::kv("index", e.index()),
              log::kv("type", ctx.is_promote() ? "promote" : kinds[int(cc.type()) & 3]),
              log::kv_hex("member-id", id), log::kv("voters", cs.voters_size()),
              log::kv("learners", cs.learners_size()));
  // Left as the only voter (force-new-cluster, or the others removed): no one else can elect us.
  if (cs.voters_size() == 1 && cs.voters(0) == id_ &&
      node_->raft().state() != raft::StateType::kLeader)
    node_->campaign();
}

void RaftNode::reset_membership(const outpostpb::ClusterInfo& membership, uint64_t applied) {
  view_ = membership;
  view_index_ = applied;
  for (auto it = peers_.begin(); it != peers_.end();) {
    if (find_member(view_, it->first) == nullptr) {
      transport_->remove_peer(it->first);
      it = peers_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& m : view_.members())
    if (m.id() != id_) set_peer(m);
}

void RaftNode::set_peer(const outpostpb::MemberInfo& m) {
  PeerAddr addr;
  if (m.peer_urls().empty() || !split_url(m.peer_urls(0), &addr.host, &addr.port)) {
    OUTPOST_LOG(kWarn, "member has no usable peer URL", log::kv_hex("member-id", m.id()));
    return;
  }
  auto it = peers_.find(m.id());
  if (it != peers_.end() && it->second.host == addr.host && it->second.port == addr.port) return;
  if (it != peers_.end()) transport_->remove_peer(m.id());
  peers_[m.id()] = addr;
  transport_->add_peer(m.id(), addr.host, addr.port);
}

void RaftNode::publish_peer_state() {
  std::map<uint64_t, std::chrono::steady_clock::time_point> active;
  for (const auto& [id, _] : peers_)
    if (auto since = transport_->connected_since(id)) active[id] = *since;
  std::map<uint64_t, uint64_t> match;
  if (node_->raft().state() == raft::StateType::kLeader)
    for (const auto& [id, pr] : node_->status().progress) match[id] = pr.match;
  std::lock_guard l(active_mu_);
  active_.swap(active);
  match_.swap(match);
}

}  // namespace outpost::server

namespace outpost::server {

namespace {
// A state record in a snapshot chunk: cf (1) | key length (4) | key | value length (4) | value.
void put_record(std::string& out, int cf, std::string_view k, std::string_view v) {
  auto u32 = [&](size_t n) {
    for (int i = 3; i >= 0; --i) out.push_back(char((n >> (8 * i)) & 0xff));
  };
  out.push_back(char(cf));
  u32(k.size());
  out.append(k);
  u32(v.size());
  out.append(v);
}

bool next_record(std::string_view& in, int* cf, std::string_view* k, std::string_view* v) {
  auto u32 = [&](size_t* n) {
    if (in.size() < 4) return false;
    *n = (size_t(uint8_t(in[0])) << 24) | (size_t(uint8_t(in[1])) << 16) |
         (size_t(uint8_t(in[2])) << 8) | uint8_t(in[3]);
    in.remove_prefix(4);
    return true;
  };
  if (in.empty()) return false;
  *cf = uint8_t(in[0]);
  in.remove_prefix(1);
  size_t n = 0;
  if (!u32(&n) || in.size() < n) return false;
  *k = in.substr(0, n);
  in.remove_prefix(n);
  if (!u32(&n) || in.size() < n) return false;
  *v = in.substr(0, n);
  in.remove_prefix(n);
  return true;
}

constexpr size_t kChunkBytes = 1 << 20;
}  // namespace

void RaftNode::send_snapshot(raftpb::Message m) {
  const uint64_t to = m.to();
  auto peer = peers_.find(to);
  std::lock_guard l(snap_mu_);
  if (peer == peers_.end() || senders_.count(to)) {
    // Unknown peer, or a stream to it is already under way (Raft waits for its report).
    if (peer == peers_.end()) node_->report_snapshot(to, false);
    return;
  }
  const PeerAddr addr = peer->second;
  senders_[to] = std::thread([this, m = std::move(m), addr, to] {
    pthread_setname_np(pthread_self(), "snap-send");
    const auto started = std::chrono::steady_clock::now();
    uint64_t bytes = 0, records = 0, next_log = 64ull << 20;
    OUTPOST_LOG(kInfo, "sending snapshot", log::kv_hex("to", to),
                log::kv("snapshot-index", m.snapshot().metadata().index()));
    Status s = transport::Transport::send_snapshot(
        addr.host, addr.port, opts_.cluster_id, id_,
        [&](const transport::Transport::Emit& emit) -> Status {
          if (!emit(m.SerializeAsString())) return Status::io("snapshot stream broke");
          std::string chunk;
          bool ok = true;
          Status scan = engine_->scan_state([&](int cf, std::string_view k, std::string_view v) {
            put_record(chunk, cf, k, v);
            ++records;
            if (chunk.size() < kChunkBytes) return true;
            bytes += chunk.size();
            ok = emit(chunk);
            chunk.clear();
            if (bytes >= next_log) {
              OUTPOST_LOG(kInfo, "sending snapshot: progress", log::kv_hex("to", to),
                          log::kv("sent-bytes", bytes), log::kv("records", records));
              next_log += 64ull << 20;
            }
            return ok;
          });
          if (!scan) return scan;
          bytes += chunk.size();
          if (ok && !chunk.empty()) ok = emit(chunk);
          return ok ? Status::ok() : Status::io("snapshot stream broke");
        },
        opts_.snapshot_rate_limit, cancel_snapshots_);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (s) {
      OUTPOST_LOG(kInfo, "sent snapshot", log::kv_hex("to", to), log::kv("bytes", bytes),
                  log::kv("records", records), log::kv("seconds", secs));
    } else {
      OUTPOST_LOG(kWarn, "failed to send snapshot", log::kv_hex("to", to),
                  log::kv("error", s.message()));
    }
    {
      std::lock_guard l2(mu_);
      if (stopped_) return;
      inbox_.snapshot_reports.emplace_back(to, s.is_ok());
    }
    uv_async_send(&wake_);
  });
}

void RaftNode::on_snapshot_stream(uint64_t stream, uint64_t from, transport::SnapshotEvent ev,
                                  std::string payload) {
  using transport::SnapshotEvent;
  if (ev == SnapshotEvent::kAbort) {
    if (incoming_.erase(stream))
      OUTPOST_LOG(kWarn, "snapshot stream broke off", log::kv_hex("from", from));
    return;
  }
  auto it = incoming_.find(stream);
  if (it == incoming_.end()) {
    // The first chunk is the MsgSnap itself.
    Incoming in;
    in.from = from;
    if (ev != SnapshotEvent::kData || !in.msg.ParseFromString(payload) ||
        in.msg.type() != raftpb::MsgSnap) {
      OUTPOST_LOG(kWarn, "dropped a malformed snapshot stream", log::kv_hex("from", from));
      in.ignore = true;
    } else if (in.msg.snapshot().metadata().index() <= node_->raft().log().committed()) {
      in.ignore = true;  // nothing we do not have already
    } else {
      auto staged = engine_->begin_staging();
      if (!staged) {
        OUTPOST_LOG(kError, "cannot stage a snapshot", log::kv("error", staged.status().message()));
        in.ignore = true;
      } else {
        in.staged = std::move(staged.value());
        OUTPOST_LOG(kInfo, "receiving snapshot", log::kv_hex("from", from),
                    log::kv("snapshot-index", in.msg.snapshot().metadata().index()));
      }
    }
    incoming_[stream] = std::move(in);
    return;
  }
  Incoming& in = it->second;
  if (ev == SnapshotEvent::kData) {
    if (in.ignore) return;
    in.bytes += payload.size();
    std::string_view rest(payload);
    int cf = 0;
    std::string_view k, v;
    while (!rest.empty()) {
      if (!next_record(rest, &cf, &k, &v) || !in.staged->put(cf, k, v)) {
        OUTPOST_LOG(kWarn, "dropped a corrupt snapshot stream", log::kv_hex("from", from));
        in.ignore = true;
        in.staged.reset();
        return;
      }
    }
    return;
  }
  // kEnd: install, then let Raft record the snapshot.
  Incoming done = std::move(in);
  incoming_.erase(it);
  if (done.ignore || !cb_.install) return;
  const auto started = std::chrono::steady_clock::now();
  Status s = cb_.install(std::move(done.staged), done.msg.snapshot());
  if (!s) {
    OUTPOST_LOG(kError, "cannot install received snapshot", log::kv("error", s.message()));
    return;
  }
  OUTPOST_LOG(kInfo, "installed snapshot", log::kv_hex("from", from), log::kv("bytes", done.bytes),
              log::kv("snapshot-index", done.msg.snapshot().metadata().index()),
              log::kv("seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                                               started).count()));
  node_->step(std::move(done.msg));
  // The snapshot's configuration is the leader's as of its compaction point; the state may be
  // further along (its membership is what view_ now holds).
  align_config(*node_, conf_state_of(view_));
}

}  // namespace outpost::server
