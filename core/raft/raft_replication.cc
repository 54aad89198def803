// Raft, part two: replication. Sending and handling appends, heartbeats and snapshots, the
// follower side of the log-matching check, commitment, and the leader's flow control. The roles,
// elections, message dispatch, ReadIndex, transfers and membership live in raft.cc.
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>

#include "core/common/panic.h"
#include "core/raft/raft.h"

namespace outpost::raft {

namespace {

std::uint64_t payload_size(const std::vector<raftpb::Entry>& ents) {
  std::uint64_t s = 0;
  for (const auto& e : ents) s += e.data().size();
  return s;
}

}  // namespace

void Raft::handle_append_response(const raftpb::Message& m, Progress& pr) {
  pr.recent_active = true;
  if (m.reject()) {
    logf(LogLevel::kDebug,
         "%" PRIx64 " received MsgAppResp(rejected, hint: (index %" PRIu64 ", term %" PRIu64
         ")) from %" PRIx64 " for index %" PRIu64,
         id_, m.reject_hint(), m.log_term(), m.from(), m.index());
    // Fast back-off: the follower told us the last index of its log whose term could match
    // (reject_hint, log_term); skip every index of ours whose term is larger than that term.
    std::uint64_t next_probe = m.reject_hint();
    if (m.log_term() > 0) next_probe = find_conflict_by_term(m.reject_hint(), m.log_term());
    if (pr.maybe_decr_to(m.index(), next_probe)) {
      logf(LogLevel::kDebug,
           "%" PRIx64 " decreased progress of %" PRIx64 " to [next = %" PRIu64 "]", id_, m.from(),
           pr.next);
      if (pr.state == ProgressState::kReplicate) pr.become_probe();
      send_append(m.from());
    }
    return;
  }
  const bool old_paused = pr.is_paused();
  if (!pr.maybe_update(m.index())) return;
  switch (pr.state) {
    case ProgressState::kProbe: pr.become_replicate(); break;
    case ProgressState::kSnapshot:
      if (pr.match >= pr.pending_snapshot) {
        logf(LogLevel::kDebug,
             "%" PRIx64
             " recovered from needing snapshot, resumed sending replication messages "
             "to %" PRIx64,
             id_, m.from());
        pr.become_probe();
      }
      break;
    case ProgressState::kReplicate: pr.inflights.free_le(m.index()); break;
  }
  if (maybe_commit()) {
    bcast_append();
    release_pending_read_index_messages();
  } else if (old_paused) {
    send_append(m.from());
  }
  // Fill the window: keep sending while there are entries and room.
  while (maybe_send_append(m.from(), false)) {
  }
  if (m.from() == lead_transferee_ && pr.match == raft_log_.last_index()) {
    logf(LogLevel::kInfo, "%" PRIx64 " sent MsgTimeoutNow to %" PRIx64 " after received MsgAppResp",
         id_, m.from());
    send_timeout_now(m.from());
  }
}

void Raft::handle_heartbeat_response(const raftpb::Message& m, Progress& pr) {
  pr.recent_active = true;
  pr.probe_sent = false;
  if (pr.state == ProgressState::kReplicate && pr.inflights.full()) pr.inflights.free_first_one();
  if (pr.match < raft_log_.last_index()) send_append(m.from());
  if (read_only_.option() != ReadOnlyOption::kSafe || m.context().empty()) return;
  const std::set<std::uint64_t>* acks = read_only_.recv_ack(m.from(), m.context());
  if (acks == nullptr) return;
  std::size_t voter_acks = 0;
  for (std::uint64_t id : *acks) voter_acks += prs_.is_voter(id) ? 1 : 0;
  if (voter_acks < majority_of(prs_.voters().size())) return;
  for (auto& p : read_only_.advance(m.context())) send_read_index_response(p.req, p.index);
}

void Raft::handle_append(raftpb::Message& m) {
  raftpb::Message resp;
  resp.set_to(m.from());
  resp.set_type(raftpb::MsgAppResp);
  if (m.index() < raft_log_.committed()) {
    resp.set_index(raft_log_.committed());
    send(std::move(resp));
    return;
  }
  std::vector<raftpb::Entry> ents;
  ents.reserve(static_cast<std::size_t>(m.entries_size()));
  for (auto& e : *m.mutable_entries()) ents.push_back(std::move(e));  // the message is ours
  if (auto last_new =
          raft_log_.maybe_append(m.index(), m.log_term(), m.commit(), std::move(ents))) {
    resp.set_index(*last_new);
    send(std::move(resp));
    return;
  }
  // Mismatch at m.index: hint the largest index <= m.index whose term is <= the leader's term
  // there, so the leader can skip a whole run of conflicting entries in one round trip.
  const std::uint64_t hint =
      find_conflict_by_term(std::min(m.index(), raft_log_.last_index()), m.log_term());
  logf(LogLevel::kDebug,
       "%" PRIx64 " [logterm: %" PRIu64 ", index: %" PRIu64 "] rejected MsgApp [logterm: %" PRIu64
       ", index: %" PRIu64 "] from %" PRIx64,
       id_, raft_log_.term_or_zero(m.index()), m.index(), m.log_term(), m.index(), m.from());
  resp.set_index(m.index());
  resp.set_reject(true);
  resp.set_reject_hint(hint);
  resp.set_log_term(raft_log_.term_or_zero(hint));
  send(std::move(resp));
}

std::uint64_t Raft::find_conflict_by_term(std::uint64_t index, std::uint64_t term) const {
  if (index > raft_log_.last_index()) return index;
  while (index > 0) {
    if (index < raft_log_.first_index() - 1) return index;  // unknown (compacted)
    std::uint64_t t = 0;
    if (raft_log_.term(index, &t) != Error::kOk) return index;
    if (t <= term) return index;
    --index;
  }
  return 0;
}

void Raft::handle_heartbeat(const raftpb::Message& m) {
  raft_log_.commit_to(m.commit());
  raftpb::Message resp;
  resp.set_to(m.from());
  resp.set_type(raftpb::MsgHeartbeatResp);
  resp.set_context(m.context());
  send(std::move(resp));
}

void Raft::handle_snapshot(const raftpb::Message& m) {
  raftpb::Message resp;
  resp.set_to(m.from());
  resp.set_type(raftpb::MsgAppResp);
  const auto& md = m.snapshot().metadata();
  if (restore(m.snapshot())) {
    logf(LogLevel::kInfo,
         "%" PRIx64 " [commit: %" PRIu64 "] restored snapshot [index: %" PRIu64 ", term: %" PRIu64
         "]",
         id_, raft_log_.committed(), md.index(), md.term());
    resp.set_index(raft_log_.last_index());
  } else {
    logf(LogLevel::kInfo,
         "%" PRIx64 " [commit: %" PRIu64 "] ignored snapshot [index: %" PRIu64 ", term: %" PRIu64
         "]",
         id_, raft_log_.committed(), md.index(), md.term());
    resp.set_index(raft_log_.committed());
  }
  send(std::move(resp));
}

bool Raft::restore(const raftpb::Snapshot& s) {
  const auto& md = s.metadata();
  if (md.index() <= raft_log_.committed()) return false;
  if (raft_log_.match_term(md.index(), md.term())) {
    // We already hold the snapshot's last entry: just learn that it is committed.
    raft_log_.commit_to(md.index());
    return false;
  }
  raft_log_.restore(s);
  // The snapshot's membership is newer than anything we applied (it covers a committed index
  // beyond ours): adopt it wholesale.
  ProgressTracker fresh(prs_.max_inflight());
  const std::uint64_t next = raft_log_.last_index() + 1;
  for (std::uint64_t v : md.conf_state().voters()) fresh.add_voter(v, next);
  for (std::uint64_t l : md.conf_state().learners()) fresh.add_learner(l, next);
  prs_ = std::move(fresh);
  if (Progress* self = prs_.get(id_)) self->match = raft_log_.last_index();
  is_learner_ = prs_.is_learner(id_);
  logf(LogLevel::kInfo, "%" PRIx64 " switched to configuration %s", id_, describe_config().c_str());
  return true;
}

bool Raft::maybe_send_append(std::uint64_t to, bool send_if_empty) {
  Progress* pr = prs_.get(to);
  if (pr == nullptr || pr->is_paused()) return false;
  raftpb::Message m;
  m.set_to(to);
  std::uint64_t prev_term = 0;
  const Error errt = raft_log_.term(pr->next - 1, &prev_term);
  std::vector<raftpb::Entry> ents;
  const Error erre = raft_log_.entries(pr->next, max_msg_size_, &ents);
  if (ents.empty() && !send_if_empty) return false;
  const bool compacted =
      errt != Error::kOk || erre != Error::kOk || pr->next - 1 < raft_log_.first_index() - 1;
  if (compacted) {
    // The follower needs entries we no longer have: ship the snapshot instead.
    if (!pr->recent_active) {
      logf(LogLevel::kDebug,
           "ignore sending snapshot to %" PRIx64 " since it is not recently active", to);
      return false;
    }
    raftpb::Snapshot snap;
    if (raft_log_.snapshot(&snap) != Error::kOk) {
      logf(LogLevel::kDebug,
           "%" PRIx64 " failed to send snapshot to %" PRIx64
           " because snapshot is temporarily unavailable",
           id_, to);
      return false;
    }
    if (snap.metadata().index() == 0) OUTPOST_PANIC("need a non-empty snapshot");
    logf(LogLevel::kDebug,
         "%" PRIx64 " [firstindex: %" PRIu64 ", commit: %" PRIu64 "] sent snapshot[index: %" PRIu64
         ", term: %" PRIu64 "] to %" PRIx64,
         id_, raft_log_.first_index(), raft_log_.committed(), snap.metadata().index(),
         snap.metadata().term(), to);
    m.set_type(raftpb::MsgSnap);
    pr->become_snapshot(snap.metadata().index());
    *m.mutable_snapshot() = std::move(snap);
  } else {
    m.set_type(raftpb::MsgApp);
    m.set_index(pr->next - 1);
    m.set_log_term(prev_term);
    m.set_commit(raft_log_.committed());
    if (!ents.empty()) {
      const std::uint64_t last = ents.back().index();
      switch (pr->state) {
        case ProgressState::kReplicate:
          pr->optimistic_update(last);
          pr->inflights.add(last);
          break;
        case ProgressState::kProbe: pr->probe_sent = true; break;
        case ProgressState::kSnapshot:
          OUTPOST_PANIC("sending entries to a follower in snapshot state");
      }
      auto* out = m.mutable_entries();
      out->Reserve(static_cast<int>(ents.size()));
      for (auto& e : ents) *out->Add() = std::move(e);
    }
  }
  send(std::move(m));
  return true;
}

void Raft::send_heartbeat(std::uint64_t to, const std::string& ctx) {
  // Never claim more commitment than the follower is known to store: it could otherwise commit
  // an index it does not yet have (or has with a different entry).
  const Progress* pr = prs_.get(to);
  raftpb::Message m;
  m.set_to(to);
  m.set_type(raftpb::MsgHeartbeat);
  m.set_commit(std::min(pr->match, raft_log_.committed()));
  if (!ctx.empty()) m.set_context(ctx);
  send(std::move(m));
}

void Raft::send_timeout_now(std::uint64_t to) {
  raftpb::Message m;
  m.set_to(to);
  m.set_type(raftpb::MsgTimeoutNow);
  send(std::move(m));
}

void Raft::bcast_append() {
  for (auto& [id, pr] : prs_.progress()) {
    if (id != id_) send_append(id);
  }
}

void Raft::bcast_heartbeat() { bcast_heartbeat_with_ctx(read_only_.last_pending_request_ctx()); }

void Raft::bcast_heartbeat_with_ctx(const std::string& ctx) {
  for (auto& [id, pr] : prs_.progress()) {
    if (id != id_) send_heartbeat(id, ctx);
  }
}

bool Raft::append_entry(std::vector<raftpb::Entry>&& es) {
  const std::uint64_t li = raft_log_.last_index();
  for (std::size_t i = 0; i < es.size(); ++i) {
    es[i].set_term(term_);
    es[i].set_index(li + 1 + i);
  }
  // Bound the payload that is appended but not committed (a leader cut off from its quorum
  // would otherwise grow its log without limit). An empty leader entry always passes, and so
  // does the first proposal when nothing is outstanding.
  const std::uint64_t s = payload_size(es);
  if (uncommitted_size_ > 0 && s > 0 && uncommitted_size_ + s > max_uncommitted_size_) {
    return false;
  }
  uncommitted_size_ += s;
  const std::uint64_t last = raft_log_.append(std::move(es));
  if (Progress* self = prs_.get(id_)) self->maybe_update(last);
  maybe_commit();
  return true;
}

void Raft::reduce_uncommitted_size(std::uint64_t s) {
  if (uncommitted_size_ == 0) return;  // followers do not track it
  uncommitted_size_ = s > uncommitted_size_ ? 0 : uncommitted_size_ - s;
}

bool Raft::maybe_commit() { return raft_log_.maybe_commit(prs_.committed(), term_); }

}  // namespace outpost::raft
