#pragma once
// ReplicaLag: how far a learner is behind its leader, from the leader's progress it hears
// (outpostpb.LeaderState, sent by the leader to each learner every heartbeat interval) and what
// it has applied itself.
//
// - entries: the leader's commit index as last heard (or Raft's, if higher) minus the applied
//   index;
// - revisions: the leader's revision as last heard minus the local revision;
// - time: since when the learner is known to have been caught up: the arrival of the latest
//   LeaderState whose applied index the learner has applied too. Healthy, that is at most a
//   heartbeat interval ago; while the leader cannot be heard, it grows.
// No LeaderState heard yet: everything counts as lagging (time is "forever").
//
// Thread-safe: on_leader_state runs on the raft thread, on_applied on the apply thread, figures()
// anywhere.

#include <cstdint>
#include <deque>
#include <mutex>

#include "core/common/clock.h"
#include "outpostpb/internal.pb.h"

namespace outpost::server {

class ReplicaLag {
 public:
  struct Figures {
    bool heard = false;  // a LeaderState arrived since start
    uint64_t applied_index = 0;
    uint64_t leader_commit = 0;  // as last heard
    uint64_t leader_match = 0;   // this member's match index as the leader last saw it
    uint64_t leader_last = 0;    // the leader's last index as last heard
    int64_t revision = 0;
    int64_t leader_revision = 0;
    uint64_t entries = 0;
    uint64_t revisions = 0;
    Clock::duration time{};  // Clock::duration::max() when never caught up
  };

  explicit ReplicaLag(const Clock& clock) : clock_(clock) {}

  void on_leader_state(const outpostpb::LeaderState& st);
  void on_applied(uint64_t applied, int64_t revision);
  // raft_commit: the commit index Raft knows here.
  Figures figures(uint64_t raft_commit) const;

 private:
  void catch_up_locked();

  const Clock& clock_;
  mutable std::mutex mu_;
  outpostpb::LeaderState last_;
  bool heard_ = false;
  uint64_t applied_ = 0;
  int64_t revision_ = 0;
  // LeaderStates not yet applied up to: (leader's applied index, arrival), oldest first.
  std::deque<std::pair<uint64_t, Clock::time_point>> ahead_;
  bool caught_up_ = false;
  Clock::time_point caught_up_at_{};
};

}  // namespace outpost::server
