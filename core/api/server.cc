#include "core/api/server.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/server_posix.h>

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
}

ApiServer::~ApiServer() {
  shutdown();
  m_.set_forward_handler(nullptr);
}

void ApiServer::add_http_route(std::string path, HttpHandler handler) {
  routes_[std::move(path)] = std::move(handler);
}

bool ApiServer::start(const std::vector<std::string>& listen_addrs, std::string* error) {
  ClientListenerOptions lo;
  // A JSON body carries the request base64-encoded: 4/3 of its bytes, plus the JSON around it.
  lo.max_body_bytes = size_t(max_request_bytes_ / 3 * 4 + kGrpcOverheadBytes);
  listener_ = std::make_unique<ClientListener>(
      routes_, [this](int fd) { grpc::AddInsecureChannelFromFd(server_.get(), fd); }, lo);
  if (!listener_->listen(listen_addrs, error)) {
    listener_.reset();
    return false;
  }

  grpc::ServerBuilder b;  // no listening port: the listener hands connections over
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
  if (!server_) {
    *error = "cannot start the gRPC server for clients";
    listener_.reset();
    return false;
  }
  listener_->start();
  return true;
}

std::vector<int> ApiServer::ports() const {
  return listener_ ? listener_->ports() : std::vector<int>{};
}

void ApiServer::shutdown() {
  // The listener first: once it has stopped, no connection reaches gRPC after its shutdown.
  if (listener_) listener_->stop();
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
}

void ApiServer::wait() {
  if (server_) server_->Wait();
}

}  // namespace outpost::api
