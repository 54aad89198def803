#pragma once
// The one place where core Status values become gRPC statuses: the code and message etcd 3.4
// sends for the same error (rpctypes), so clients react to Outpost's errors exactly as to etcd's.
#include <grpcpp/support/status.h>

#include "core/common/status.h"

namespace outpost::api {

grpc::Status to_grpc(const Status& s);

}  // namespace outpost::api
