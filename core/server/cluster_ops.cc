#include "core/server/cluster_ops.h"

#include <algorithm>

#include "core/common/log.h"
#include "core/server/membership.h"

namespace outpost::server {

namespace {

// etcd's check of peer URLs in member add / update: present, and each an http(s) host:port.
bool valid_peer_urls(const std::vector<std::string>& urls) {
  if (urls.empty()) return false;
  for (const auto& u : urls) {
    std::string host;
    int port = 0;
    if (!split_url(u, &host, &port) || (u.rfind("http://", 0) != 0 && u.rfind("https://", 0) != 0))
      return false;
  }
  return true;
}

struct VoterCount {
  size_t voters = 0;   // voting members
  size_t started = 0;  // of them, those that published a name (etcd's "started")
};

// The voting members of c, leaving `except` out.
VoterCount count_voters(const outpostpb::ClusterInfo& c, uint64_t except = 0) {
  VoterCount n;
  for (const auto& m : c.members()) {
    if (m.is_learner() || m.id() == except) continue;
    ++n.voters;
    n.started += m.name().empty() ? 0 : 1;
  }
  return n;
}

}  // namespace

size_t ClusterOps::voters_connected(const outpostpb::ClusterInfo& c) const {
  // Peers connected for at least etcd's HealthInterval, plus this member if it votes.
  const auto active = raft_.active_peers();
  const auto since = clock_.now() - std::chrono::seconds(5);
  size_t n = 0;
  for (const auto& m : c.members()) {
    if (m.is_learner()) continue;
    if (m.id() == cluster_.local_id()) {
      ++n;
      continue;
    }
    auto it = active.find(m.id());
    if (it != active.end() && it->second <= since) ++n;
  }
  return n;
}

void ClusterOps::add_member(std::vector<std::string> peer_urls, bool learner, AddDone done) {
  if (!valid_peer_urls(peer_urls)) return done(Status::of(ErrorCode::kMemberBadUrls), 0);
  const outpostpb::ClusterInfo c = cluster_.get();
  if (opts_.strict_reconfig_check && !learner) {
    // etcd: the voters that have started must still make a quorum with the new one counted ...
    const VoterCount n = count_voters(c);
    const size_t members = n.voters + 1;
    if (!(n.started == 1 && members == 2) && n.started < members / 2 + 1)
      return done(Status::of(ErrorCode::kMemberNotEnoughStarted), 0);
    // ... and this member must have been connected to every voter for a while: a voter added
    // while one is down could leave the cluster without a quorum.
    if (voters_connected(c) != count_voters(c).voters)
      return done(Status::of(ErrorCode::kUnhealthy), 0);
  }
  // Beyond etcd 3.4: a learner never counts in a quorum, so adding one is allowed with voters
  // down (etcd refuses it as "unhealthy cluster" too).
  const uint64_t id = new_member_id(peer_urls);
  outpostpb::ConfChangeContext ctx;
  auto* m = ctx.mutable_member();
  m->set_id(id);
  for (const auto& u : peer_urls) m->add_peer_urls(u);
  m->set_is_learner(learner);
  raftpb::ConfChange cc;
  cc.set_type(learner ? raftpb::ConfChangeAddLearnerNode : raftpb::ConfChangeAddNode);
  cc.set_node_id(id);
  cc.set_context(ctx.SerializeAsString());
  // Checked here for a prompt answer; checked again when applied, on every member.
  if (Status v = validate_conf_change(c, cc, ctx, opts_.max_learners); !v) return done(v, 0);
  propose(std::move(cc), [done = std::move(done), id](const Status& s) { done(s, id); });
}

void ClusterOps::remove_member(uint64_t id, Done done) {
  const outpostpb::ClusterInfo c = cluster_.get();
  const auto* target = find_member(c, id);
  if (target == nullptr) return done(Status::of(ErrorCode::kMemberNotFound));
  if (opts_.strict_reconfig_check && !target->is_learner()) {
    const VoterCount rest = count_voters(c, id);
    if (rest.started < rest.voters / 2 + 1)
      return done(Status::of(ErrorCode::kMemberNotEnoughStarted));
    // A member that is down is safe to remove; otherwise the rest must still make a quorum.
    const auto active = raft_.active_peers();
    const bool down = id != cluster_.local_id() && active.find(id) == active.end();
    if (!down && voters_connected(c) - 1 < 1 + rest.voters / 2)
      return done(Status::of(ErrorCode::kUnhealthy));
  }
  if (id == raft_.leader() && !target->is_learner()) {
    // Hand leadership over first, so the cluster is not left without a leader for an election
    // timeout: to the most caught-up other voter (as the leader sees it), else to us.
    uint64_t to = 0, best = 0;
    const auto match = raft_.match_indexes();
    for (const auto& m : c.members()) {
      if (m.is_learner() || m.id() == id) continue;
      auto it = match.find(m.id());
      const uint64_t mi = it == match.end() ? 0 : it->second;
      if (to == 0 || mi > best || (m.id() == cluster_.local_id() && mi == best)) {
        to = m.id();
        best = mi;
      }
    }
    if (to != 0) {
      OUTPOST_LOG(kInfo, "removing the leader: transferring leadership first",
                  log::kv_hex("leader", id), log::kv_hex("transferee", to));
      raft_.transfer_leadership(to);
      std::lock_guard l(mu_);
      pending_removals_.push_back({id, std::move(done), clock_.now() + 2 * opts_.election_timeout});
      return;
    }
  }
  raftpb::ConfChange cc;
  cc.set_type(raftpb::ConfChangeRemoveNode);
  cc.set_node_id(id);
  propose(std::move(cc), std::move(done));
}

void ClusterOps::update_member(uint64_t id, std::vector<std::string> peer_urls, Done done) {
  if (!valid_peer_urls(peer_urls)) return done(Status::of(ErrorCode::kMemberBadUrls));
  const outpostpb::ClusterInfo c = cluster_.get();
  const auto* target = find_member(c, id);
  if (target == nullptr) return done(Status::of(ErrorCode::kMemberNotFound));
  outpostpb::ConfChangeContext ctx;
  *ctx.mutable_member() = *target;
  ctx.mutable_member()->clear_peer_urls();
  for (const auto& u : peer_urls) ctx.mutable_member()->add_peer_urls(u);
  raftpb::ConfChange cc;
  cc.set_type(raftpb::ConfChangeUpdateNode);
  cc.set_node_id(id);
  cc.set_context(ctx.SerializeAsString());
  Status v = validate_conf_change(c, cc, ctx, opts_.max_learners);
  if (!v) return done(v);
  propose(std::move(cc), std::move(done));
}

void ClusterOps::promote_member(uint64_t id, Done done) {
  const outpostpb::ClusterInfo c = cluster_.get();
  const auto* target = find_member(c, id);
  if (target == nullptr) return done(Status::of(ErrorCode::kMemberNotFound));
  if (!target->is_learner()) return done(Status::of(ErrorCode::kMemberNotLearner));
  if (target->promote() == outpostpb::MemberInfo::PROMOTE_NEVER)
    return done(Status::of(ErrorCode::kPromoteReadOnly));
  if (opts_.strict_reconfig_check) {
    const VoterCount n = count_voters(c);  // the learner counts too, as started
    if (n.started + 1 < (n.voters + 1) / 2 + 1)
      return done(Status::of(ErrorCode::kMemberNotEnoughStarted));
  }
  outpostpb::ConfChangeContext ctx;
  *ctx.mutable_member() = *target;
  ctx.mutable_member()->set_is_learner(false);
  ctx.set_is_promote(true);
  raftpb::ConfChange cc;
  cc.set_type(raftpb::ConfChangeAddNode);
  cc.set_node_id(id);
  cc.set_context(ctx.SerializeAsString());
  // The leader checks that the learner is in sync before it takes the entry (RaftNode).
  propose(std::move(cc), std::move(done));
}

void ClusterOps::propose(raftpb::ConfChange cc, Done done) {
  const uint64_t id = waiters_.add(nullptr, done);
  if (id == 0) return done(Status::of(ErrorCode::kStopped));
  cc.set_id(id);
  raft_.propose_conf_change(cc, [this, id](const Status& s) { waiters_.fail(id, s); });
}

void ClusterOps::tick() {
  std::vector<PendingRemoval> due;
  {
    std::lock_guard l(mu_);
    const uint64_t leader = raft_.leader();
    const auto now = clock_.now();
    for (auto it = pending_removals_.begin(); it != pending_removals_.end();) {
      if ((leader != 0 && leader != it->id) || it->deadline <= now) {
        due.push_back(std::move(*it));
        it = pending_removals_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& r : due) {
    raftpb::ConfChange cc;
    cc.set_type(raftpb::ConfChangeRemoveNode);
    cc.set_node_id(r.id);
    propose(std::move(cc), std::move(r.done));
  }
}

void ClusterOps::stop() {
  std::vector<PendingRemoval> left;
  {
    std::lock_guard l(mu_);
    left.swap(pending_removals_);
  }
  for (auto& r : left) r.done(Status::of(ErrorCode::kStopped));
}

}  // namespace outpost::server
