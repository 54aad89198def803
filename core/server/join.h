#pragma once
// Joining an existing cluster (--initial-cluster-state existing): etcd asks the peers named in
// --initial-cluster what the cluster is; so do we, over the peer port ("OUTQ", transport.h),
// trying each peer URL for up to 10 s. The member must have been added (member add) already:
// it finds itself in the answer by its peer URLs.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/common/clock.h"
#include "core/common/status.h"
#include "core/transport/tls.h"
#include "outpostpb/internal.pb.h"

namespace outpost::server {

struct JoinOptions {
  std::string name;  // this member's name
  std::vector<std::pair<std::string, std::vector<std::string>>> initial_cluster;
  std::vector<std::string> advertise_peer_urls;  // how the cluster knows this member
  // Peer TLS for https peer URLs; null: the system roots, no client certificate.
  std::shared_ptr<const transport::TlsContext> tls;
};

// The cluster as a peer sees it, with local_id set to this member's id and its name filled in.
Result<outpostpb::ClusterInfo> join_cluster(const JoinOptions& opts,
                                            const Clock& clock = Clock::real());

}  // namespace outpost::server
