#pragma once
// ReadIndexRounds: linearizable reads batched into ReadIndex rounds (raft thread).
//
// At most two rounds are in flight. A round is one ReadIndex request to Raft (on a follower or
// a learner, forwarded to the leader), answered with the leader's commit index once a quorum
// confirmed its leadership. A read starts a round at once unless two are out; then it waits,
// with every read arriving meanwhile, for the next one, which starts as soon as an answer comes.
// So a burst of reads costs one or two round trips to the leader, however many reads it holds,
// and the leader sees one request per round. Two, not one: with one, clients that read again as
// soon as they are answered settle into two halves, each waiting for the other's round before
// its own (two round trips a read); with two, each half has a round of its own.
//
// A round refused at once (no leader) answers its reads with kNoLeader. A round unanswered
// within the round timeout (an election timeout: the request or its answer was lost, or the
// leader is gone) is given up: its reads join the next round, until a read has waited the read
// timeout (the request timeout), when it is answered with kTimeout. What the caller does with
// the index (wait until applied) is ReadBarrier's.

#include <atomic>
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

  ReadIndexRounds(const Clock& clock, Clock::duration round_timeout, Clock::duration read_timeout,
                  uint64_t self)
      : clock_(clock), round_timeout_(round_timeout), read_timeout_(read_timeout), self_(self) {}

  // Adds reads to the next round; starts it unless two are in flight.
  void start(raft::RawNode& node, std::vector<OnRead> reads);
  // Read states from a Ready: answers their rounds, then starts the next.
  void resolve(raft::RawNode& node, const std::vector<raft::ReadState>& states);
  // Gives up the rounds in flight for longer than the round timeout (see above).
  void expire(raft::RawNode& node);
  void fail_all(const Status& s);

  // Rounds started so far (thread-safe).
  uint64_t rounds_started() const { return rounds_started_.load(std::memory_order_relaxed); }

 private:
  static constexpr size_t kMaxInFlight = 2;
  struct Read {
    OnRead done;
    Clock::time_point since;
  };
  struct Round {
    std::vector<Read> reads;
    Clock::time_point since;
  };
  void start_round(raft::RawNode& node);

  const Clock& clock_;
  const Clock::duration round_timeout_;
  const Clock::duration read_timeout_;
  const uint64_t self_;
  std::map<std::string, Round> in_flight_;  // by request context
  std::vector<Read> next_;                  // the reads waiting for the next round
  uint64_t seq_ = 0;
  std::atomic<uint64_t> rounds_started_{0};
};

}  // namespace outpost::server
