// Whole-config checks, run once every source has been applied.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "config/config.h"

namespace outpost::config::detail {

// Fills the values etcd derives (data dir from the name, initial cluster
// from the name and advertise peer URLs, --debug -> debug level, a zero
// snapshot count -> the default; replica.join -> a learner joining an
// existing cluster), then checks the result. set_flags holds
// the flag names that any source set explicitly. Returns "" or one message.
std::string finalize_and_validate(Config& config, const std::set<std::string>& set_flags);

// What a valid config does that the user may not expect (etcd's warnings):
// peer certificates beside http listen peer URLs, auto TLS beside certificates.
std::vector<std::string> peer_security_warnings(const Config& config);

}  // namespace outpost::config::detail
