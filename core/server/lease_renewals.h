#pragma once
// LeaseRenewals: keep-alives reaching a member that is not the leader, forwarded to the leader
// over the peer connection (RaftNode::call_leader), not through the log, as etcd forwards them.
//
// Each attempt waits at most an election timeout (call_leader's limit): long enough for a live
// leader to answer, short enough to try the next one before the client gives up. An attempt
// that found no leader, or whose leader went away, is queued and sent again by retry() (run by
// housekeeping) until a leader answers or the request timeout passes. Renewal is idempotent,
// so a renewal applied by a leader that died before answering does no harm when sent again.
// The leader answers with answer(). Thread-safe.

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "core/common/clock.h"
#include "core/common/status.h"
#include "core/lease/lessor.h"
#include "etcdserverpb/rpc.pb.h"

namespace outpost::server {

class LeaseRenewals {
 public:
  using Done = std::function<void(const Status&)>;
  using CallDone = std::function<void(const Status&, std::string answer)>;
  // Sends payload to the leader; done gets its answer, kNoLeader or kTimeout.
  using CallLeader = std::function<void(std::string payload, CallDone done)>;

  LeaseRenewals(const Clock& clock, Clock::duration timeout, CallLeader call_leader)
      : clock_(clock), timeout_(timeout), call_leader_(std::move(call_leader)) {}

  // Renews lease id through the leader; *resp holds the leader's answer when done runs with ok.
  void renew(int64_t id, etcdserverpb::LeaseKeepAliveResponse* resp, Done done);
  // Sends the queued renewals again.
  void retry();
  // Answers the queued renewals with kStopped; attempts after this are not queued.
  void stop();

  // The leader's side: the answer to a forwarded renewal (ttl 0: expired or revoked).
  static std::string answer(lease::Lessor& lessor, const std::string& payload);

 private:
  struct Renewal {
    int64_t id;
    etcdserverpb::LeaseKeepAliveResponse* resp;
    Done done;
    Clock::time_point deadline;
  };
  void attempt(Renewal r);

  const Clock& clock_;
  const Clock::duration timeout_;
  const CallLeader call_leader_;
  std::mutex mu_;
  bool stopped_ = false;
  std::vector<Renewal> queued_;
};

}  // namespace outpost::server
