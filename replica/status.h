#pragma once
// The replica status a member reports at GET /replica on its client URL: its role, its
// [replica] settings, how far it is behind the leader and what it did on the peer network.
#include <string>

#include "config/config.h"
#include "core/server/member.h"

namespace outpost::replica {

// One JSON object (see replica/README.md for the fields).
std::string status_json(server::Member& m, const config::ReplicaConfig& c);

}  // namespace outpost::replica
