#include "core/server/quota.h"

#include <algorithm>

namespace outpost::server {

namespace {
constexpr int64_t kKvOverhead = 256;    // etcd's estimate of a key's metadata
constexpr int64_t kLeaseOverhead = 64;  // etcd's estimate of a lease
}  // namespace

int64_t quota_cost(const etcdserverpb::PutRequest& r) {
  return kKvOverhead + int64_t(r.key().size()) + int64_t(r.value().size());
}

int64_t quota_cost(const etcdserverpb::TxnRequest& r) {
  // Top-level puts only, as etcd's costTxn.
  auto branch = [](const auto& ops) {
    int64_t n = 0;
    for (const auto& op : ops)
      if (op.has_request_put()) n += quota_cost(op.request_put());
    return n;
  };
  return std::max(branch(r.success()), branch(r.failure()));
}

int64_t quota_cost(const outpostpb::Request& req) {
  switch (req.op_case()) {
    case outpostpb::Request::kPut: return quota_cost(req.put());
    case outpostpb::Request::kTxn: return quota_cost(req.txn());
    case outpostpb::Request::kLeaseGrant: return kLeaseOverhead;
    default: return 0;
  }
}

}  // namespace outpost::server
