#include "core/api/server.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/server_posix.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>

#include "core/api/grpc_metrics.h"
#include "core/api/health.h"
#include "core/common/metrics.h"

namespace outpost::api {

// gRPC framing on top of the largest request etcd accepts (etcd adds the same allowance).
constexpr uint64_t kGrpcOverheadBytes = 512 * 1024;

HttpHandler version_handler(const std::string& server_version, const std::string& outpost_version) {
  const size_t dot = server_version.find('.', server_version.find('.') + 1);
  const std::string cluster = server_version.substr(0, dot) + ".0";
  std::string body =
      R"({"etcdserver":")" + server_version + R"(","etcdcluster":")" + cluster + R"(")";
  if (!outpost_version.empty()) body += R"(,"outpost":")" + outpost_version + R"(")";
  body += "}";
  return [body](const std::string& method, const std::string&, const std::string&) {
    if (method != "GET" && method != "HEAD")
      return HttpResponse{405, "text/plain; charset=utf-8", "Method Not Allowed\n"};
    return HttpResponse{200, "application/json", body};
  };
}

HttpHandler metrics_handler() {
  static std::once_flag process;
  std::call_once(process, [] { metrics::register_process_metrics(metrics::default_registry()); });
  return [](const std::string& method, const std::string&, const std::string&) {
    if (method != "GET" && method != "HEAD")
      return HttpResponse{405, "text/plain; charset=utf-8", "Method Not Allowed\n"};
    return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8",
                        metrics::default_registry().scrape()};
  };
}

ApiServer::ApiServer(server::Member& m, ApiOptions opts, uint64_t max_request_bytes)
    : m_(m),
      max_request_bytes_(max_request_bytes),
      kv_(m, opts),
      maintenance_(m, opts),
      cluster_(m, opts),
      watch_(m, opts.client_cert_auth),
      lease_(m, opts),
      forwarded_(m),
      auth_(m, opts),
      member_metrics_(m) {
  // The leader runs the calls learners forward through the handlers its own clients reach.
  kv_.register_forwarded(forwarded_);
  maintenance_.register_forwarded(forwarded_);
  cluster_.register_forwarded(forwarded_);
  lease_.register_forwarded(forwarded_);
  auth_.register_forwarded(forwarded_);
  m_.set_forward_handler([this](outpostpb::ForwardedCall call, server::Member::ForwardReply reply) {
    forwarded_.run(std::move(call), std::move(reply));
  });
  add_http_route("/version", version_handler(opts.version, opts.outpost_version));
  if (opts.grpc_gateway)
    for (auto& [path, route] : gateway_.routes()) add_http_route(path, std::move(route));
  add_http_route("/metrics", metrics_handler());
  add_http_route("/health", health_handler(m));
  add_http_route("/livez", livez_handler(m));
  add_http_route("/readyz", readyz_handler(m));
}

ApiServer::~ApiServer() {
  shutdown();
  m_.set_forward_handler(nullptr);
}

void ApiServer::add_http_route(std::string path, HttpRoute handler) {
  routes_[std::move(path)] = std::move(handler);
}

