#pragma once
// Raft scenarios as text (etcd raft's interaction tests): an environment of RawNodes driven by
// commands read from golden files, printing what happens the way a reader follows an election.
//
// Commands (arguments: positional, or key=value, lists as key=(1,2,3)):
//   log-level debug|info|warn|error|none   lines of the Raft logger printed from now on
//   add-nodes N [voters=(..)] [learners=(..)] [index=I] [pre-vote=true] [check-quorum=true]
//             [read-only=lease] [max-inflight=K] [election-tick=10] [heartbeat-tick=1]
//                       adds N nodes with the next ids; with voters, they boot with that
//                       membership (at a snapshot of index I, term 1, when I > 0), otherwise
//                       empty (they join when a leader sends them a snapshot)
//   campaign ID         ID starts an election (pre-vote first when enabled)
//   propose ID DATA     ID proposes a normal entry
//   propose-conf-change ID CHANGE   CHANGE: vN adds voter N, lN adds learner N, rN removes N
//   transfer-leader from=ID to=ID   asks ID (the leader, or it forwards) to hand over to `to`
//   read-index ID CTX   ID asks for a read index tagged CTX
//   tick-heartbeat ID   ticks ID heartbeat_tick times;  tick-election ID: election_tick times
//                       (the election timeout is not randomized here: it is election_tick)
//   set-randomized-timeout ID T  ID campaigns after T ticks without a leader (until it resets)
//   process-ready ID... handles one Ready of each ID (persist, queue messages, apply, advance)
//   deliver-msgs ID...  steps every queued message addressed to each ID
//   stabilize [ID...]   process-ready and deliver-msgs in rounds until nothing moves
//   isolate ID / heal   from now on drop (print as "dropped:") messages from and to ID / none;
//                       heal drops what is still queued across the partition
//   compact ID INDEX    snapshots ID's storage at INDEX and drops the entries before it
//   raft-log ID         the entries ID persisted;  raft-state: role, term, leader of each node
//   status ID           ID's view of its peers' progress (what a leader tracks)
// After every command the invariants (tests/raft/invariants.h) are checked on every node; a
// broken one is reported by check_failure().

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/raft/raw_node.h"
#include "tests/raft/invariants.h"

namespace outpost::raft::test {

struct Command {
  std::string name;
  std::vector<std::string> args;                       // positional
  std::map<std::string, std::vector<std::string>> kv;  // key=value or key=(a,b)
  static Command parse(const std::string& line);
};

class InteractionEnv {
 public:
  InteractionEnv() = default;
  InteractionEnv(const InteractionEnv&) = delete;
  InteractionEnv& operator=(const InteractionEnv&) = delete;

  // Runs one command; returns what it printed ("ok" when nothing). Throws std::runtime_error on
  // a malformed command.
  std::string handle(const Command& c);
  // "" while every invariant held after every command so far, otherwise the first broken one.
  const std::string& check_failure() const { return failure_; }

 private:
  struct Node {
    std::unique_ptr<MemoryStorage> storage;
    std::unique_ptr<RawNode> node;
    Config config;
  };

  void add_nodes(const Command& c);
  void process_ready(std::uint64_t id);
  void deliver_msgs(std::uint64_t id);
  void stabilize(const std::vector<std::uint64_t>& ids);
  void raft_log(std::uint64_t id);
  void raft_state();
  void status(std::uint64_t id);
  void check_invariants(const std::string& after);
  void print(const std::string& line);
  Node& node(std::uint64_t id);
  void report(Error e);

  std::map<std::uint64_t, Node> nodes_;
  std::vector<raftpb::Message> messages_;  // sent and not yet delivered, in order
  std::set<std::uint64_t> isolated_;
  LogLevel level_ = LogLevel::kDebug;
  bool silent_ = false;
  std::string out_;
  std::string indent_;
  InvariantChecker invariants_;
  std::string failure_;
};

// The etcd-style descriptions used in the output (also handy in test failure messages).
std::string describe_message(const raftpb::Message& m);
std::string describe_entry(const raftpb::Entry& e);

}  // namespace outpost::raft::test
