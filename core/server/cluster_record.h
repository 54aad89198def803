#pragma once
// ClusterRecord: the membership as this member's state machine holds it (members, removed ids,
// which one is the local member), shared between the applier, which changes it, and everyone
// who reads it (the API, the Cluster service operations, housekeeping).
//
// The applier persists it under kMetaKey in the meta column family, in the same write as the
// entry that changed it. Readers get copies; is_learner() is kept as an atomic beside the
// record because every client call asks it. Thread-safe.

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string_view>
#include <utility>

#include "core/server/membership.h"
#include "outpostpb/internal.pb.h"

namespace outpost::server {

class ClusterRecord {
 public:
  // The meta key of the persisted record.
  static constexpr std::string_view kMetaKey = "cluster";

  outpostpb::ClusterInfo get() const {
    std::lock_guard l(mu_);
    return info_;
  }
  uint64_t cluster_id() const { return cluster_id_.load(); }
  uint64_t local_id() const { return local_id_.load(); }
  bool is_learner() const { return learner_.load(std::memory_order_relaxed); }

  // Runs fn(record) under the lock and returns what it returns; the derived fields follow.
  template <class Fn>
  auto update(Fn fn) {
    std::lock_guard l(mu_);
    struct Refresh {
      ClusterRecord* r;
      ~Refresh() { r->refresh_locked(); }
    } refresh{this};
    return fn(info_);
  }
  void set(outpostpb::ClusterInfo info) {
    update([&](outpostpb::ClusterInfo& c) { c = std::move(info); });
  }

 private:
  void refresh_locked() {
    cluster_id_ = info_.cluster_id();
    local_id_ = info_.local_id();
    const auto* m = find_member(info_, info_.local_id());
    learner_ = m != nullptr && m->is_learner();
  }

  mutable std::mutex mu_;
  outpostpb::ClusterInfo info_;
  std::atomic<uint64_t> cluster_id_{0}, local_id_{0};
  std::atomic<bool> learner_{false};
};

}  // namespace outpost::server
