#pragma once
// AlarmStore: the cluster's active alarms (etcd's v3alarm store), replicated state like leases
// and the auth store. An alarm is (member id, type); NOSPACE is raised through the log by a
// member whose store passed the space quota (quota.h), and cleared by `etcdctl alarm disarm`
// (an Alarm DEACTIVATE through the log). While NOSPACE is active every member refuses, when it
// applies them, the requests that would grow the store: Put, a Txn with a put, LeaseGrant
// (etcd's "capped" applier); reads, deletes and compactions go on.
//
// Kept in the meta column family (key "alarm", outpostpb.AlarmState), written with the
// consistent index of the entry that changed it, so it survives restarts and travels in state
// snapshots (restore() after one is installed).
//
// Threads: apply() runs on the apply thread; the getters from any thread (a mutex).

#include <mutex>
#include <vector>

#include "core/common/status.h"
#include "core/mvcc/store.h"
#include "core/storage/engine.h"
#include "etcdserverpb/rpc.pb.h"
#include "outpostpb/internal.pb.h"

namespace outpost::server {

class AlarmStore {
 public:
  static constexpr const char* kMetaKey = "alarm";

  // Loads the record (none: no alarm).
  Status restore(const storage::Engine& engine);
  // One Alarm request as etcd's applier answers it: GET lists the alarms of req.alarm (NONE:
  // all); ACTIVATE adds (member, alarm) and answers it (already active: answered again);
  // DEACTIVATE removes it and answers it (not active: empty answer). Changes go into txn.
  void apply(mvcc::WriteTxn& txn, const etcdserverpb::AlarmRequest& req,
             etcdserverpb::AlarmResponse* resp);
  // The active alarms of a type (NONE: all), sorted by type then member id.
  std::vector<etcdserverpb::AlarmMember> get(
      etcdserverpb::AlarmType type = etcdserverpb::NONE) const;
  bool active(etcdserverpb::AlarmType type) const;
  bool any() const;

 private:
  mutable std::mutex mu_;
  outpostpb::AlarmState state_;
};

// etcd's "memberID:<decimal> alarm:<TYPE> " text of an alarm (StatusResponse.errors, logs).
std::string alarm_text(const etcdserverpb::AlarmMember& a);

}  // namespace outpost::server
