#pragma once
// The leader's view of each peer's replication: Inflights, Progress and ProgressTracker.
//
// Progress is one follower's state machine for flow control:
//  - probe: the leader does not know where the follower's log ends; it sends one append per
//    heartbeat interval and waits for the answer (`probe_sent` pauses it in between).
//  - replicate: the follower is in sync; the leader streams appends optimistically, bounded by an
//    inflight window (Inflights) of unacknowledged messages.
//  - snapshot: the follower needs a snapshot; nothing else is sent until it is reported applied
//    or failed.
// Invariant: match < next. `match` only grows (except when a follower restarts and is probed).
//
// ProgressTracker owns the membership (voters, learners; disjoint sets) and the Progress of every
// member, tallies votes, and answers the quorum questions by handing the voter set alone to
// quorum.h, so learners never count.

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/raft/quorum.h"
#include "raftpb/raft.pb.h"

namespace outpost::raft {

// A ring buffer of the last-entry indexes of in-flight appends, oldest first.
class Inflights {
 public:
  explicit Inflights(std::size_t size) : buffer_(size) {}
  void add(std::uint64_t inflight);
  // Frees every in-flight message whose last index is <= to.
  void free_le(std::uint64_t to);
  void free_first_one();
  bool full() const { return count_ == buffer_.size(); }
  std::size_t count() const { return count_; }
  void reset() {
    count_ = 0;
    start_ = 0;
  }

 private:
  std::vector<std::uint64_t> buffer_;
  std::size_t start_ = 0;
  std::size_t count_ = 0;
};

enum class ProgressState { kProbe, kReplicate, kSnapshot };
const char* to_string(ProgressState s);

struct Progress {
  Progress(std::uint64_t next_index, std::size_t max_inflight, bool learner)
      : next(next_index), inflights(max_inflight), is_learner(learner) {}

  std::uint64_t match = 0;
  std::uint64_t next = 1;
  ProgressState state = ProgressState::kProbe;
  std::uint64_t pending_snapshot = 0;  // index of the snapshot in flight (snapshot state)
  bool recent_active = false;          // heard from since the last check-quorum round
  bool probe_sent = false;             // probe state: an append is outstanding
  Inflights inflights;
  bool is_learner = false;

  void become_probe();
  void become_replicate();
  void become_snapshot(std::uint64_t snapshot_index);
  // The follower acknowledged up to n. Returns false if the acknowledgement is stale.
  bool maybe_update(std::uint64_t n);
  // Optimistically advances next after sending entries up to n (replicate state).
  void optimistic_update(std::uint64_t n) { next = n + 1; }
  // The follower rejected an append at `rejected`, hinting its last index. Returns false if the
  // rejection is stale (out of order) and was ignored.
  bool maybe_decr_to(std::uint64_t rejected, std::uint64_t last);
  bool is_paused() const;

 private:
  void reset_state(ProgressState s);
};

class ProgressTracker {
 public:
  explicit ProgressTracker(std::size_t max_inflight) : max_inflight_(max_inflight) {}

  // Membership edits; each keeps voters and learners disjoint.
  void add_voter(std::uint64_t id, std::uint64_t next);    // also promotes a learner
  void add_learner(std::uint64_t id, std::uint64_t next);  // no-op for an existing voter
  void remove(std::uint64_t id);

  // Highest index stored on a majority of voters.
  std::uint64_t committed() const;
  void reset_votes() { votes_.clear(); }
  void record_vote(std::uint64_t id, bool granted);
  VoteResult tally(std::size_t* granted, std::size_t* rejected) const;
  // True if a majority of voters have been heard from recently (the leader counts as active).
  bool quorum_active() const;
  bool is_singleton() const { return voters_.size() == 1 && learners_.empty(); }
  raftpb::ConfState conf_state() const;

  Progress* get(std::uint64_t id);
  const Progress* get(std::uint64_t id) const;
  std::map<std::uint64_t, Progress>& progress() { return progress_; }
  const std::map<std::uint64_t, Progress>& progress() const { return progress_; }
  const std::set<std::uint64_t>& voters() const { return voters_; }
  const std::set<std::uint64_t>& learners() const { return learners_; }
  bool is_voter(std::uint64_t id) const { return voters_.count(id) != 0; }
  bool is_learner(std::uint64_t id) const { return learners_.count(id) != 0; }
  std::size_t max_inflight() const { return max_inflight_; }

 private:
  std::size_t max_inflight_;
  std::set<std::uint64_t> voters_;
  std::set<std::uint64_t> learners_;
  std::map<std::uint64_t, Progress> progress_;  // ordered: deterministic iteration
  std::map<std::uint64_t, bool> votes_;
};

}  // namespace outpost::raft
