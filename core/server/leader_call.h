#pragma once
// LeaderCalls: calls a member makes to the leader outside the Raft log, over the peer
// connection (transport::MessageKind::kLeaderCall and kLeaderCallAnswer), for what only the
// leader can answer and need not be replicated (keep-alives reaching a follower or learner).
//
// The caller gets the leader's answer, kNoLeader when there is no leader or the member asked
// no longer leads, or kTimeout when no answer came within the timeout (an election timeout:
// the leader was lost). On the leader itself a call is answered at once, without the network.
// Raft thread only (RaftNode), like the transport it sends through.

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "core/common/clock.h"
#include "core/common/status.h"
#include "core/transport/transport.h"

namespace outpost::server {

class LeaderCalls {
 public:
  using CallDone = std::function<void(const Status&, std::string answer)>;
  // The leader's answer to a call's payload.
  using Answer = std::function<std::string(const std::string& payload)>;
  using Send = std::function<bool(uint64_t to, transport::MessageKind kind, std::string payload)>;

  LeaderCalls(const Clock& clock, Clock::duration timeout, Send send, Answer answer)
      : clock_(clock), timeout_(timeout), send_(std::move(send)), answer_(std::move(answer)) {}

  // Calls `leader` (0: none known; self: this member leads) with payload.
  void call(uint64_t leader, bool self, std::string payload, CallDone done);
  // A peer's call reaching this member; leading: whether it is the leader now.
  void on_call(uint64_t from, const std::string& payload, bool leading);
  // The answer to one of our calls.
  void on_answer(const std::string& payload);
  // Answers the calls older than the timeout with kTimeout.
  void expire();
  // Answers every call still out with s.
  void fail_all(const Status& s);

 private:
  struct Pending {
    CallDone done;
    Clock::time_point since;
  };
  const Clock& clock_;
  const Clock::duration timeout_;
  const Send send_;
  const Answer answer_;
  std::map<uint64_t, Pending> pending_;
  uint64_t seq_ = 0;
};

}  // namespace outpost::server
