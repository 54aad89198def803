#pragma once
// ReadIndexRounds: linearizable reads batched into ReadIndex rounds (raft thread).
//
// A round is one ReadIndex request to Raft (on a follower or a learner, forwarded to the
// leader), answered with the leader's commit index once a quorum confirmed its leadership; every
// read waiting when a round starts joins it. A round starts at once when fewer than two are in
// flight, or when the last one started at least a gap ago; otherwise the reads wait for the
// next start: an answer, or the gap's end (wake_at(), which the raft loop arms a timer for). The
// gap is a quarter of the last round's round trip (1 to 50 ms; 5 ms before any answer), so a
// read waits one round trip and a quarter at most, however many reads come, and the leader
// sees at most about six requests per round trip from each member, whatever the load. Not just
// one round in flight, as etcd keeps:
// clients that read again as soon as they are answered would settle into halves that each wait
// for the other's round before their own (two round trips a read behind a slow link).
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
#include <optional>
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

  // Adds reads to the next round; starts it if it may start now.
  void start(raft::RawNode& node, std::vector<OnRead> reads);
  // Read states from a Ready: answers their rounds, then starts the next.
  void resolve(raft::RawNode& node, const std::vector<raft::ReadState>& states);
  // Gives up the rounds in flight for longer than the round timeout (see above).
  void expire(raft::RawNode& node);
  void fail_all(const Status& s);
  // Starts the waiting round if its time has come (the raft loop's timer, see wake_at()).
  void poll(raft::RawNode& node);
  // When waiting reads may start a round, if they wait for the gap's end; nullopt: nothing to
  // wake for (no reads waiting, or an answer will start their round).
  std::optional<Clock::time_point> wake_at() const;

  // Rounds started so far (thread-safe).
  uint64_t rounds_started() const { return rounds_started_.load(std::memory_order_relaxed); }

 private:
  static constexpr size_t kFreeInFlight = 2;
  bool may_start() const;
  Clock::duration gap() const;
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
  Clock::time_point last_start_{};
  Clock::duration round_trip_{};  // of the last round answered; 0: none yet
  std::atomic<uint64_t> rounds_started_{0};
};

}  // namespace outpost::server
