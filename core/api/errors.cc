#include "core/api/errors.h"

namespace outpost::api {

grpc::Status to_grpc(const Status& s) {
  using grpc::StatusCode;
  StatusCode code = StatusCode::INTERNAL;
  switch (s.code()) {
    case ErrorCode::kOk: return grpc::Status::OK;
    case ErrorCode::kEmptyKey:
    case ErrorCode::kKeyNotFound:
    case ErrorCode::kValueProvided:
    case ErrorCode::kLeaseProvided:
    case ErrorCode::kTooManyOps:
    case ErrorCode::kDuplicateKey:
    case ErrorCode::kRequestTooLarge: code = StatusCode::INVALID_ARGUMENT; break;
    case ErrorCode::kCompacted:
    case ErrorCode::kFutureRev: code = StatusCode::OUT_OF_RANGE; break;
    case ErrorCode::kLeaseNotFound: code = StatusCode::NOT_FOUND; break;
    case ErrorCode::kLeaseExists: code = StatusCode::FAILED_PRECONDITION; break;
    case ErrorCode::kLeaseTtlTooLarge: code = StatusCode::OUT_OF_RANGE; break;
    case ErrorCode::kMemberExist:
    case ErrorCode::kPeerUrlExist:
    case ErrorCode::kMemberNotEnoughStarted:
    case ErrorCode::kMemberNotLearner:
    case ErrorCode::kLearnerNotReady:
    case ErrorCode::kPromoteReadOnly:
    case ErrorCode::kPeerUnreachable:
    case ErrorCode::kTooManyLearners: code = StatusCode::FAILED_PRECONDITION; break;
    case ErrorCode::kMemberBadUrls: code = StatusCode::INVALID_ARGUMENT; break;
    case ErrorCode::kMemberNotFound: code = StatusCode::NOT_FOUND; break;
    case ErrorCode::kRootUserNotExist:
    case ErrorCode::kRootRoleNotExist:
    case ErrorCode::kUserAlreadyExist:
    case ErrorCode::kUserNotFound:
    case ErrorCode::kRoleAlreadyExist:
    case ErrorCode::kRoleNotFound:
    case ErrorCode::kRoleNotGranted:
    case ErrorCode::kPermissionNotGranted:
    case ErrorCode::kAuthNotEnabled: code = StatusCode::FAILED_PRECONDITION; break;
    case ErrorCode::kUserEmpty:
    case ErrorCode::kRoleEmpty:
    case ErrorCode::kAuthFailed:
    case ErrorCode::kInvalidAuthMgmt:
    case ErrorCode::kAuthOldRevision: code = StatusCode::INVALID_ARGUMENT; break;
    case ErrorCode::kNoPasswordUser: code = StatusCode::UNKNOWN; break;
    case ErrorCode::kPermissionDenied: code = StatusCode::PERMISSION_DENIED; break;
    case ErrorCode::kInvalidAuthToken: code = StatusCode::UNAUTHENTICATED; break;
    case ErrorCode::kNoSpace: code = StatusCode::RESOURCE_EXHAUSTED; break;
    case ErrorCode::kNotLeader:
    case ErrorCode::kBadLeaderTransferee: code = StatusCode::FAILED_PRECONDITION; break;
    // etcd has no gRPC error for it: grpc-go sends it as UNKNOWN with the text.
    case ErrorCode::kTimeoutLeaderTransfer: code = StatusCode::UNKNOWN; break;
    case ErrorCode::kUnhealthy:
    case ErrorCode::kNotSupportedForLearner:
    case ErrorCode::kLeaderChanged:
    case ErrorCode::kStopped:
    case ErrorCode::kNoLeader:
    case ErrorCode::kTimeoutLeaderFail:
    case ErrorCode::kTimeout: code = StatusCode::UNAVAILABLE; break;
    case ErrorCode::kCorrupt: code = StatusCode::DATA_LOSS; break;
    case ErrorCode::kIo:
    case ErrorCode::kInternal: code = StatusCode::INTERNAL; break;
  }
  return grpc::Status(code, s.message());
}

grpc::Status to_grpc_unconverted_auth(const Status& s) {
  const char* text = nullptr;
  switch (s.code()) {
    case ErrorCode::kPermissionDenied: text = "auth: permission denied"; break;
    case ErrorCode::kUserEmpty: text = "auth: user name is empty"; break;
    case ErrorCode::kUserNotFound: text = "auth: user not found"; break;
    case ErrorCode::kInvalidAuthToken: text = "auth: invalid auth token"; break;
    case ErrorCode::kAuthOldRevision: text = "auth: revision in header is old"; break;
    default: return to_grpc(s);
  }
  return grpc::Status(grpc::StatusCode::UNKNOWN, text);
}

}  // namespace outpost::api
