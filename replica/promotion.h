#pragma once
// Replica promotions (DESIGN.md, replicas): the two ways a learner becomes a voter without an
// operator.
//
// AutoPromotion ([replica] promote = when-caught-up) runs on the replica: once its match index,
// as the leader reports it (outpostpb.LeaderState), has stayed at least 90% of the leader's
// last index (etcd's rule for promotion) for promote_after_s, it asks the leader to promote it
// (a forwarded MemberPromote). Refused (not in sync after all, a change in progress), it tries
// again after the hold has passed anew.
//
// StandbyFailover runs on every member and acts only while it leads: when a voter has been
// unreachable from the leader (no peer connection) for the failover_after_s a standby learner
// published ([replica] promote = standby), the leader promotes that standby, then removes the
// lost voter. Promotion first, so the cluster's fault tolerance never drops below what it was;
// one failover at a time: a second lost voter waits until the first failover is done.
//
// Both are driven by tick(), run by the member's housekeeping (Member::add_periodic), and read
// time from the member's clock.

#include <cstdint>
#include <map>
#include <mutex>

#include "config/config.h"
#include "core/server/member.h"

namespace outpost::replica {

class AutoPromotion {
 public:
  AutoPromotion(server::Member& m, Clock::duration hold) : m_(m), hold_(hold) {}
  void tick();

 private:
  server::Member& m_;
  const Clock::duration hold_;
  std::mutex mu_;
  bool in_sync_ = false;
  Clock::time_point in_sync_since_{};
  bool asking_ = false;
};

class StandbyFailover {
 public:
  explicit StandbyFailover(server::Member& m) : m_(m) {}
  void tick();

 private:
  void remove_lost(uint64_t lost);

  server::Member& m_;
  std::mutex mu_;
  bool leading_ = false;
  std::map<uint64_t, Clock::time_point> last_seen_;  // voter -> when last connected
  bool busy_ = false;                                // a failover is under way
  uint64_t lost_ = 0;  // promoted the standby in its place; its removal is still to be done
};

}  // namespace outpost::replica