bool ApiServer::start(const std::vector<ClientAddr>& addrs, std::string* error) {
  // Each distinct plain-text host:port is one listener address. A TLS address naming one of them
  // too is a shared port (etcd's http:// and https:// URLs on one port): its TLS connections are
  // relayed to an internal gRPC TLS port. Other TLS addresses are gRPC's own listening ports.
  std::vector<std::string> plain;
  for (const auto& a : addrs)
    if (!a.tls && std::find(plain.begin(), plain.end(), a.host_port) == plain.end())
      plain.push_back(a.host_port);
  auto shared = [&](const ClientAddr& a) {
    return a.tls && std::find(plain.begin(), plain.end(), a.host_port) != plain.end();
  };
  if (!plain.empty()) {
    ClientListenerOptions lo;
    // A JSON body carries the request base64-encoded: 4/3 of its bytes, plus the JSON around it.
    lo.max_body_bytes = size_t(max_request_bytes_ / 3 * 4 + kGrpcOverheadBytes);
    listener_ = std::make_unique<ClientListener>(
        routes_, [this](int fd) { grpc::AddInsecureChannelFromFd(server_.get(), fd); }, lo);
    if (!listener_->listen(plain, error)) {
      listener_.reset();
      return false;
    }
  }

  grpc::ServerBuilder b;  // plain text: no listening port, the listener hands connections over
  // TLS: gRPC's own listening ports. Its default SO_REUSEPORT would let a second process bind the
  // same port; a client port in use must be an error, as for the plain-text ones.
  b.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  std::vector<std::unique_ptr<int>> tls_ports;  // filled by BuildAndStart()
  int relay_port = 0;
  bool relayed = false;
  for (const auto& a : addrs) {
    if (!a.tls) continue;
    if (shared(a)) {
      // One internal port for every shared address: all of a member's https:// URLs carry the
      // same credentials.
      if (!relayed) b.AddListeningPort("127.0.0.1:0", a.tls, &relay_port);
      relayed = true;
      continue;
    }
    tls_ports.push_back(std::make_unique<int>(0));
    b.AddListeningPort(a.host_port, a.tls, tls_ports.back().get());
  }
  b.SetMaxReceiveMessageSize(
      int(std::min<uint64_t>(max_request_bytes_ + kGrpcOverheadBytes, uint64_t(INT32_MAX))));
  b.SetMaxSendMessageSize(INT32_MAX);
  {
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> ic;
    ic.push_back(grpc_metrics_interceptor());
    b.experimental().SetInterceptorCreators(std::move(ic));
  }
  b.RegisterService(&kv_);
  b.RegisterService(&maintenance_);
  b.RegisterService(&cluster_);
  b.RegisterService(&watch_);
  b.RegisterService(&lease_);
  b.RegisterService(&auth_);
  server_ = b.BuildAndStart();
  bool bound = server_ != nullptr;
  for (const auto& p : tls_ports) bound = bound && *p != 0;
  bound = bound && (!relayed || relay_port != 0);
  if (!bound) {
    std::string tls_addrs;
    for (const auto& a : addrs)
      if (a.tls) tls_addrs += (tls_addrs.empty() ? "" : ", ") + a.host_port;
    *error = tls_addrs.empty()
                 ? "cannot start the gRPC server for clients"
                 : "cannot serve TLS on " + tls_addrs +
                       " (address in use, or a certificate or key gRPC cannot load: check "
                       "--cert-file, --key-file and --trusted-ca-file)";
    if (server_) server_->Shutdown(std::chrono::system_clock::now());
    server_.reset();
    listener_.reset();
    return false;
  }
  gateway_.attach(server_.get());
  ports_.clear();
  size_t next_tls = 0;
  for (const auto& a : addrs) {
    if (a.tls && !shared(a)) {
      ports_.push_back(*tls_ports[next_tls++]);
      continue;
    }
    const auto i = size_t(std::find(plain.begin(), plain.end(), a.host_port) - plain.begin());
    ports_.push_back(listener_->ports()[i]);
  }
  if (relayed) {
    relay_ = std::make_unique<ClientRelay>(relay_port);
    relay_->start();
    listener_->set_tls_handler([this](int fd) { relay_->add(fd); });
  }
  if (listener_) listener_->start();
  return true;
}

std::vector<int> ApiServer::ports() const { return ports_; }

bool ApiServer::start_metrics(const std::vector<std::string>& addrs, std::string* error) {
  if (addrs.empty()) return true;
  HttpRoutes routes;
  for (const char* path : {"/metrics", "/health", "/livez", "/readyz", "/version"}) {
    auto it = routes_.find(path);
    if (it != routes_.end()) routes.emplace(it->first, it->second);
  }
  // No gRPC here: a connection that opens with the HTTP/2 preface is closed.
  metrics_listener_ =
      std::make_unique<ClientListener>(std::move(routes), [](int fd) { ::close(fd); });
  if (!metrics_listener_->listen(addrs, error)) {
    metrics_listener_.reset();
    return false;
  }
  metrics_listener_->start();
  return true;
}

const std::vector<int>& ApiServer::metrics_ports() const {
  static const std::vector<int> none;
  return metrics_listener_ ? metrics_listener_->ports() : none;
}

void ApiServer::shutdown() {
  // The listener first: once it has stopped, no connection reaches gRPC after its shutdown.
  if (listener_) listener_->stop();
  if (relay_) relay_->stop();
  if (metrics_listener_) metrics_listener_->stop();
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
}

void ApiServer::wait() {
  if (server_) server_->Wait();
}

}  // namespace outpost::api
