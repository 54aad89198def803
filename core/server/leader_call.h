#pragma once
// LeaderCalls: calls a member makes to the leader outside the Raft log, over the peer
// connection (transport::MessageKind::kLeaderCall and kLeaderCallAnswer), for what only the
// leader can answer: keep-alives reaching a follower or learner, and the client calls a replica
// forwards (outpostpb.LeaderCall.Service says which).
//
// The caller gets the leader's answer, kNoLeader when there is no leader or the member asked
// no longer leads (the call was not run: safe to try again), or kTimeout when no answer came
// within the call's timeout (the call may or may not have run). On the leader itself a call is
// answered without the network.
//
// The leader answers asynchronously: Answer gets a Reply it may run later, on any thread (a
// forwarded write answers once applied); the answer is sent from the raft thread, through
// Defer. Everything else runs on the raft thread (RaftNode), like the transport it sends
// through; a caller's done runs there too, except for a call answered by this member itself,
// whose done runs where the Reply runs.

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "core/common/clock.h"
#include "core/common/status.h"
#include "core/transport/transport.h"
#include "outpostpb/internal.pb.h"

namespace outpost::server {

class LeaderCalls {
 public:
  using Service = outpostpb::LeaderCall::Service;
  using CallDone = std::function<void(const Status&, std::string answer)>;
  // Runs once, on any thread, with the leader's answer.
  using Reply = std::function<void(std::string answer)>;
  // The leader's side: answer a call's payload, now or later, through reply.
  using Answer = std::function<void(Service service, std::string payload, Reply reply)>;
  using Send = std::function<bool(uint64_t to, transport::MessageKind kind, std::string payload)>;
  // Runs fn on the raft thread (drops it once the node stopped).
  using Defer = std::function<void(std::function<void()> fn)>;

  LeaderCalls(const Clock& clock, Clock::duration timeout, Send send, Answer answer,
              Defer defer = nullptr)
      : clock_(clock),
        timeout_(timeout),
        send_(std::move(send)),
        answer_(std::move(answer)),
        defer_(std::move(defer)) {}

  // Calls `leader` (0: none known; self: this member leads) with payload; timeout 0: the
  // default (an election timeout).
  void call(uint64_t leader, bool self, Service service, std::string payload,
            Clock::duration timeout, CallDone done);
  void call(uint64_t leader, bool self, std::string payload, CallDone done) {
    call(leader, self, outpostpb::LeaderCall::LEASE_RENEW, std::move(payload), {}, std::move(done));
  }
  // A peer's call reaching this member; leading: whether it is the leader now.
  void on_call(uint64_t from, const std::string& payload, bool leading);
  // The answer to one of our calls.
  void on_answer(const std::string& payload);
  // Answers the calls older than their timeout with kTimeout.
  void expire();
  // Answers every call still out with s.
  void fail_all(const Status& s);

 private:
  struct Pending {
    CallDone done;
    Clock::time_point deadline;
  };
  const Clock& clock_;
  const Clock::duration timeout_;
  const Send send_;
  const Answer answer_;
  const Defer defer_;
  std::map<uint64_t, Pending> pending_;
  uint64_t seq_ = 0;
};

}  // namespace outpost::server
