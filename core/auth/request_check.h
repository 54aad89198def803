#pragma once
// What each request needs from the auth store, as etcd 3.4 decides it (etcdserver/apply_auth.go
// and v3_server.go): Range reads [key, range_end); Put writes key, and reads it with prev_kv,
// and may attach a lease only when the caller may write every key already on that lease;
// DeleteRange writes the range (and reads it with prev_kv); Txn reads every compared range and
// needs each of its operations' permissions (nested txns included: etcd 3.4.23 skips those,
// which lets a nested txn bypass RBAC; we check them); LeaseRevoke writes every attached key;
// auth management needs root. Everything else (Compaction, LeaseGrant, the member's own
// publish) needs no permission in etcd 3.4.
//
// The API checks a request with these before proposing it; the applier checks it again at
// apply time with the identity the proposal carries, against the store as it is then.
#include <functional>
#include <string>
#include <vector>

#include "core/auth/store.h"
#include "etcdserverpb/rpc.pb.h"
#include "outpostpb/internal.pb.h"

namespace outpost::auth {

// The keys attached to a lease (none when the lease does not exist).
using LeaseKeys = std::function<std::vector<std::string>(int64_t lease)>;

Status check_put_request(const AuthStore& as, const AuthInfo& ai, const etcdserverpb::PutRequest& r,
                         const LeaseKeys& lease_keys);
Status check_delete_request(const AuthStore& as, const AuthInfo& ai,
                            const etcdserverpb::DeleteRangeRequest& r);
Status check_txn_request(const AuthStore& as, const AuthInfo& ai, const etcdserverpb::TxnRequest& r,
                         const LeaseKeys& lease_keys);
Status check_lease_revoke(const AuthStore& as, const AuthInfo& ai, int64_t lease,
                          const LeaseKeys& lease_keys);
// Whether a replicated request is auth management (root only).
bool needs_admin(const outpostpb::Request& r);
// The whole check of a replicated request, at apply time.
Status check_request(const AuthStore& as, const AuthInfo& ai, const outpostpb::Request& r,
                     const LeaseKeys& lease_keys);

}  // namespace outpost::auth
