#pragma once
// The one place where core Status values become gRPC statuses: the code and message etcd 3.4
// sends for the same error (rpctypes), so clients react to Outpost's errors exactly as to etcd's.
#include <grpcpp/support/status.h>

#include "core/common/status.h"

namespace outpost::api {

grpc::Status to_grpc(const Status& s);

// etcd's Maintenance service returns the auth store's own error unconverted: code Unknown and
// the auth package's text ("auth: permission denied"). Other errors as to_grpc.
grpc::Status to_grpc_unconverted_auth(const Status& s);

}  // namespace outpost::api
