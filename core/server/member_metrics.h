#pragma once
// MemberMetrics: a member's state as etcd's server metrics (etcd_server_*, etcd_mvcc_* sizes) and
// Outpost's own (outpost_replica_lag_*), computed at scrape time from what the member already
// knows (leader, commit and applied index, key count, database size), so nothing is added to the
// write path. What must be counted as it happens is counted where it happens: leader changes and
// failed proposals in member.cc, operations in core/mvcc, fsyncs in core/storage, peer bytes in
// core/transport, snapshot streams in snapshot_stream.cc.
//
// Registers in metrics::default_registry() for as long as it lives; create it after the member
// and destroy it before.
#include <vector>

#include "core/common/metrics.h"

namespace outpost::server {

class Member;

// Counted by Member as proposals start and end (etcd_server_proposals_pending, _failed_total).
metrics::Gauge& proposals_pending();
metrics::Counter& proposals_failed();
metrics::Counter& leader_changes_seen();

class MemberMetrics {
 public:
  explicit MemberMetrics(Member& m);
  MemberMetrics(const MemberMetrics&) = delete;
  MemberMetrics& operator=(const MemberMetrics&) = delete;

 private:
  std::vector<metrics::Registration> regs_;
};

}  // namespace outpost::server
