#pragma once
// ApiServer: a member's client URLs, serving the etcd v3 gRPC services and HTTP beside them on
// the same ports. KV, Watch, Lease, Maintenance (Status, Alarm, HashKV) and Cluster (MemberList)
// and Auth are served; the other methods are registered by their generated base classes and
// answer UNIMPLEMENTED until their issues land.
//
// Plain-text client addresses (http:// URLs) are not gRPC's listening ports: a ClientListener
// (client_listener.h) accepts on them, hands the connections that open with the HTTP/2 preface to
// gRPC and serves the others as HTTP/1.1 from the routes added with add_http_route(). Built in:
// GET /version, as etcd answers it, and etcd's gRPC JSON gateway under /v3/ and /v3beta/
// (gateway.h). TLS client addresses (https:// URLs) are listening ports of
// gRPC's own with TLS server credentials (tls.h says why): they serve the gRPC API only, not the
// HTTP/1.1 routes. A host:port named by both an http:// and an https:// URL is one port, as etcd
// serves it: the ClientListener owns it and relays its TLS connections to an internal gRPC TLS
// port on 127.0.0.1 (client_relay.h). GET /metrics: Prometheus text exposition of
// metrics::default_registry(), with this member's metrics (server/member_metrics.h).
//
// Metrics addresses (--listen-metrics-urls): start_metrics() listens on them with a ClientListener
// of their own that serves only /metrics, /health, /livez, /readyz and /version (those present in
// the route table when it is called) and no gRPC: a connection opening with the HTTP/2 preface
// is closed.
#include <memory>
#include <string>
#include <vector>

#include "core/api/client_listener.h"
#include "core/api/client_relay.h"
#include "core/api/gateway.h"
#include "core/api/services.h"
#include "core/server/member_metrics.h"

namespace grpc {
class Server;
class ServerCredentials;
}  // namespace grpc

namespace outpost::api {

// etcd's /version handler: {"etcdserver":"3.4.23","etcdcluster":"3.4.0"} for GET and HEAD (the
// cluster version is the server's MAJOR.MINOR.0, as etcd reports it), 405 for other methods.
// With outpost_version, a third field says Outpost's own release: ...,"outpost":"0.1.0"} (etcd's
// clients decode /version into a struct and ignore fields they do not know).
HttpHandler version_handler(const std::string& server_version,
                            const std::string& outpost_version = "");

// GET /metrics: the text exposition of metrics::default_registry() (GET and HEAD; 405 else).
HttpHandler metrics_handler();

// One client address to listen on: "host:port" ("[v6]:port"; port 0 picks one).
struct ClientAddr {
  std::string host_port;
  std::shared_ptr<grpc::ServerCredentials> tls;  // nullptr = plain text (gRPC and HTTP/1.1)
};

class ApiServer {
 public:
  ApiServer(server::Member& m, ApiOptions opts, uint64_t max_request_bytes);
  ~ApiServer();
  // Adds an HTTP route (exact path, query string stripped; a path ending in "/" is a subtree, see
  // HttpRoutes); before start() only. A path added twice keeps the last handler.
  void add_http_route(std::string path, HttpRoute handler);
  // Listens on every address given; false with *error when one cannot be bound (nothing is left
  // listening then).
  bool start(const std::vector<ClientAddr>& addrs, std::string* error);
  // The bound port of each address given to start(), in order (useful with port 0).
  std::vector<int> ports() const;
  // Listens on the metrics addresses ("host:port", plain HTTP); false with *error when one cannot
  // be bound. Call once, after the routes are added.
  bool start_metrics(const std::vector<std::string>& addrs, std::string* error);
  const std::vector<int>& metrics_ports() const;
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
  server::MemberMetrics member_metrics_;
  std::unique_ptr<grpc::Server> server_;
  Gateway gateway_;  // its routes call server_; listener_ (serving them) goes first
  std::unique_ptr<ClientListener> listener_;
  std::unique_ptr<ClientRelay> relay_;  // a port shared by http:// and https:// URLs
  std::vector<int> ports_;              // per address given to start()
  std::unique_ptr<ClientListener> metrics_listener_;
};

}  // namespace outpost::api
