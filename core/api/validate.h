#pragma once
// Request checks done before anything is proposed or read, with etcd's errors: keys present,
// value / lease not given together with ignore_value / ignore_lease, at most max_txn_ops
// operations per txn level, and no key written twice in one txn (etcd's interval rule: a put
// may not hit a key another put or a delete-range in the same txn also touches, except in the
// two exclusive branches of a nested txn).
#include <cstdint>

#include "core/common/status.h"
#include "etcdserverpb/rpc.pb.h"

namespace outpost::api {

Status check_range(const etcdserverpb::RangeRequest& r);
Status check_put(const etcdserverpb::PutRequest& r);
Status check_delete(const etcdserverpb::DeleteRangeRequest& r);
// Op counts, keys and nested requests (the first checks etcd makes on a txn).
Status check_txn(const etcdserverpb::TxnRequest& r, int64_t max_txn_ops);
// Duplicate keys across the txn's branches.
Status check_txn_keys(const etcdserverpb::TxnRequest& r);

}  // namespace outpost::api
