#pragma once
// MembershipView: the raft thread's own view of the membership, for deciding committed conf
// changes as they come out of Raft (before the applier records them).
//
// A committed conf change is checked with etcd's rules (membership.h) against the view, as the
// applier checks it against the recorded membership: both see the same sequence, so both reach
// the same verdict. A valid change is applied to Raft's configuration and to the view; an
// invalid one is applied to Raft as a change that changes nothing. After a state is installed
// from the leader, reset() takes that state's membership; conf changes up to its applied
// index are in it already and are not decided again.
//
// Also the leader's check of a learner promotion (etcd's rule: the learner's match index is at
// least 90% of the leader's), and align_config(), which brings Raft's configuration in line
// with a membership. Raft thread only.

#include <cstdint>

#include "core/common/status.h"
#include "core/raft/raw_node.h"
#include "outpostpb/internal.pb.h"

namespace outpost::server {

// Brings Raft's configuration in line with `want` (the membership the state machine holds).
void align_config(raft::RawNode& node, const raftpb::ConfState& want);

class MembershipView {
 public:
  MembershipView(uint64_t self, outpostpb::ClusterInfo membership, uint64_t applied,
                 size_t max_learners)
      : self_(self), view_(std::move(membership)), index_(applied), max_learners_(max_learners) {}

  const outpostpb::ClusterInfo& view() const { return view_; }

  // What a committed conf change did to the other members' peer addresses.
  struct PeerChange {
    uint64_t removed = 0;                            // a member gone: drop its peer
    const outpostpb::MemberInfo* updated = nullptr;  // a member added or moved: (re)dial it
  };
  // Decides the committed conf change e and applies the verdict to node.
  PeerChange on_committed(const raftpb::Entry& e, raft::RawNode& node);
  // The state installed holds membership, as of its applied index.
  void reset(outpostpb::ClusterInfo membership, uint64_t applied);

  // kLearnerNotReady when cc promotes a learner that is not in sync with this member, which
  // leads (not leading: ok, Raft forwards the change to the leader, which checks it).
  Status check_promotion(const raftpb::ConfChange& cc, const raft::RawNode& node) const;

 private:
  const uint64_t self_;
  outpostpb::ClusterInfo view_;  // membership as of the last conf change decided
  uint64_t index_;               // conf changes up to here are in view_
  const size_t max_learners_;
};

}  // namespace outpost::server
