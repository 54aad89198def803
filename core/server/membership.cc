#include "core/server/membership.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "core/common/sha1.h"

namespace outpost::server {

uint64_t derive_member_id(std::vector<std::string> peer_urls, const std::string& token) {
  std::sort(peer_urls.begin(), peer_urls.end());
  std::string b;
  for (const auto& u : peer_urls) b += u;
  b += token;
  return sha1_prefix_u64(b);
}

uint64_t derive_cluster_id(std::vector<uint64_t> ids) {
  std::sort(ids.begin(), ids.end());
  std::string b;
  for (uint64_t id : ids)
    for (int i = 7; i >= 0; --i) b.push_back(char((id >> (8 * i)) & 0xff));
  return sha1_prefix_u64(b);
}

outpostpb::ClusterInfo initial_cluster_info(
    const std::vector<std::pair<std::string, std::vector<std::string>>>& initial_cluster,
    const std::string& token, const std::string& local_name,
    const std::vector<std::string>& local_client_urls) {
  outpostpb::ClusterInfo info;
  std::vector<uint64_t> ids;
  for (const auto& [name, urls] : initial_cluster) {
    auto* m = info.add_members();
    m->set_id(derive_member_id(urls, token));
    m->set_name(name);
    for (const auto& u : urls) m->add_peer_urls(u);
    if (name == local_name) {
      info.set_local_id(m->id());
      for (const auto& u : local_client_urls) m->add_client_urls(u);
    }
    ids.push_back(m->id());
  }
  info.set_cluster_id(derive_cluster_id(ids));
  return info;
}

bool split_url(const std::string& url, std::string* host, int* port) {
  auto p = url.find("://");
  std::string rest = p == std::string::npos ? url : url.substr(p + 3);
  auto colon = rest.rfind(':');
  if (colon == std::string::npos) return false;
  *host = rest.substr(0, colon);
  if (!host->empty() && host->front() == '[') *host = host->substr(1, host->size() - 2);
  if (host->empty()) return false;
  char* end = nullptr;
  const long v = std::strtol(rest.c_str() + colon + 1, &end, 10);
  if (end == rest.c_str() + colon + 1 || (*end != 0 && *end != '/') || v <= 0 || v > 65535)
    return false;
  *port = int(v);
  return true;
}

uint64_t new_member_id(const std::vector<std::string>& peer_urls) {
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
  return derive_member_id(peer_urls, std::to_string(secs));
}

const outpostpb::MemberInfo* find_member(const outpostpb::ClusterInfo& c, uint64_t id) {
  for (const auto& m : c.members())
    if (m.id() == id) return &m;
  return nullptr;
}

bool is_removed(const outpostpb::ClusterInfo& c, uint64_t id) {
  return std::find(c.removed().begin(), c.removed().end(), id) != c.removed().end();
}

namespace {
// Another member (not `except`) already uses one of urls.
bool peer_url_taken(const outpostpb::ClusterInfo& c, const outpostpb::MemberInfo& m,
                    uint64_t except) {
  for (const auto& o : c.members()) {
    if (o.id() == except) continue;
    for (const auto& u : o.peer_urls())
      if (std::find(m.peer_urls().begin(), m.peer_urls().end(), u) != m.peer_urls().end())
        return true;
  }
  return false;
}
}  // namespace

Status validate_conf_change(const outpostpb::ClusterInfo& c, const raftpb::ConfChange& cc,
                            const outpostpb::ConfChangeContext& ctx, size_t max_learners) {
  const uint64_t id = cc.node_id();
  if (id == 0) return Status::of(ErrorCode::kMemberNotFound);
  if (is_removed(c, id)) return Status::of(ErrorCode::kMemberNotFound);  // etcd: ID removed
  const outpostpb::MemberInfo* m = find_member(c, id);
  switch (cc.type()) {
    case raftpb::ConfChangeAddNode:
    case raftpb::ConfChangeAddLearnerNode: {
      if (ctx.is_promote()) {
        if (m == nullptr) return Status::of(ErrorCode::kMemberNotFound);
        if (!m->is_learner()) return Status::of(ErrorCode::kMemberNotLearner);
        return Status::ok();
      }
      if (m != nullptr) return Status::of(ErrorCode::kMemberExist);
      if (peer_url_taken(c, ctx.member(), 0)) return Status::of(ErrorCode::kPeerUrlExist);
      if (cc.type() == raftpb::ConfChangeAddLearnerNode) {
        size_t learners = 0;
        for (const auto& o : c.members()) learners += o.is_learner() ? 1 : 0;
        if (learners + 1 > max_learners) return Status::of(ErrorCode::kTooManyLearners);
      }
      return Status::ok();
    }
    case raftpb::ConfChangeRemoveNode:
      if (m == nullptr) return Status::of(ErrorCode::kMemberNotFound);
      return Status::ok();
    case raftpb::ConfChangeUpdateNode:
      if (m == nullptr) return Status::of(ErrorCode::kMemberNotFound);
      if (peer_url_taken(c, ctx.member(), id)) return Status::of(ErrorCode::kPeerUrlExist);
      return Status::ok();
    default: return Status::internal("unknown conf change type");
  }
}

void apply_conf_change(outpostpb::ClusterInfo* c, const raftpb::ConfChange& cc,
                       const outpostpb::ConfChangeContext& ctx) {
  const uint64_t id = cc.node_id();
  auto* members = c->mutable_members();
  auto it =
      std::find_if(members->begin(), members->end(), [&](const auto& m) { return m.id() == id; });
  switch (cc.type()) {
    case raftpb::ConfChangeAddNode:
    case raftpb::ConfChangeAddLearnerNode:
      if (ctx.is_promote()) {
        if (it != members->end()) it->set_is_learner(false);
        return;
      }
      if (it == members->end()) {
        auto* m = c->add_members();
        m->set_id(id);
        *m->mutable_peer_urls() = ctx.member().peer_urls();
        m->set_is_learner(cc.type() == raftpb::ConfChangeAddLearnerNode);
      }
      return;
    case raftpb::ConfChangeRemoveNode:
      if (it != members->end()) members->erase(it);
      if (!is_removed(*c, id)) c->add_removed(id);
      return;
    case raftpb::ConfChangeUpdateNode:
      if (it != members->end()) *it->mutable_peer_urls() = ctx.member().peer_urls();
      return;
    default: return;
  }
}

raftpb::ConfState conf_state_of(const outpostpb::ClusterInfo& c) {
  raftpb::ConfState cs;
  for (const auto& m : c.members()) {
    if (m.is_learner())
      cs.add_learners(m.id());
    else
      cs.add_voters(m.id());
  }
  return cs;
}

std::string id_hex(uint64_t id) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(id));
  return buf;
}

}  // namespace outpost::server
