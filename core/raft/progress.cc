#include "core/raft/progress.h"

#include <algorithm>

#include "core/common/panic.h"

namespace outpost::raft {

void Inflights::add(std::uint64_t inflight) {
  if (full()) OUTPOST_PANIC("raft: adding to a full inflight window");
  std::size_t next = start_ + count_;
  if (next >= buffer_.size()) next -= buffer_.size();
  buffer_[next] = inflight;
  ++count_;
}

void Inflights::free_le(std::uint64_t to) {
  if (count_ == 0 || to < buffer_[start_]) return;
  std::size_t idx = start_;
  std::size_t i = 0;
  for (; i < count_; ++i) {
    if (to < buffer_[idx]) break;
    if (++idx >= buffer_.size()) idx = 0;
  }
  count_ -= i;
  start_ = idx;
  if (count_ == 0) start_ = 0;
}

void Inflights::free_first_one() {
  if (count_ == 0) return;
  free_le(buffer_[start_]);
}

const char* to_string(ProgressState s) {
  switch (s) {
    case ProgressState::kProbe: return "probe";
    case ProgressState::kReplicate: return "replicate";
    case ProgressState::kSnapshot: return "snapshot";
  }
  return "?";
}

void Progress::reset_state(ProgressState s) {
  probe_sent = false;
  pending_snapshot = 0;
  state = s;
  inflights.reset();
}

void Progress::become_probe() {
  // Coming back from a snapshot, the follower has at least the snapshot's entries.
  if (state == ProgressState::kSnapshot) {
    const std::uint64_t pending = pending_snapshot;
    reset_state(ProgressState::kProbe);
    next = std::max(match + 1, pending + 1);
  } else {
    reset_state(ProgressState::kProbe);
    next = match + 1;
  }
}

void Progress::become_replicate() {
  reset_state(ProgressState::kReplicate);
  next = match + 1;
}

void Progress::become_snapshot(std::uint64_t snapshot_index) {
  reset_state(ProgressState::kSnapshot);
  pending_snapshot = snapshot_index;
}

bool Progress::maybe_update(std::uint64_t n) {
  bool updated = false;
  if (match < n) {
    match = n;
    updated = true;
    probe_sent = false;
  }
  next = std::max(next, n + 1);
  return updated;
}

bool Progress::maybe_decr_to(std::uint64_t rejected, std::uint64_t last) {
  if (state == ProgressState::kReplicate) {
    // Rejections below match are stale: the follower already has those entries.
    if (rejected <= match) return false;
    next = match + 1;
    return true;
  }
  // Probe: only the answer to the probe we sent (at next-1) counts.
  if (next - 1 != rejected) return false;
  next = std::max<std::uint64_t>(std::min(rejected, last + 1), 1);
  probe_sent = false;
  return true;
}

bool Progress::is_paused() const {
  switch (state) {
    case ProgressState::kProbe: return probe_sent;
    case ProgressState::kReplicate: return inflights.full();
    case ProgressState::kSnapshot: return true;
  }
  return true;
}

void ProgressTracker::add_voter(std::uint64_t id, std::uint64_t next) {
  learners_.erase(id);
  voters_.insert(id);
  auto it = progress_.find(id);
  if (it != progress_.end()) {
    it->second.is_learner = false;
    return;
  }
  progress_.emplace(id, Progress(next, max_inflight_, false));
}

void ProgressTracker::add_learner(std::uint64_t id, std::uint64_t next) {
  if (voters_.count(id) != 0) return;  // demotion is not a single-step change
  learners_.insert(id);
  if (progress_.count(id) == 0) progress_.emplace(id, Progress(next, max_inflight_, true));
}

void ProgressTracker::remove(std::uint64_t id) {
  voters_.erase(id);
  learners_.erase(id);
  progress_.erase(id);
  votes_.erase(id);
}

std::uint64_t ProgressTracker::committed() const {
  return majority_committed_index(voters_, [this](std::uint64_t id) -> std::uint64_t {
    auto it = progress_.find(id);
    return it == progress_.end() ? 0 : it->second.match;
  });
}

void ProgressTracker::record_vote(std::uint64_t id, bool granted) {
  votes_.emplace(id, granted);  // the first answer of each voter counts
}

VoteResult ProgressTracker::tally(std::size_t* granted, std::size_t* rejected) const {
  std::size_t g = 0, r = 0;
  for (std::uint64_t id : voters_) {
    auto it = votes_.find(id);
    if (it == votes_.end()) continue;
    (it->second ? g : r)++;
  }
  if (granted) *granted = g;
  if (rejected) *rejected = r;
  return majority_vote_result(voters_, votes_);
}

bool ProgressTracker::quorum_active() const {
  std::size_t active = 0;
  for (std::uint64_t id : voters_) {
    auto it = progress_.find(id);
    if (it != progress_.end() && it->second.recent_active) ++active;
  }
  return voters_.empty() || active >= majority_of(voters_.size());
}

raftpb::ConfState ProgressTracker::conf_state() const {
  raftpb::ConfState cs;
  for (std::uint64_t id : voters_) cs.add_voters(id);
  for (std::uint64_t id : learners_) cs.add_learners(id);
  return cs;
}

Progress* ProgressTracker::get(std::uint64_t id) {
  auto it = progress_.find(id);
  return it == progress_.end() ? nullptr : &it->second;
}

const Progress* ProgressTracker::get(std::uint64_t id) const {
  auto it = progress_.find(id);
  return it == progress_.end() ? nullptr : &it->second;
}

}  // namespace outpost::raft
