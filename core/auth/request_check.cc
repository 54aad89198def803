#include "core/auth/request_check.h"

namespace outpost::auth {

namespace {

Status check_lease_keys(const AuthStore& as, const AuthInfo& ai, int64_t lease,
                        const LeaseKeys& lease_keys) {
  if (lease == 0 || !lease_keys) return Status::ok();
  for (const auto& k : lease_keys(lease)) {
    Status s = as.check_put(ai, k);
    if (!s) return s;
  }
  return Status::ok();
}

Status check_ops(const AuthStore& as, const AuthInfo& ai,
                 const google::protobuf::RepeatedPtrField<etcdserverpb::RequestOp>& ops,
                 const LeaseKeys& lease_keys) {
  for (const auto& op : ops) {
    Status s;
    switch (op.request_case()) {
      case etcdserverpb::RequestOp::kRequestRange:
        s = as.check_range(ai, op.request_range().key(), op.request_range().range_end());
        break;
      case etcdserverpb::RequestOp::kRequestPut:
        // etcd 3.4 checks only the key of a put inside a txn.
        s = as.check_put(ai, op.request_put().key());
        break;
      case etcdserverpb::RequestOp::kRequestDeleteRange: {
        const auto& d = op.request_delete_range();
        if (d.prev_kv()) s = as.check_range(ai, d.key(), d.range_end());
        if (s) s = as.check_delete(ai, d.key(), d.range_end());
        break;
      }
      case etcdserverpb::RequestOp::kRequestTxn:
        s = check_txn_request(as, ai, op.request_txn(), lease_keys);
        break;
      case etcdserverpb::RequestOp::REQUEST_NOT_SET: break;
    }
    if (!s) return s;
  }
  return Status::ok();
}

}  // namespace

Status check_put_request(const AuthStore& as, const AuthInfo& ai, const etcdserverpb::PutRequest& r,
                         const LeaseKeys& lease_keys) {
  Status s = as.check_put(ai, r.key());
  if (s) s = check_lease_keys(as, ai, r.lease(), lease_keys);
  if (s && r.prev_kv()) s = as.check_range(ai, r.key(), {});
  return s;
}

Status check_delete_request(const AuthStore& as, const AuthInfo& ai,
                            const etcdserverpb::DeleteRangeRequest& r) {
  Status s = as.check_delete(ai, r.key(), r.range_end());
  if (s && r.prev_kv()) s = as.check_range(ai, r.key(), r.range_end());
  return s;
}

Status check_txn_request(const AuthStore& as, const AuthInfo& ai, const etcdserverpb::TxnRequest& r,
                         const LeaseKeys& lease_keys) {
  for (const auto& c : r.compare()) {
    Status s = as.check_range(ai, c.key(), c.range_end());
    if (!s) return s;
  }
  Status s = check_ops(as, ai, r.success(), lease_keys);
  if (s) s = check_ops(as, ai, r.failure(), lease_keys);
  return s;
}

Status check_lease_revoke(const AuthStore& as, const AuthInfo& ai, int64_t lease,
                          const LeaseKeys& lease_keys) {
  return check_lease_keys(as, ai, lease, lease_keys);
}

bool needs_admin(const outpostpb::Request& r) {
  switch (r.op_case()) {
    case outpostpb::Request::kAuthEnable:
    case outpostpb::Request::kAuthDisable:
    case outpostpb::Request::kAuthUserAdd:
    case outpostpb::Request::kAuthUserDelete:
    case outpostpb::Request::kAuthUserChangePassword:
    case outpostpb::Request::kAuthUserGrantRole:
    case outpostpb::Request::kAuthUserRevokeRole:
    case outpostpb::Request::kAuthRoleAdd:
    case outpostpb::Request::kAuthRoleDelete:
    case outpostpb::Request::kAuthRoleGrantPermission:
    case outpostpb::Request::kAuthRoleRevokePermission: return true;
    default: return false;
  }
}

Status check_request(const AuthStore& as, const AuthInfo& ai, const outpostpb::Request& r,
                     const LeaseKeys& lease_keys) {
  if (needs_admin(r)) return as.check_admin(ai);
  switch (r.op_case()) {
    case outpostpb::Request::kPut: return check_put_request(as, ai, r.put(), lease_keys);
    case outpostpb::Request::kDeleteRange: return check_delete_request(as, ai, r.delete_range());
    case outpostpb::Request::kTxn: return check_txn_request(as, ai, r.txn(), lease_keys);
    case outpostpb::Request::kLeaseRevoke:
      return check_lease_revoke(as, ai, r.lease_revoke().id(), lease_keys);
    default: return Status::ok();
  }
}

}  // namespace outpost::auth
