// Member's membership side: joining an existing cluster, etcd's Cluster service operations
// (with --strict-reconfig-check) and applying committed conf changes. See member.h.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "core/common/log.h"
#include "core/server/member.h"
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

Status Member::join_cluster() {
  // etcd asks the peers named in --initial-cluster what the cluster is; so do we, over the peer
  // port. The member must have been added (member add) already: its peer URLs name it.
  std::vector<std::string> urls;
  for (const auto& [name, us] : opts_.initial_cluster)
    if (name != opts_.name)
      for (const auto& u : us) urls.push_back(u);
  if (urls.empty())
    return {ErrorCode::kInternal,
            "--initial-cluster-state existing: --initial-cluster names no other member to join"};
  std::string last_error;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  outpostpb::ClusterInfo got;
  bool have = false;
  while (!have && std::chrono::steady_clock::now() < give_up) {
    for (const auto& u : urls) {
      std::string host;
      int port = 0;
      if (!split_url(u, &host, &port)) {
        last_error = "bad peer URL " + u;
        continue;
      }
      auto r = transport::Transport::query_cluster(host, port, 2000);
      if (r && got.ParseFromString(r.value()) && got.cluster_id() != 0) {
        have = true;
        break;
      }
      last_error = r ? "unreadable answer from " + u : r.status().message();
    }
    if (!have) std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  if (!have)
    return {ErrorCode::kIo, "cannot fetch cluster info from peer urls: " + last_error};
  std::vector<std::string> mine = opts_.advertise_peer_urls;
  std::sort(mine.begin(), mine.end());
  uint64_t id = 0;
  for (const auto& m : got.members()) {
    std::vector<std::string> theirs(m.peer_urls().begin(), m.peer_urls().end());
    std::sort(theirs.begin(), theirs.end());
    if (theirs == mine) id = m.id();
  }
  if (id == 0) {
    std::string list;
    for (const auto& u : mine) list += (list.empty() ? "" : ",") + u;
    return {ErrorCode::kInternal, "cannot join cluster " + id_hex(got.cluster_id()) +
                                      ": no member has peer URLs " + list +
                                      " (add it first: etcdctl member add " + opts_.name +
                                      " --peer-urls=" + list + ")"};
  }
  got.set_local_id(id);
  for (auto& m : *got.mutable_members())
    if (m.id() == id) m.set_name(opts_.name);
  cluster_ = got;
  OUTPOST_LOG(kInfo, "joining existing cluster", log::kv_hex("cluster-id", got.cluster_id()),
              log::kv_hex("member-id", id), log::kv("members", got.members_size()));
  return Status::ok();
}

void Member::cluster_changed() {
  const auto* m = find_member(cluster_, cluster_.local_id());
  learner_ = m != nullptr && m->is_learner();
}

size_t Member::voters_connected(const outpostpb::ClusterInfo& c) const {
  // Peers connected for at least etcd's HealthInterval, plus this member if it votes.
  const auto active = raft_->active_peers();
  const auto since = std::chrono::steady_clock::now() - std::chrono::seconds(5);
  size_t n = 0;
  for (const auto& m : c.members()) {
    if (m.is_learner()) continue;
    if (m.id() == member_id()) {
      ++n;
      continue;
    }
    auto it = active.find(m.id());
    if (it != active.end() && it->second <= since) ++n;
  }
  return n;
}

bool Member::connected_to_all_voters(const outpostpb::ClusterInfo& c) const {
  return voters_connected(c) == count_voters(c).voters;
}

void Member::propose_conf_change(raftpb::ConfChange cc, Done done) {
  cc.set_id(next_id_.fetch_add(1));
  const uint64_t id = cc.id();
  if (!add_waiter(id, nullptr, done)) return done(Status::of(ErrorCode::kStopped));
  raft_->propose_conf_change(cc, [this, id](const Status& s) { fail_waiter(id, s); });
}


void Member::add_member(std::vector<std::string> peer_urls, bool learner, AddDone done) {
  if (!valid_peer_urls(peer_urls)) return done(Status::of(ErrorCode::kMemberBadUrls), 0);
  const outpostpb::ClusterInfo c = cluster();
  if (opts_.strict_reconfig_check && !learner) {
    // etcd: the voters that have started must still make a quorum with the new one counted ...
    const VoterCount n = count_voters(c);
    const size_t members = n.voters + 1;
    if (!(n.started == 1 && members == 2) && n.started < members / 2 + 1)
      return done(Status::of(ErrorCode::kMemberNotEnoughStarted), 0);
    // ... and this member must have been connected to every voter for a while: a voter added
    // while one is down could leave the cluster without a quorum.
    if (!connected_to_all_voters(c)) return done(Status::of(ErrorCode::kUnhealthy), 0);
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
  propose_conf_change(std::move(cc), [done = std::move(done), id](const Status& s) { done(s, id); });
}

void Member::remove_member(uint64_t id, Done done) {
  const outpostpb::ClusterInfo c = cluster();
  const auto* target = find_member(c, id);
  if (target == nullptr) return done(Status::of(ErrorCode::kMemberNotFound));
  if (opts_.strict_reconfig_check && !target->is_learner()) {
    const VoterCount rest = count_voters(c, id);
    if (rest.started < rest.voters / 2 + 1)
      return done(Status::of(ErrorCode::kMemberNotEnoughStarted));
    // A member that is down is safe to remove; otherwise the rest must still make a quorum.
    const auto active = raft_->active_peers();
    const bool down = id != member_id() && active.find(id) == active.end();
    if (!down && voters_connected(c) - 1 < 1 + rest.voters / 2)
      return done(Status::of(ErrorCode::kUnhealthy));
  }
  if (id == leader_id() && !target->is_learner()) {
    // Hand leadership over first, so the cluster is not left without a leader for an election
    // timeout: to the most caught-up other voter (as the leader sees it), else to us.
    uint64_t to = 0, best = 0;
    const auto match = raft_->match_indexes();
    for (const auto& m : c.members()) {
      if (m.is_learner() || m.id() == id) continue;
      auto it = match.find(m.id());
      const uint64_t mi = it == match.end() ? 0 : it->second;
      if (to == 0 || mi > best || (m.id() == member_id() && mi == best)) {
        to = m.id();
        best = mi;
      }
    }
    if (to != 0) {
      OUTPOST_LOG(kInfo, "removing the leader: transferring leadership first",
                  log::kv_hex("leader", id), log::kv_hex("transferee", to));
      raft_->transfer_leadership(to);
      std::lock_guard l(mu_);
      pending_removals_.push_back(
          {id, std::move(done),
           std::chrono::steady_clock::now() + std::chrono::milliseconds(2 * opts_.election_timeout_ms)});
      return;
    }
  }
  raftpb::ConfChange cc;
  cc.set_type(raftpb::ConfChangeRemoveNode);
  cc.set_node_id(id);
  propose_conf_change(std::move(cc), std::move(done));
}

void Member::update_member(uint64_t id, std::vector<std::string> peer_urls, Done done) {
  if (!valid_peer_urls(peer_urls)) return done(Status::of(ErrorCode::kMemberBadUrls));
  const outpostpb::ClusterInfo c = cluster();
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
  propose_conf_change(std::move(cc), std::move(done));
}

void Member::promote_member(uint64_t id, Done done) {
  const outpostpb::ClusterInfo c = cluster();
  const auto* target = find_member(c, id);
  if (target == nullptr) return done(Status::of(ErrorCode::kMemberNotFound));
  if (!target->is_learner()) return done(Status::of(ErrorCode::kMemberNotLearner));
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
  propose_conf_change(std::move(cc), std::move(done));
}

void Member::apply_conf_change_entry(const raftpb::Entry& e) {
  raftpb::ConfChange cc;
  outpostpb::ConfChangeContext ctx;
  if (!cc.ParseFromString(e.data()) || !ctx.ParseFromString(cc.context())) {
    OUTPOST_LOG(kFatal, "undecodable conf change in raft log", log::kv("index", e.index()));
    std::abort();
  }
  Waiter w = take_waiter(cc.id());
  // The same verdict as the raft thread's (RaftNode::on_conf_change_committed): same checks,
  // same membership before this entry.
  bool removed_self = false;
  Status v;
  {
    mvcc::WriteTxn txn(*store_);
    txn.set_consistent_index(e.index());
    {
      std::lock_guard l(cluster_mu_);
      v = validate_conf_change(cluster_, cc, ctx, opts_.max_learners);
      if (v) {
        apply_conf_change(&cluster_, cc, ctx);
        cluster_changed();
        removed_self = cc.type() == raftpb::ConfChangeRemoveNode && cc.node_id() == cluster_.local_id();
        txn.put_meta(kMetaCluster, cluster_.SerializeAsString());
      }
    }
    Status committed = txn.end();
    if (!committed) {
      OUTPOST_LOG(kFatal, "failed to commit applied entry", log::kv("index", e.index()),
                  log::kv("error", committed.message()));
      std::abort();
    }
  }
  applied_index_ = e.index();
  if (w.done) w.done(v);
  if (removed_self && !removed_.exchange(true)) {
    OUTPOST_LOG(kWarn, "the member has been permanently removed from the cluster",
                log::kv_hex("member-id", member_id()));
    if (opts_.on_removed) opts_.on_removed();
  }
}

}  // namespace outpost::server
