#pragma once
// ReadIndexRounds: linearizable reads batched into ReadIndex rounds (raft thread).
//
// Every read that reached the raft thread in one wake-up shares one round: one ReadIndex
// request to Raft (on a follower, forwarded to the leader), answered with the leader's commit
// index once a quorum confirmed its leadership. A round refused at once (no leader) answers
// kNoLeader; one unanswered within the timeout (an election timeout: the leader was lost)
// answers kTimeout. What the caller does with the index (wait until applied) is ReadBarrier's.

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/common/clock.h"
#include "core/common/status.h"
#include "core/raft/raw_node.h"

namespace outpost::server {

class ReadIndexRounds {
 public:
  using OnRead = std::function<void(const Status&, uint64_t index)>;

  ReadIndexRounds(const Clock& clock, Clock::duration timeout, uint64_t self)
      : clock_(clock), timeout_(timeout), self_(self) {}

  // Asks Raft for one read index on behalf of every read in reads.
  void start(raft::RawNode& node, std::vector<OnRead> reads);
  // Read states from a Ready: answers their rounds.
  void resolve(const std::vector<raft::ReadState>& states);
  void expire();
  void fail_all(const Status& s);

 private:
  struct Round {
    std::vector<OnRead> waiters;
    Clock::time_point since;
  };
  const Clock& clock_;
  const Clock::duration timeout_;
  const uint64_t self_;
  std::map<std::string, Round> rounds_;  // by request context
  uint64_t seq_ = 0;
};

}  // namespace outpost::server
