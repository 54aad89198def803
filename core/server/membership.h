#pragma once
// Member and cluster ids, derived exactly as etcd derives them, so a cluster started from the
// same flags has the same ids under etcd and under Outpost:
//   member id  = first 8 bytes (big-endian) of SHA-1(sorted peer URLs joined, cluster token)
//   cluster id = first 8 bytes of SHA-1(the sorted member ids, 8 bytes big-endian each)

#include <cstdint>
#include <string>
#include <vector>

#include "outpostpb/internal.pb.h"

namespace outpost::server {

uint64_t derive_member_id(std::vector<std::string> peer_urls, const std::string& token);
uint64_t derive_cluster_id(std::vector<uint64_t> member_ids);

// The cluster described by --initial-cluster (name -> peer URLs) and the token; local_id is the
// member called local_name. Clients URLs are known only for the local member at this point.
outpostpb::ClusterInfo initial_cluster_info(
    const std::vector<std::pair<std::string, std::vector<std::string>>>& initial_cluster,
    const std::string& token, const std::string& local_name,
    const std::vector<std::string>& local_client_urls);

std::string id_hex(uint64_t id);  // "8e9e05c52164694d", as etcd prints ids

}  // namespace outpost::server
