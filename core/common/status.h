#pragma once
// Status and Result<T>: how errors cross module boundaries on the request and I/O paths.
//
// A Status carries one of etcd's error kinds and the exact message etcd uses for it, so the
// API layer can map it to the same gRPC status code and text once (core/api/errors.cc).
// Exceptions are kept for programming errors and start-up failures only.
//
// Both are [[nodiscard]] (RocksDB checks its Status the same way, at run time): a dropped one does
// not compile with -Werror. Handle it, pass it up, or, where ignoring is really right, cast it to
// void with a comment saying why. A storage write whose Status is dropped is a durability bug.

#include <optional>
#include <string>
#include <utility>

namespace outpost {

enum class ErrorCode {
  kOk = 0,
  // Request validation (gRPC INVALID_ARGUMENT in etcd).
  kEmptyKey,
  kKeyNotFound,
  kValueProvided,
  kLeaseProvided,
  kTooManyOps,
  kDuplicateKey,
  kRequestTooLarge,
  // MVCC (OUT_OF_RANGE).
  kCompacted,
  kFutureRev,
  // Leases (NOT_FOUND / FAILED_PRECONDITION).
  kLeaseNotFound,
  kLeaseExists,
  kLeaseTtlTooLarge,
  // Membership (etcd's rpctypes; gRPC code in core/api/errors.cc).
  kMemberExist,
  kPeerUrlExist,
  kMemberNotEnoughStarted,
  kMemberBadUrls,
  kMemberNotFound,
  kMemberNotLearner,
  kLearnerNotReady,
  kTooManyLearners,
  kUnhealthy,
  kNotSupportedForLearner,
  kPromoteReadOnly,  // Outpost: the learner is a read-only replica ([replica] promote = never)
  kPeerUnreachable,  // Outpost: a self-joining replica's peer URL cannot be dialled
  kLeaderChanged,
  // Space quota and leadership transfer (etcd's rpctypes; gRPC code in core/api/errors.cc).
  kNoSpace,
  kNotLeader,
  kBadLeaderTransferee,
  kTimeoutLeaderTransfer,
  // Authentication and access control (etcd's auth errors; gRPC code in core/api/errors.cc).
  kRootUserNotExist,
  kRootRoleNotExist,
  kUserAlreadyExist,
  kUserEmpty,
  kUserNotFound,
  kRoleAlreadyExist,
  kRoleNotFound,
  kRoleEmpty,
  kAuthFailed,
  kNoPasswordUser,
  kPermissionDenied,
  kRoleNotGranted,
  kPermissionNotGranted,
  kAuthNotEnabled,
  kInvalidAuthToken,
  kInvalidAuthMgmt,
  kAuthOldRevision,
  // Server state (UNAVAILABLE).
  kStopped,
  kNoLeader,
  kTimeout,
  kTimeoutLeaderFail,
  // Storage and everything unexpected (INTERNAL / DATA_LOSS).
  kCorrupt,
  kIo,
  kInternal,
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return {}; }
  // The canonical etcd error for a code, with etcd's message text.
  static Status of(ErrorCode code);
  static Status io(std::string what) { return {ErrorCode::kIo, std::move(what)}; }
  static Status internal(std::string what) { return {ErrorCode::kInternal, std::move(what)}; }

  bool is_ok() const { return code_ == ErrorCode::kOk; }
  explicit operator bool() const { return is_ok(); }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

// A value or the Status that explains why there is none.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {}  // NOLINT

  bool is_ok() const { return value_.has_value(); }
  explicit operator bool() const { return is_ok(); }
  const Status& status() const { return status_; }
  T& value() { return *value_; }
  const T& value() const { return *value_; }
  T* operator->() { return &*value_; }
  T& operator*() { return *value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace outpost
