#pragma once
// Member and cluster ids, derived exactly as etcd derives them, so a cluster started from the
// same flags has the same ids under etcd and under Outpost:
//   member id  = first 8 bytes (big-endian) of SHA-1(sorted peer URLs joined, cluster token)
//   cluster id = first 8 bytes of SHA-1(the sorted member ids, 8 bytes big-endian each)

#include <cstdint>
#include <string>
#include <vector>

#include "core/common/status.h"
#include "outpostpb/internal.pb.h"
#include "raftpb/raft.pb.h"

namespace outpost::server {

uint64_t derive_member_id(std::vector<std::string> peer_urls, const std::string& token);
uint64_t derive_cluster_id(std::vector<uint64_t> member_ids);

// The cluster described by --initial-cluster (name -> peer URLs) and the token; local_id is the
// member called local_name. Clients URLs are known only for the local member at this point.
outpostpb::ClusterInfo initial_cluster_info(
    const std::vector<std::pair<std::string, std::vector<std::string>>>& initial_cluster,
    const std::string& token, const std::string& local_name,
    const std::vector<std::string>& local_client_urls);

// host and port of "http://host:port" (brackets of an IPv6 host removed); false if malformed.
bool split_url(const std::string& url, std::string* host, int* port);

std::string id_hex(uint64_t id);  // "8e9e05c52164694d", as etcd prints ids

// The id of a member added at run time: etcd hashes its peer URLs with the time of the request.
uint64_t new_member_id(const std::vector<std::string>& peer_urls);

// ---- Membership changes, decided the same way on every member.
// A conf change entry is checked against the membership it finds (the one left by the entries
// before it) and, when valid, applied to it. Every member runs the same check on the same
// sequence, so all reach the same verdict; an invalid change is applied to Raft as a no-op.
// max_learners: a member's own limit (etcd checks it at apply time too).
Status validate_conf_change(const outpostpb::ClusterInfo& c, const raftpb::ConfChange& cc,
                            const outpostpb::ConfChangeContext& ctx, size_t max_learners);
void apply_conf_change(outpostpb::ClusterInfo* c, const raftpb::ConfChange& cc,
                       const outpostpb::ConfChangeContext& ctx);
// Voters and learners of c, as Raft's ConfState.
raftpb::ConfState conf_state_of(const outpostpb::ClusterInfo& c);
const outpostpb::MemberInfo* find_member(const outpostpb::ClusterInfo& c, uint64_t id);
bool is_removed(const outpostpb::ClusterInfo& c, uint64_t id);

}  // namespace outpost::server
