// core/api/tls.h: gRPC's TLS credentials as the client port uses them. A server with
// server_credentials() on a port of gRPC's own, clients with channel_credentials(): the handshake
// decides who gets in, and a call's auth context carries the client certificate's CN (the user
// name under --client-cert-auth).
#include "core/api/tls.h"

#include <grpcpp/grpcpp.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>

#include "etcdserverpb/rpc.grpc.pb.h"
#include "test_pki.h"

namespace {

using namespace outpost::api;
using namespace outpost::api::testing;

// Answers Status with the caller's certificate CN in the version field ("" without one).
class CnEcho final : public etcdserverpb::Maintenance::CallbackService {
  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* ctx,
                                   const etcdserverpb::StatusRequest*,
                                   etcdserverpb::StatusResponse* resp) override {
    std::string cn;
    for (const auto& v : ctx->auth_context()->FindPropertyValues("x509_common_name"))
      cn.assign(v.data(), v.size());
    resp->set_version(cn);
    auto* r = ctx->DefaultReactor();
    r->Finish(grpc::Status::OK);
    return r;
  }
};

struct TlsServer {
  CnEcho service;
  std::unique_ptr<grpc::Server> server;
  int port = 0;

  explicit TlsServer(bool require_client_cert) {
    grpc::ServerBuilder b;
    b.AddListeningPort(
        "127.0.0.1:0",
        server_credentials({kServerCert, kServerKey, kCaCert}, {require_client_cert, "", ""}),
        &port);
    b.RegisterService(&service);
    server = b.BuildAndStart();
    REQUIRE(server);
    REQUIRE(port != 0);
  }
  ~TlsServer() { server->Shutdown(std::chrono::system_clock::now()); }

  // Status over a channel with creds: ok and the echoed CN, or the failure.
  grpc::Status call(const std::shared_ptr<grpc::ChannelCredentials>& creds, std::string* cn) {
    auto stub = etcdserverpb::Maintenance::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(port), creds));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    etcdserverpb::StatusResponse resp;
    grpc::Status s = stub->Status(&ctx, etcdserverpb::StatusRequest(), &resp);
    *cn = resp.version();
    return s;
  }
};

}  // namespace

TEST_CASE("a client trusting the CA gets in; the server is verified", "[tls]") {
  TlsServer srv(false);
  std::string cn = "unset";
  CHECK(srv.call(channel_credentials({"", "", kCaCert}), &cn).ok());
  CHECK(cn.empty());  // no client certificate, none asked for
  // A client that trusts another root (here: the server's own leaf is no CA) refuses the server.
  CHECK_FALSE(srv.call(channel_credentials({"", "", kAliceCert}), &cn).ok());
  // Plain text to the TLS port fails too.
  CHECK_FALSE(srv.call(grpc::InsecureChannelCredentials(), &cn).ok());
}

TEST_CASE("with client certificates required, the handshake refuses a client without one",
          "[tls]") {
  TlsServer srv(true);
  std::string cn;
  const grpc::Status s = srv.call(channel_credentials({"", "", kCaCert}), &cn);
  CHECK(s.error_code() == grpc::StatusCode::UNAVAILABLE);
}

TEST_CASE("the auth context carries the client certificate's CN", "[tls]") {
  TlsServer srv(true);
  std::string cn;
  const grpc::Status s = srv.call(channel_credentials({kAliceCert, kAliceKey, kCaCert}), &cn);
  INFO(s.error_message());
  REQUIRE(s.ok());
  CHECK(cn == "alice");
}
