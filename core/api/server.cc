#include "core/api/server.h"

#include <grpcpp/grpcpp.h>

namespace outpost::api {

// gRPC framing on top of the largest request etcd accepts (etcd adds the same allowance).
constexpr uint64_t kGrpcOverheadBytes = 512 * 1024;

ApiServer::ApiServer(server::Member& m, ApiOptions opts, uint64_t max_request_bytes)
    : m_(m),
      max_request_bytes_(max_request_bytes),
      kv_(m, opts),
      maintenance_(m, opts),
      cluster_(m, opts),
      watch_(m),
      lease_(m, opts) {
  // The leader runs the calls learners forward through the handlers its own clients reach.
  kv_.register_forwarded(forwarded_);
  maintenance_.register_forwarded(forwarded_);
  cluster_.register_forwarded(forwarded_);
  lease_.register_forwarded(forwarded_);
  m_.set_forward_handler([this](outpostpb::ForwardedCall call, server::Member::ForwardReply reply) {
    forwarded_.run(std::move(call), std::move(reply));
  });
}

ApiServer::~ApiServer() {
  shutdown();
  m_.set_forward_handler(nullptr);
}

bool ApiServer::start(const std::vector<std::string>& listen_addrs, std::string* error) {
  grpc::ServerBuilder b;
  std::vector<int> ports(listen_addrs.size(), 0);
  for (size_t i = 0; i < listen_addrs.size(); ++i)
    b.AddListeningPort(listen_addrs[i], grpc::InsecureServerCredentials(), &ports[i]);
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
    *error = "cannot listen for clients on the given URLs";
    return false;
  }
  for (size_t i = 0; i < ports.size(); ++i) {
    if (ports[i] == 0) {
      *error = "cannot listen for clients on " + listen_addrs[i] + " (address in use?)";
      server_->Shutdown();
      server_.reset();
      return false;
    }
  }
  return true;
}

void ApiServer::shutdown() {
  if (server_) {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  }
}

void ApiServer::wait() {
  if (server_) server_->Wait();
}

}  // namespace outpost::api
