#include "core/server/boot.h"

#include <algorithm>

#include "core/common/log.h"
#include "core/server/membership.h"

namespace outpost::server {

// etcd's --force-new-cluster: entries after the commit index are dropped, and the removal of every
// other member (as of the last committed entry) is appended and marked committed, so the member
// leads a cluster of one once it has applied them.
Status force_new_cluster(storage::DurableLog& log, const ForceNewCluster& opts) {
  raftpb::HardState hs;
  raftpb::ConfState cs;
  if (log.storage().initial_state(&hs, &cs) != raft::Error::kOk)
    return Status(ErrorCode::kCorrupt, "force-new-cluster: cannot read the raft hard state");
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
  OUTPOST_LOG(
      kWarn, "forcing a new cluster: discarding uncommitted entries, removing every other member",
      log::kv("commit-index", commit), log::kv("discarded", log.storage().last_index() - commit),
      log::kv("removed", fin.members_size() - 1));
  return log.save(hs, add, std::nullopt, /*sync=*/true);
}

}  // namespace outpost::server
