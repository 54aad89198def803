#pragma once
// ClusterOps: etcd's Cluster service operations on this member (member add, remove, update,
// promote), each a conf change proposed through Raft and answered once applied here
// (Applier), with etcd's errors when refused.
//
// Before proposing, the checks of etcd's --strict-reconfig-check (enough started voters; this
// member connected to every voter for etcd's HealthInterval), then the membership rules every
// member applies (membership.h), for a prompt answer. Removing the leader hands leadership to
// the most caught-up other voter first; the removal is proposed once leadership moved, or
// after two election timeouts (tick(), run by housekeeping). Thread-safe.

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "core/common/clock.h"
#include "core/common/status.h"
#include "core/server/cluster_record.h"
#include "core/server/raft_node.h"
#include "core/server/waiters.h"

namespace outpost::server {

class ClusterOps {
 public:
  using Done = std::function<void(const Status&)>;
  using AddDone = std::function<void(const Status&, uint64_t id)>;

  struct Options {
    size_t max_learners = 1;
    bool strict_reconfig_check = true;
    Clock::duration election_timeout = std::chrono::seconds(1);
  };

  ClusterOps(const Clock& clock, const ClusterRecord& cluster, RaftNode& raft, Waiters& waiters,
             Options opts)
      : clock_(clock), cluster_(cluster), raft_(raft), waiters_(waiters), opts_(opts) {}

  void add_member(std::vector<std::string> peer_urls, bool learner, AddDone done);
  void remove_member(uint64_t id, Done done);
  void update_member(uint64_t id, std::vector<std::string> peer_urls, Done done);
  void promote_member(uint64_t id, Done done);

  // Proposes the removals of a former leader whose leadership has moved (or whose hand-over
  // timed out).
  void tick();
  // Answers pending removals with kStopped.
  void stop();

 private:
  void propose(raftpb::ConfChange cc, Done done);
  // Voters of c connected for etcd's HealthInterval, this member included if it votes.
  size_t voters_connected(const outpostpb::ClusterInfo& c) const;

  const Clock& clock_;
  const ClusterRecord& cluster_;
  RaftNode& raft_;
  Waiters& waiters_;
  const Options opts_;

  struct PendingRemoval {  // removal of the leader, waiting for leadership to move
    uint64_t id;
    Done done;
    Clock::time_point deadline;
  };
  std::mutex mu_;
  std::vector<PendingRemoval> pending_removals_;
};

}  // namespace outpost::server
