#pragma once
// ApiServer: a member's client URLs, serving the etcd v3 gRPC services and HTTP beside them on
// the same ports. KV, Watch, Lease, Maintenance (Status, Alarm, HashKV) and Cluster (MemberList)
// and Auth are served; the other methods are registered by their generated base classes and
// answer UNIMPLEMENTED until their issues land.
//
// The gRPC server has no listening port of its own: a ClientListener (client_listener.h) accepts
// on every client address, hands the connections that open with the HTTP/2 preface to gRPC and
// serves the others as HTTP/1.1 from the routes added with add_http_route(). Built in: GET
// /version, as etcd answers it.
#include <memory>
#include <string>
#include <vector>

#include "core/api/client_listener.h"
#include "core/api/services.h"

namespace grpc {
class Server;
}

namespace outpost::api {

// etcd's /version handler: {"etcdserver":"3.4.23","etcdcluster":"3.4.0"} for GET and HEAD (the
// cluster version is the server's MAJOR.MINOR.0, as etcd reports it), 405 for other methods.
HttpHandler version_handler(const std::string& server_version);

class ApiServer {
 public:
  ApiServer(server::Member& m, ApiOptions opts, uint64_t max_request_bytes);
  ~ApiServer();
  // Adds an HTTP route (exact path, query string stripped); before start() only. A path added
  // twice keeps the last handler.
  void add_http_route(std::string path, HttpHandler handler);
  // Listens on every host:port given; false with *error when one cannot be bound.
  bool start(const std::vector<std::string>& listen_addrs, std::string* error);
  // The bound port of each address given to start(), in order (useful with port 0).
  std::vector<int> ports() const;
  // Stops accepting, closes HTTP connections, shuts gRPC down (2 s for calls in flight).
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
  AuthService auth_;
  HttpRoutes routes_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<ClientListener> listener_;
};

}  // namespace outpost::api
