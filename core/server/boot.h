#pragma once
// Boot-time recovery of the Raft log, before the raft loop starts.

#include <cstdint>

#include "core/common/status.h"
#include "core/storage/raft_log.h"
#include "outpostpb/internal.pb.h"

namespace outpost::server {

struct ForceNewCluster {
  uint64_t id = 0;                    // this member
  outpostpb::ClusterInfo membership;  // as the state machine holds it at `applied`
  uint64_t applied = 0;
  size_t max_learners = 1;
};

// etcd's --force-new-cluster: entries after the commit index are dropped, and the removal of
// every other member (as of the last committed entry) is appended and marked committed, so the
// member leads a cluster of one once it has applied them (a learner is promoted first).
Status force_new_cluster(storage::DurableLog& log, const ForceNewCluster& opts);

}  // namespace outpost::server
