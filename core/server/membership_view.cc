#include "core/server/membership_view.h"

#include <algorithm>

#include "core/common/log.h"
#include "core/server/membership.h"

namespace outpost::server {

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
      if (!in(want.voters(), id) && !in(want.learners(), id))
        change(raftpb::ConfChangeRemoveNode, id);
  for (uint64_t id : want.learners())
    if (!in(have.learners(), id) && !in(have.voters(), id))
      change(raftpb::ConfChangeAddLearnerNode, id);
  for (uint64_t id : want.voters())
    if (!in(have.voters(), id)) change(raftpb::ConfChangeAddNode, id);
}

Status MembershipView::check_promotion(const raftpb::ConfChange& cc,
                                       const raft::RawNode& node) const {
  if (cc.type() != raftpb::ConfChangeAddNode) return Status::ok();
  outpostpb::ConfChangeContext ctx;
  if (!ctx.ParseFromString(cc.context()) || !ctx.is_promote()) return Status::ok();
  // A read-only replica is never promoted, whoever asks.
  const auto* recorded = find_member(view_, cc.node_id());
  if ((recorded && recorded->promote() == outpostpb::MemberInfo::PROMOTE_NEVER) ||
      ctx.member().promote() == outpostpb::MemberInfo::PROMOTE_NEVER) {
    OUTPOST_LOG(kWarn, "rejecting member promote request; the learner is a read-only replica",
                log::kv_hex("learner-id", cc.node_id()));
    return Status::of(ErrorCode::kPromoteReadOnly);
  }
  const raft::Status st = node.status();
  if (st.progress.empty()) return Status::ok();  // not the leader: Raft forwards it there
  auto learner = st.progress.find(cc.node_id());
  auto self = st.progress.find(self_);
  if (learner == st.progress.end() || self == st.progress.end()) return Status::ok();
  // etcd's rule: the learner's match index must be at least 90% of the leader's.
  if (double(learner->second.match) < double(self->second.match) * 0.9) {
    OUTPOST_LOG(kWarn, "rejecting member promote request; learner is not in sync with leader",
                log::kv_hex("learner-id", cc.node_id()),
                log::kv("learner-match", learner->second.match),
                log::kv("leader-match", self->second.match));
    return Status::of(ErrorCode::kLearnerNotReady);
  }
  return Status::ok();
}

MembershipView::PeerChange MembershipView::on_committed(const raftpb::Entry& e,
                                                        raft::RawNode& node) {
  PeerChange change;
  if (e.index() <= index_) return change;  // in the installed state already (reset)
  raftpb::ConfChange cc;
  outpostpb::ConfChangeContext ctx;
  if (!cc.ParseFromString(e.data()) || !ctx.ParseFromString(cc.context())) {
    OUTPOST_LOG(kError, "undecodable conf change entry", log::kv("index", e.index()));
    return change;
  }
  Status valid = validate_conf_change(view_, cc, ctx, max_learners_);
  if (!valid) {
    // Every member reaches the same verdict; Raft records a change that changes nothing.
    raftpb::ConfChange none = cc;
    none.set_node_id(0);
    node.apply_conf_change(none);
    OUTPOST_LOG(kInfo, "ignored invalid conf change", log::kv("index", e.index()),
                log::kv_hex("member-id", cc.node_id()), log::kv("reason", valid.message()));
    return change;
  }
  server::apply_conf_change(&view_, cc, ctx);
  const raftpb::ConfState cs = node.apply_conf_change(cc);
  const uint64_t id = cc.node_id();
  if (id != self_) {
    if (cc.type() == raftpb::ConfChangeRemoveNode) {
      change.removed = id;
    } else {
      change.updated = find_member(view_, id);
    }
  }
  static const char* const kinds[] = {"add-voter", "remove", "update", "add-learner"};
  OUTPOST_LOG(kInfo, "applied conf change", log::kv("index", e.index()),
              log::kv("type", ctx.is_promote() ? "promote" : kinds[int(cc.type()) & 3]),
              log::kv_hex("member-id", id), log::kv("voters", cs.voters_size()),
              log::kv("learners", cs.learners_size()));
  // Left as the only voter (force-new-cluster, or the others removed): no one else can elect us.
  if (cs.voters_size() == 1 && cs.voters(0) == self_ &&
      node.raft().state() != raft::StateType::kLeader && node.campaign() != raft::Error::kOk)
    OUTPOST_LOG(kWarn, "cannot campaign as the only voter left");
  return change;
}

void MembershipView::reset(outpostpb::ClusterInfo membership, uint64_t applied) {
  view_ = std::move(membership);
  index_ = applied;
}

}  // namespace outpost::server
