#include "replica/status.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace outpost::replica {
namespace {

std::string hex(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "%llx", static_cast<unsigned long long>(v));
  return b;
}

}  // namespace

std::string status_json(server::Member& m, const config::ReplicaConfig& c) {
  const auto lag = m.replica_lag();
  const auto n = m.counters();
  const bool learner = m.is_learner();
  // A voter is not behind anyone: it has what it applied.
  const uint64_t commit =
      learner ? lag.leader_commit : std::max(lag.leader_commit, m.applied_index());
  long long lag_ms = 0;
  if (learner) {
    lag_ms = lag.time == Clock::duration::max()
                 ? -1
                 : std::chrono::duration_cast<std::chrono::milliseconds>(lag.time).count();
  }
  std::string j = "{";
  auto field = [&j](const char* k, const std::string& v, bool quote) {
    if (j.size() > 1) j += ",";
    j += "\"";
    j += k;
    j += "\":";
    j += quote ? "\"" + v + "\"" : v;
  };
  field("role", learner ? "learner" : "voter", true);
  field("read_policy", config::to_string(c.read_policy), true);
  field("writes", config::to_string(c.writes), true);
  field("promote", config::to_string(c.promote), true);
  field("member_id", hex(m.member_id()), true);
  field("leader_id", hex(m.leader_id()), true);
  field("applied_index", std::to_string(m.applied_index()), false);
  field("leader_commit", std::to_string(commit), false);
  field("revision", std::to_string(m.store().current_revision()), false);
  field("leader_revision", std::to_string(learner ? lag.leader_revision : lag.revision), false);
  field("lag_entries", std::to_string(learner ? lag.entries : 0), false);
  field("lag_revisions", std::to_string(learner ? lag.revisions : 0), false);
  field("lag_ms", std::to_string(lag_ms), false);
  std::string counters = "{";
  auto counter = [&counters](const char* k, uint64_t v) {
    if (counters.size() > 1) counters += ",";
    counters += "\"" + std::string(k) + "\":" + std::to_string(v);
  };
  counter("read_index_rounds_sent", n.raft.read_index_rounds_sent);
  counter("read_index_requests_answered", n.raft.read_index_requests_answered);
  counter("forwarded_calls_sent", n.forwarded_calls_sent);
  counter("forwarded_calls_answered", n.forwarded_calls_answered);
  counter("peer_messages_sent", n.raft.peer_messages_sent);
  counters += "}";
  field("counters", counters, false);
  j += "}\n";
  return j;
}

}  // namespace outpost::replica
