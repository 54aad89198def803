#include "core/server/replica_lag.h"

#include <algorithm>

namespace outpost::server {

void ReplicaLag::on_leader_state(const outpostpb::LeaderState& st) {
  std::lock_guard l(mu_);
  last_ = st;
  heard_ = true;
  ahead_.emplace_back(st.applied_index(), clock_.now());
  // A slow learner must not hold an unbounded queue: the newest few arrivals say enough.
  while (ahead_.size() > 64) ahead_.pop_front();
  catch_up_locked();
}

void ReplicaLag::on_applied(uint64_t applied, int64_t revision) {
  std::lock_guard l(mu_);
  applied_ = std::max(applied_, applied);
  revision_ = revision;
  catch_up_locked();
}

void ReplicaLag::catch_up_locked() {
  while (!ahead_.empty() && ahead_.front().first <= applied_) {
    caught_up_ = true;
    caught_up_at_ = ahead_.front().second;
    ahead_.pop_front();
  }
}

ReplicaLag::Figures ReplicaLag::figures(uint64_t raft_commit) const {
  std::lock_guard l(mu_);
  Figures f;
  f.heard = heard_;
  f.applied_index = applied_;
  f.leader_commit = std::max<uint64_t>(last_.commit_index(), raft_commit);
  f.leader_match = last_.match_index();
  f.leader_last = last_.last_index();
  f.revision = revision_;
  f.leader_revision = std::max<int64_t>(last_.revision(), revision_);
  f.entries = f.leader_commit > applied_ ? f.leader_commit - applied_ : 0;
  f.revisions = uint64_t(f.leader_revision - revision_);
  f.time = caught_up_ ? std::max(Clock::duration{}, clock_.now() - caught_up_at_)
                      : Clock::duration::max();
  return f;
}

}  // namespace outpost::server
