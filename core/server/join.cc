#include "core/server/join.h"

#include <algorithm>
#include <thread>

#include "core/common/log.h"
#include "core/server/membership.h"
#include "core/transport/transport.h"

namespace outpost::server {

Result<outpostpb::ClusterInfo> join_cluster(const JoinOptions& opts, const Clock& clock) {
  // etcd asks the peers named in --initial-cluster what the cluster is; so do we, over the peer
  // port. The member must have been added (member add) already: its peer URLs name it.
  std::vector<std::string> urls;
  for (const auto& [name, us] : opts.initial_cluster)
    if (name != opts.name)
      for (const auto& u : us) urls.push_back(u);
  if (urls.empty())
    return Status(
        ErrorCode::kInternal,
        "--initial-cluster-state existing: --initial-cluster names no other member to join");
  std::string last_error;
  std::shared_ptr<const transport::TlsContext> tls_default;
  const auto give_up = clock.now() + std::chrono::seconds(10);
  outpostpb::ClusterInfo got;
  bool have = false;
  while (!have && clock.now() < give_up) {
    for (const auto& u : urls) {
      std::string host;
      int port = 0;
      if (!split_url(u, &host, &port)) {
        last_error = "bad peer URL " + u;
        continue;
      }
      const transport::TlsContext* tls = nullptr;
      if (u.rfind("https://", 0) == 0) {
        if (!opts.tls) {
          auto def = transport::TlsContext::create({});
          if (!def) return def.status();
          tls_default = def.value();
        }
        tls = opts.tls ? opts.tls.get() : tls_default.get();
      }
      auto r = transport::Transport::query_cluster(host, port, 2000, tls);
      if (r && got.ParseFromString(r.value()) && got.cluster_id() != 0) {
        have = true;
        break;
      }
      last_error = r ? "unreadable answer from " + u : r.status().message();
    }
    if (!have) std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  if (!have)
    return Status(ErrorCode::kIo, "cannot fetch cluster info from peer urls: " + last_error);
  std::vector<std::string> mine = opts.advertise_peer_urls;
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
    return Status(ErrorCode::kInternal, "cannot join cluster " + id_hex(got.cluster_id()) +
                                            ": no member has peer URLs " + list +
                                            " (add it first: etcdctl member add " + opts.name +
                                            " --peer-urls=" + list + ")");
  }
  got.set_local_id(id);
  for (auto& m : *got.mutable_members())
    if (m.id() == id) m.set_name(opts.name);
  OUTPOST_LOG(kInfo, "joining existing cluster", log::kv_hex("cluster-id", got.cluster_id()),
              log::kv_hex("member-id", id), log::kv("members", got.members_size()));
  return got;
}

}  // namespace outpost::server
