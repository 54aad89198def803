#include "core/server/membership.h"

#include <algorithm>
#include <cstdio>

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

std::string id_hex(uint64_t id) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(id));
  return buf;
}

}  // namespace outpost::server
