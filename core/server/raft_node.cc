#include "core/server/raft_node.h"

#include <pthread.h>

#include <cstdlib>

#include "core/common/log.h"

namespace outpost::server {
namespace {

void fatal(const char* what, const Status& s) {
  OUTPOST_LOG(kFatal, what, log::kv("error", s.message()));
  std::abort();
}

}  // namespace

Result<std::unique_ptr<RaftNode>> RaftNode::start(RaftNodeOptions opts, storage::Engine* engine,
                                                  OnCommitted on_committed, OnLeader on_leader) {
  std::unique_ptr<RaftNode> n(new RaftNode());
  n->id_ = opts.id;
  n->engine_ = engine;
  n->on_committed_ = std::move(on_committed);
  n->on_leader_ = std::move(on_leader);

  auto log = storage::DurableLog::open(engine, opts.initial);
  if (!log) return log.status();
  n->log_ = std::move(log.value());

  raft::Config rc;
  rc.id = opts.id;
  rc.election_tick = opts.election_ticks;
  rc.heartbeat_tick = 1;
  rc.storage = &n->log_->storage();
  rc.applied = opts.applied;
  rc.check_quorum = true;
  rc.pre_vote = true;
  rc.max_inflight_msgs = 512;
  rc.max_size_per_msg = 1 << 20;
  if (std::string err = rc.validate(); !err.empty())
    return Status(ErrorCode::kInternal, "invalid raft configuration: " + err);
  n->node_ = std::make_unique<raft::RawNode>(rc);
  n->last_ = n->log_->storage().last_index();
  {
    // A member that is the only voter need not wait an election timeout to lead.
    raftpb::HardState hs;
    raftpb::ConfState cs;
    n->log_->storage().initial_state(&hs, &cs);
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
      &n->loop_, to, [self](uint64_t from, std::string payload) {
        raftpb::Message m;
        if (!m.ParseFromString(payload) || m.from() != from) {
          OUTPOST_LOG(kWarn, "dropped undecodable raft message", log::kv_hex("peer-id", from));
          return;
        }
        self->node_->step(std::move(m));
      });
  std::string err;
  if (!n->transport_->listen(&err)) {
    n->transport_.reset();
    uv_run(&n->loop_, UV_RUN_NOWAIT);  // let the closed listener's handle be released
    uv_loop_close(&n->loop_);
    return Status(ErrorCode::kIo, err);
  }
  n->port_ = n->transport_->port();
  for (const auto& [id, addr] : opts.peers)
    if (id != opts.id) n->transport_->add_peer(id, addr.host, addr.port);

  uv_timer_init(&n->loop_, &n->tick_);
  n->tick_.data = self;
  uv_timer_start(&n->tick_, [](uv_timer_t* t) { static_cast<RaftNode*>(t->data)->on_tick(); },
                 opts.heartbeat_ms, opts.heartbeat_ms);
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
  uv_loop_close(&loop_);
  // Whatever was still waiting gets a definite answer.
  for (auto& [_, pr] : reads_)
    for (auto& fn : pr.waiters) fn(Status::of(ErrorCode::kStopped), 0);
  reads_.clear();
  for (auto& [_, fn] : inbox_.proposals) fn(Status::of(ErrorCode::kStopped));
  for (auto& [_, fn] : inbox_.conf_changes) fn(Status::of(ErrorCode::kStopped));
  for (auto& fn : inbox_.reads) fn(Status::of(ErrorCode::kStopped), 0);
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

void RaftNode::on_wake() {
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
    auto close = [](auto* h) { uv_close(reinterpret_cast<uv_handle_t*>(h), nullptr); };
    close(&tick_);
    close(&wake_);
    close(&check_);
    return;
  }
  for (auto& [data, dropped] : in.proposals) {
    if (node_->propose(std::move(data)) != raft::Error::ok && dropped)
      dropped(Status::of(ErrorCode::kNoLeader));
  }
  for (auto& [cc, dropped] : in.conf_changes) {
    if (node_->propose_conf_change(cc) != raft::Error::ok && dropped)
      dropped(Status::of(ErrorCode::kNoLeader));
  }
  if (!in.reads.empty()) {
    // One ReadIndex round for every read that arrived together.
    std::string ctx = std::to_string(id_) + "/" + std::to_string(++read_seq_);
    PendingRead& pr = reads_[ctx];
    pr.waiters = std::move(in.reads);
    pr.since = std::chrono::steady_clock::now();
    if (node_->read_index(ctx) != raft::Error::ok) {
      for (auto& fn : pr.waiters) fn(Status::of(ErrorCode::kNoLeader), 0);
      reads_.erase(ctx);
    }
  }
}

void RaftNode::on_tick() {
  node_->tick();
  fail_old_reads();
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
    Status s = log_->save(rd.hard_state, rd.entries, rd.snapshot, rd.must_sync);
    if (!s) fatal("cannot persist raft state", s);
    if (rd.hard_state) commit_ = rd.hard_state->commit();
    last_ = log_->storage().last_index();
    for (auto& m : rd.messages) {
      const uint64_t to = m.to();
      const bool snap = m.type() == raftpb::MsgSnap;
      if (!transport_->send(to, m.SerializeAsString())) {
        node_->report_unreachable(to);
        if (snap) node_->report_snapshot(to, false);
      }
    }
    if (!rd.committed_entries.empty()) {
      for (const auto& e : rd.committed_entries) {
        if (e.type() != raftpb::EntryConfChange) continue;
        raftpb::ConfChange cc;
        if (cc.ParseFromString(e.data())) node_->apply_conf_change(cc);
      }
      on_committed_(rd.committed_entries);
    }
    if (!rd.read_states.empty()) resolve_reads(rd.read_states);
    if (rd.soft_state && on_leader_) on_leader_(rd.soft_state->lead, node_->raft().term());
    node_->advance();
  }
}

}  // namespace outpost::server
