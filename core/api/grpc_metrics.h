#pragma once
// gRPC server metrics as etcd exposes them (go-grpc-prometheus' grpc_server_started_total and
// grpc_server_handled_total by grpc_type, grpc_service, grpc_method and grpc_code; etcd's
// etcd_network_client_grpc_sent_bytes_total), measured by a gRPC server
// interceptor, so every service (unary reactors, streams, the generated UNIMPLEMENTED answers) is
// counted at one seam without touching the handlers.
//
// Cost per call: one interceptor object, a thread-local lookup of the method's counters (made
// once per method, then cached by the method name's address), and a few relaxed atomic adds.
// Sent bytes are the serialized sizes gRPC sends (the serialization gRPC would do anyway).
// etcd_network_client_grpc_received_bytes_total is not exposed: a server interceptor sees
// requests only parsed, as an untyped pointer, so their wire size is not known here.
#include <grpcpp/support/server_interceptor.h>

#include <memory>

namespace outpost::api {

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> grpc_metrics_interceptor();

}  // namespace outpost::api
