#pragma once
// A deterministic randomized simulation of an Outpost Raft group.
//
// One seed fixes everything: the cluster shape (3 or 5 voters, 0-2 learners, spare members that
// join later), the options (pre-vote, check-quorum), the fault rates, and every event. The world
// is a loop of logical ticks; in each tick every live node ticks, and its Ready is handled exactly
// as the server will (persist entries + hard state + snapshot, then send, then apply, then
// advance). The network drops, delays (reorders), duplicates messages, and is partitioned and
// healed; nodes crash and restart with only what they persisted; clients propose, read with
// ReadIndex, and an operator adds learners, promotes them, removes members and transfers
// leadership. After each step the checker verifies:
//   1. election safety: at most one leader per term;
//   2. state machine safety: no two nodes apply different entries at one index (and every node
//      applies a gap-free sequence);
//   3. leader completeness: every entry known committed is in the log of every later leader;
//   4. linearizable reads: a read index is never below the highest commit index observed before
//      the read was requested;
// and, after a final fault-free period, liveness: one leader, every live member applied the same
// entries.

#include <cstdint>
#include <string>

namespace outpost::raft::sim {

struct Options {
  std::uint64_t seed = 1;
  int ticks = 400;       // ticks with faults
  int calm_ticks = 200;  // fault-free ticks at the end (liveness)
  bool verbose = false;  // print every event (for replaying a failing seed)
};

struct Stats {
  std::uint64_t messages = 0, dropped = 0, duplicated = 0, crashes = 0, partitions = 0;
  std::uint64_t elections = 0, committed = 0, reads = 0, snapshots = 0, snapshots_sent = 0;
  std::uint64_t conf_changes = 0, promotions = 0, removals = 0, transfers = 0;
};

struct Result {
  bool ok = true;
  std::string failure;  // what broke, when
  std::string shape;    // cluster shape and options chosen by the seed
  Stats stats;
};

Result run(const Options& o);

}  // namespace outpost::raft::sim
