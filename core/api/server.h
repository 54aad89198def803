#pragma once
// ApiServer: the gRPC server on a member's client URLs, serving the etcd v3 services.
// KV, Watch, Lease, Maintenance (Status, Alarm, HashKV) and Cluster (MemberList) are served; Auth
// and the other methods are registered by their generated base classes and answer UNIMPLEMENTED
// until their issues land.
#include <memory>
#include <string>
#include <vector>

#include "core/api/services.h"

namespace grpc {
class Server;
}

namespace outpost::api {

class ApiServer {
 public:
  ApiServer(server::Member& m, ApiOptions opts, uint64_t max_request_bytes);
  ~ApiServer();
  // Listens on every host:port given; false with *error when one cannot be bound.
  bool start(const std::vector<std::string>& listen_addrs, std::string* error);
  void shutdown();
  void wait();

 private:
  server::Member& m_;
  uint64_t max_request_bytes_;
  KvService kv_;
  MaintenanceService maintenance_;
  ClusterService cluster_;
  WatchService watch_;
  LeaseService lease_;
  ForwardRegistry forwarded_;
  etcdserverpb::Auth::CallbackService auth_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace outpost::api
