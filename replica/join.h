#pragma once
// Self-join ([replica] join): a replica asks the core to add it as a learner, instead of an
// operator running `member add --learner` first.
//
// ask_to_join tries each listed client URL in turn with MemberAdd (learner, this member's peer
// URLs), marked with the kSelfJoinHeader metadata so the member dials the new peer URL before
// adding it (an unreachable URL is refused, and nothing is added). The caller holds its peer
// port meanwhile (transport::Transport::PortHold). On success the answer's member list becomes
// the --initial-cluster of a member joining an existing cluster. A URL that cannot be reached
// is skipped, and so is an answer that only says the core is not ready (no leader yet, not
// enough started members): the whole list is tried again every half second until `until`. A
// member's refusal (the peer URL unreachable, too many learners, ...) ends it with that
// member's error.
//
// leave undoes it: a replica that cannot get in within join_timeout_s removes its own entry, so
// a misconfigured replica never leaves a dead member behind.

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/common/status.h"

namespace grpc {
class ChannelCredentials;
}

namespace outpost::replica {

struct Joined {
  uint64_t id = 0;  // this member's id, as the cluster recorded it
  std::vector<std::pair<std::string, std::vector<std::string>>> initial_cluster;
  std::string via;  // the client URL that took the request
};

// With auth enabled at the core, MemberAdd and MemberRemove need root: the calls are made as
// `user` ("name" or "name:password", as etcdctl's --user), authenticating at each member asked.
struct JoinAuth {
  std::string user;
  std::string password;
};

// client_urls: "http://host:port" or "https://host:port" of core members; https ones are dialled
// with https_credentials (api::channel_credentials from this member's client TLS files).
Result<Joined> ask_to_join(const std::vector<std::string>& client_urls, const std::string& name,
                           const std::vector<std::string>& peer_urls,
                           std::chrono::steady_clock::time_point until,
                           const std::shared_ptr<grpc::ChannelCredentials>& https_credentials,
                           const JoinAuth& auth = {});

// Removes member id through any of client_urls.
Status leave(const std::vector<std::string>& client_urls, uint64_t id,
             std::chrono::milliseconds timeout,
             const std::shared_ptr<grpc::ChannelCredentials>& https_credentials,
             const JoinAuth& auth = {});

// Whether data_dir already holds a member's data (a restart: no self-join).
bool has_member_data(const std::string& data_dir);

}  // namespace outpost::replica
