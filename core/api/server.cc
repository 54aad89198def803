#include "core/api/server.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/server_posix.h>

#include "core/api/health.h"

namespace outpost::api {

// gRPC framing on top of the largest request etcd accepts (etcd adds the same allowance).
constexpr uint64_t kGrpcOverheadBytes = 512 * 1024;

HttpHandler version_handler(const std::string& server_version) {
  const size_t dot = server_version.find('.', server_version.find('.') + 1);
  const std::string cluster = server_version.substr(0, dot) + ".0";
  const std::string body =
      R"({"etcdserver":")" + server_version + R"(","etcdcluster":")" + cluster + R"("})";
  return [body](const std::string& method, const std::string&, const std::string&) {
    if (method != "GET" && method != "HEAD")
      return HttpResponse{405, "text/plain; charset=utf-8", "Method Not Allowed\n"};
    return HttpResponse{200, "application/json", body};
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
      auth_(m, opts) {
  // The leader runs the calls learners forward through the handlers its own clients reach.
  kv_.register_forwarded(forwarded_);
  maintenance_.register_forwarded(forwarded_);
  cluster_.register_forwarded(forwarded_);
  lease_.register_forwarded(forwarded_);
  auth_.register_forwarded(forwarded_);
  m_.set_forward_handler([this](outpostpb::ForwardedCall call, server::Member::ForwardReply reply) {
    forwarded_.run(std::move(call), std::move(reply));
  });
  add_http_route("/version", version_handler(opts.version));
  add_http_route("/health", health_handler(m));
  add_http_route("/livez", livez_handler(m));
  add_http_route("/readyz", readyz_handler(m));
}

ApiServer::~ApiServer() {
  shutdown();
  m_.set_forward_handler(nullptr);
}

void ApiServer::add_http_route(std::string path, HttpHandler handler) {
  routes_[std::move(path)] = std::move(handler);
}

bool ApiServer::start(const std::vector<ClientAddr>& addrs, std::string* error) {
  std::vector<std::string> plain;
  for (const auto& a : addrs)
    if (!a.tls) plain.push_back(a.host_port);
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
  for (const auto& a : addrs) {
    if (!a.tls) continue;
    tls_ports.push_back(std::make_unique<int>(0));
    b.AddListeningPort(a.host_port, a.tls, tls_ports.back().get());
  }
  b.SetMaxReceiveMessageSize(
      int(std::min<uint64_t>(max_request_bytes_ + kGrpcOverheadBytes, uint64_t(INT32_MAX))));
  b.SetMaxSendMessageSize(INT32_MAX);
  b.RegisterService(&kv_);
  b.RegisterService(&maintenance_);
  b.RegisterService(&cluster_);
  b.RegisterService(&watch_);
  b.RegisterService(&lease_);
  b.RegisterService(&auth_);
  server_ = b.BuildAndStart();
  bool bound = server_ != nullptr;
  for (const auto& p : tls_ports) bound = bound && *p != 0;
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
  ports_.clear();
  size_t next_plain = 0, next_tls = 0;
  for (const auto& a : addrs)
    ports_.push_back(a.tls ? *tls_ports[next_tls++] : listener_->ports()[next_plain++]);
  if (listener_) listener_->start();
  return true;
}

std::vector<int> ApiServer::ports() const { return ports_; }

void ApiServer::shutdown() {
  // The listener first: once it has stopped, no connection reaches gRPC after its shutdown.
  if (listener_) listener_->stop();
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
}

void ApiServer::wait() {
  if (server_) server_->Wait();
}

}  // namespace outpost::api
