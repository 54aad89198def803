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
    case ErrorCode::kStopped: return {code, "etcdserver: server stopped"};
    case ErrorCode::kNoLeader: return {code, "etcdserver: no leader"};
    case ErrorCode::kTimeout: return {code, "etcdserver: request timed out"};
    case ErrorCode::kCorrupt: return {code, "etcdserver: corrupt cluster"};
    case ErrorCode::kIo: return {code, "etcdserver: storage error"};
    case ErrorCode::kInternal: return {code, "etcdserver: internal error"};
  }
  return {ErrorCode::kInternal, "etcdserver: internal error"};
}

}  // namespace outpost
