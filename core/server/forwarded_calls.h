#pragma once
// ForwardedCalls: client calls a learner forwards to the leader ([replica] writes = forward),
// over the peer connection (RaftNode::call_leader, service CLIENT_CALL), answered as the leader
// answers them.
//
// At most once: an attempt that found no leader, or reached a member that no longer leads, did
// not run, so it is queued and sent again by retry() (run by housekeeping) until a leader
// takes it or the request timeout passes. An attempt that reached the leader but got no answer
// in time may have run; it is never sent again, and the client gets "request timed out", as
// from a leader that lost a proposal. An answer carries the leader's applied index: the call
// completes once this member has applied as much (wait_applied), so the client then reads its
// own write here. Thread-safe.

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "core/common/clock.h"
#include "core/common/status.h"
#include "outpostpb/internal.pb.h"

namespace outpost::server {

class ForwardedCalls {
 public:
  using Done = std::function<void(const Status&, outpostpb::ForwardedAnswer)>;
  using CallDone = std::function<void(const Status&, std::string answer)>;
  // Sends payload to the leader, waiting up to timeout; done gets its answer, kNoLeader or
  // kTimeout.
  using CallLeader =
      std::function<void(std::string payload, Clock::duration timeout, CallDone done)>;
  // Runs done once this member has applied up to index.
  using WaitApplied = std::function<void(uint64_t index, std::function<void(const Status&)> done)>;

  ForwardedCalls(const Clock& clock, Clock::duration timeout, CallLeader call_leader,
                 WaitApplied wait_applied)
      : clock_(clock),
        timeout_(timeout),
        call_leader_(std::move(call_leader)),
        wait_applied_(std::move(wait_applied)) {}

  void forward(outpostpb::ForwardedCall call, Done done);
  void retry();
  void stop();

  uint64_t sent() const {
    std::lock_guard l(mu_);
    return sent_;
  }

 private:
  struct Call {
    std::string payload;
    Done done;
    Clock::time_point deadline;
  };
  void attempt(Call c);

  const Clock& clock_;
  const Clock::duration timeout_;
  const CallLeader call_leader_;
  const WaitApplied wait_applied_;
  mutable std::mutex mu_;
  bool stopped_ = false;
  uint64_t sent_ = 0;
  std::vector<Call> queued_;
};

}  // namespace outpost::server
