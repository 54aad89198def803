#include "core/common/status.h"

namespace outpost {

Status Status::of(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk: return {};
    case ErrorCode::kEmptyKey: return {code, "etcdserver: key is not provided"};
    case ErrorCode::kKeyNotFound: return {code, "etcdserver: key not found"};
    case ErrorCode::kValueProvided: return {code, "etcdserver: value is provided"};
    case ErrorCode::kLeaseProvided: return {code, "etcdserver: lease is provided"};
    case ErrorCode::kTooManyOps: return {code, "etcdserver: too many operations in txn request"};
    case ErrorCode::kDuplicateKey: return {code, "etcdserver: duplicate key given in txn request"};
    case ErrorCode::kRequestTooLarge: return {code, "etcdserver: request is too large"};
    case ErrorCode::kCompacted:
      return {code, "etcdserver: mvcc: required revision has been compacted"};
    case ErrorCode::kFutureRev:
      return {code, "etcdserver: mvcc: required revision is a future revision"};
    case ErrorCode::kLeaseNotFound: return {code, "etcdserver: requested lease not found"};
    case ErrorCode::kLeaseExists: return {code, "etcdserver: lease already exists"};
    case ErrorCode::kLeaseTtlTooLarge: return {code, "etcdserver: too large lease TTL"};
    case ErrorCode::kMemberExist: return {code, "etcdserver: member ID already exist"};
    case ErrorCode::kPeerUrlExist: return {code, "etcdserver: Peer URLs already exists"};
    case ErrorCode::kMemberNotEnoughStarted:
      return {code, "etcdserver: re-configuration failed due to not enough started members"};
    case ErrorCode::kMemberBadUrls: return {code, "etcdserver: given member URLs are invalid"};
    case ErrorCode::kMemberNotFound: return {code, "etcdserver: member not found"};
    case ErrorCode::kMemberNotLearner:
      return {code, "etcdserver: can only promote a learner member"};
    case ErrorCode::kLearnerNotReady:
      return {code, "etcdserver: can only promote a learner member which is in sync with leader"};
    case ErrorCode::kTooManyLearners:
      return {code, "etcdserver: too many learner members in cluster"};
    case ErrorCode::kUnhealthy: return {code, "etcdserver: unhealthy cluster"};
    case ErrorCode::kNotSupportedForLearner:
      return {code, "etcdserver: rpc not supported for learner"};
    case ErrorCode::kPromoteReadOnly:
      return {code,
              "etcdserver: can not promote a read-only replica (its [replica] promote is never)"};
    case ErrorCode::kPeerUnreachable:
      return {code, "etcdserver: the new member's peer URL cannot be reached"};
    case ErrorCode::kLeaderChanged: return {code, "etcdserver: leader changed"};
    case ErrorCode::kRootUserNotExist: return {code, "etcdserver: root user does not exist"};
    case ErrorCode::kRootRoleNotExist:
      return {code, "etcdserver: root user does not have root role"};
    case ErrorCode::kUserAlreadyExist: return {code, "etcdserver: user name already exists"};
    case ErrorCode::kUserEmpty: return {code, "etcdserver: user name is empty"};
    case ErrorCode::kUserNotFound: return {code, "etcdserver: user name not found"};
    case ErrorCode::kRoleAlreadyExist: return {code, "etcdserver: role name already exists"};
    case ErrorCode::kRoleNotFound: return {code, "etcdserver: role name not found"};
    case ErrorCode::kRoleEmpty: return {code, "etcdserver: role name is empty"};
    case ErrorCode::kAuthFailed:
      return {code, "etcdserver: authentication failed, invalid user ID or password"};
    case ErrorCode::kNoPasswordUser:
      // etcd has no gRPC error for it and sends its internal text with code Unknown.
      return {code, "auth: authentication failed, password was given for no password user"};
    case ErrorCode::kPermissionDenied: return {code, "etcdserver: permission denied"};
    case ErrorCode::kRoleNotGranted: return {code, "etcdserver: role is not granted to the user"};
    case ErrorCode::kPermissionNotGranted:
      return {code, "etcdserver: permission is not granted to the role"};
    case ErrorCode::kAuthNotEnabled: return {code, "etcdserver: authentication is not enabled"};
    case ErrorCode::kInvalidAuthToken: return {code, "etcdserver: invalid auth token"};
    case ErrorCode::kInvalidAuthMgmt: return {code, "etcdserver: invalid auth management"};
    case ErrorCode::kAuthOldRevision: return {code, "etcdserver: revision of auth store is old"};
    case ErrorCode::kNoSpace: return {code, "etcdserver: mvcc: database space exceeded"};
    case ErrorCode::kNotLeader: return {code, "etcdserver: not leader"};
    case ErrorCode::kBadLeaderTransferee: return {code, "etcdserver: bad leader transferee"};
    case ErrorCode::kTimeoutLeaderTransfer:
      return {code, "etcdserver: request timed out, leader transfer took too long"};
    case ErrorCode::kStopped: return {code, "etcdserver: server stopped"};
    case ErrorCode::kNoLeader: return {code, "etcdserver: no leader"};
    case ErrorCode::kTimeout: return {code, "etcdserver: request timed out"};
    case ErrorCode::kTimeoutLeaderFail:
      return {code, "etcdserver: request timed out, possibly due to previous leader failure"};
    case ErrorCode::kCorrupt: return {code, "etcdserver: corrupt cluster"};
    case ErrorCode::kIo: return {code, "etcdserver: storage error"};
    case ErrorCode::kInternal: return {code, "etcdserver: internal error"};
  }
  return {ErrorCode::kInternal, "etcdserver: internal error"};
}

}  // namespace outpost
