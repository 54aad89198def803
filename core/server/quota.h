#pragma once
// The space quota (--quota-backend-bytes), as etcd's backendQuota: a request that would grow
// the store is charged an estimate of what it adds (a put: 256 bytes of metadata plus its key
// and value; a txn: the larger of its success and failure branches' top-level puts; a lease
// grant: 64 bytes) and fits when the store's size (Engine::approximate_size, etcd's backend
// Size) plus that charge stays under the quota. Requests that add nothing (reads, deletes,
// compactions, ...) always fit.
//
// Configured as etcd: 0 = the default quota (2 GiB), negative = no quota.
//
// Where it is checked (as etcd): by the API before proposing (a refused request raises
// NOSPACE through the log and gets "etcdserver: mvcc: database space exceeded"), and again by
// the applier, which applies a request that no longer fits but answers NOSPACE and raises the
// alarm. While NOSPACE is active the applier refuses growing requests (alarms.h).

#include <cstdint>

#include "outpostpb/internal.pb.h"

namespace outpost::server {

class Quota {
 public:
  static constexpr int64_t kDefaultBytes = int64_t(2) << 30;  // etcd's DefaultQuotaBytes
  static constexpr int64_t kMaxBytes = int64_t(8) << 30;      // etcd warns above this

  // configured: --quota-backend-bytes (0: the default, < 0: no quota).
  explicit Quota(int64_t configured)
      : bytes_(configured == 0  ? kDefaultBytes
               : configured < 0 ? 0
                                : configured) {}

  // The quota in bytes; 0 when there is none.
  int64_t bytes() const { return bytes_; }
  // Whether a request costing `cost` fits a store of `size` bytes.
  bool fits(int64_t size, int64_t cost) const {
    return bytes_ == 0 || cost == 0 || size + cost < bytes_;
  }

 private:
  int64_t bytes_;
};

// What a request is charged (0: it does not grow the store).
int64_t quota_cost(const outpostpb::Request& req);
int64_t quota_cost(const etcdserverpb::PutRequest& r);
int64_t quota_cost(const etcdserverpb::TxnRequest& r);

}  // namespace outpost::server
