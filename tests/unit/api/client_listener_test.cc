// The client port: HTTP/1.1 and gRPC on one listening socket (core/api/client_listener.h), with
// etcd's /version handler from core/api/server.h and a stub Maintenance service behind gRPC.
#include "core/api/client_listener.h"

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/server_posix.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>

#include "core/api/server.h"
#include "etcdserverpb/rpc.grpc.pb.h"

namespace {

using namespace outpost::api;

class StubMaintenance final : public etcdserverpb::Maintenance::CallbackService {
  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* ctx,
                                   const etcdserverpb::StatusRequest*,
                                   etcdserverpb::StatusResponse* resp) override {
    resp->set_version("stub-3.4.23");
    auto* r = ctx->DefaultReactor();
    r->Finish(grpc::Status::OK);
    return r;
  }
};

// A dummy gRPC server with no port of its own and a ClientListener in front of it.
struct Fixture {
  StubMaintenance maintenance;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<ClientListener> listener;
  int port = 0;

  explicit Fixture(ClientListenerOptions opts = {}, HttpRoutes extra = {}) {
    grpc::ServerBuilder b;
    b.RegisterService(&maintenance);
    server = b.BuildAndStart();
    REQUIRE(server);
    HttpRoutes routes;
    routes["/version"] = version_handler("3.4.23");
    routes["/echo"] = [](const std::string& method, const std::string& path,
                         const std::string& body) {
      return HttpResponse{200, "text/plain", method + " " + path + " " + body};
    };
    for (auto& [path, route] : extra) routes[path] = std::move(route);
    listener = std::make_unique<ClientListener>(
        routes, [this](int fd) { grpc::AddInsecureChannelFromFd(server.get(), fd); }, opts);
    std::string err;
    REQUIRE(listener->listen({"127.0.0.1:0"}, &err));
    REQUIRE(listener->ports().size() == 1);
    port = listener->ports()[0];
    REQUIRE(port > 0);
    listener->start();
  }
  ~Fixture() {
    listener->stop();
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  }
};

int dial(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  return fd;
}

void send_all(int fd, const std::string& s) {
  REQUIRE(send(fd, s.data(), s.size(), MSG_NOSIGNAL) == ssize_t(s.size()));
}

// Reads until the peer closes or 3 s pass.
std::string read_until_close(int fd) {
  std::string out;
  char buf[4096];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return out;
    out.append(buf, size_t(n));
  }
  FAIL("connection still open after 3 s; read so far: " << out);
  return out;
}

struct Response {
  int status = 0;
  std::string head;
  std::string body;
};

// Reads one response (head and Content-Length body) from fd, keeping what follows in *rest.
Response read_response(int fd, std::string* rest) {
  char buf[4096];
  while (rest->find("\r\n\r\n") == std::string::npos) {
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    REQUIRE(n > 0);
    rest->append(buf, size_t(n));
  }
  Response r;
  const size_t end = rest->find("\r\n\r\n") + 4;
  r.head = rest->substr(0, end);
  r.status = std::stoi(r.head.substr(9, 3));
  const size_t cl = r.head.find("Content-Length: ");
  REQUIRE(cl != std::string::npos);
  const size_t len = std::stoul(r.head.substr(cl + 16));
  while (rest->size() < end + len) {
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    REQUIRE(n > 0);
    rest->append(buf, size_t(n));
  }
  r.body = rest->substr(end, len);
  rest->erase(0, end + len);
  return r;
}

Response round_trip(int port, const std::string& request) {
  const int fd = dial(port);
  send_all(fd, request);
  std::string rest;
  Response r = read_response(fd, &rest);
  close(fd);
  return r;
}

}  // namespace

TEST_CASE("GET /version answers etcd's JSON", "[api][http]") {
  Fixture f;
  const Response r = round_trip(f.port, "GET /version HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(r.status == 200);
  CHECK(r.head.find("Content-Type: application/json\r\n") != std::string::npos);
  CHECK(r.body == R"({"etcdserver":"3.4.23","etcdcluster":"3.4.0"})");
  CHECK(round_trip(f.port, "GET /version?pretty HTTP/1.0\r\n\r\n").status == 200);
  CHECK(round_trip(f.port, "DELETE /version HTTP/1.1\r\n\r\n").status == 405);
  const HttpResponse with_ours = version_handler("3.4.23", "0.1.0")("GET", "/version", "");
  CHECK(with_ours.body == R"({"etcdserver":"3.4.23","etcdcluster":"3.4.0","outpost":"0.1.0"})");
}

TEST_CASE("an unknown path is 404 with Go's body", "[api][http]") {
  Fixture f;
  const Response r = round_trip(f.port, "GET /nope?x=1 HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(r.status == 404);
  CHECK(r.body == "404 page not found\n");
  CHECK(r.head.find("Content-Type: text/plain; charset=utf-8\r\n") != std::string::npos);
}

TEST_CASE("a malformed request is 400 and the connection is closed", "[api][http]") {
  Fixture f;
  for (const std::string bad :
       {"GARBAGE\r\n\r\n", "GET /version\r\n\r\n", "GET /version HTTP/1.1\r\nno colon here\r\n\r\n",
        "GET /version HTTP/1.1\r\nBad Name: x\r\n\r\n",
        "POST /echo HTTP/1.1\r\nContent-Length: -3\r\n\r\n",
        "POST /echo HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "GET version HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\n folded\r\n\r\n"}) {
    INFO(bad);
    const int fd = dial(f.port);
    send_all(fd, bad);
    const std::string out = read_until_close(fd);
    close(fd);
    CHECK(out.starts_with("HTTP/1.1 400 Bad Request\r\n"));
    CHECK(out.find("Connection: close\r\n") != std::string::npos);
  }
  // Still serving.
  CHECK(round_trip(f.port, "GET /version HTTP/1.1\r\n\r\n").status == 200);
}

TEST_CASE("limits: too large a head is 431, too large a body 413, chunked 501", "[api][http]") {
  ClientListenerOptions o;
  o.max_header_bytes = 1024;
  o.max_body_bytes = 100;
  Fixture f(o);
  CHECK(round_trip(f.port, "GET /echo HTTP/1.1\r\nX: " + std::string(2000, 'a') + "\r\n\r\n")
            .status == 431);
  CHECK(round_trip(f.port, "POST /echo HTTP/1.1\r\nContent-Length: 101\r\n\r\n").status == 413);
  CHECK(round_trip(f.port, "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").status ==
        501);
}

TEST_CASE("keep-alive serves several requests on one connection until Connection: close",
          "[api][http]") {
  Fixture f;
  const int fd = dial(f.port);
  std::string rest;
  send_all(fd, "GET /version HTTP/1.1\r\n\r\n");
  CHECK(read_response(fd, &rest).status == 200);
  send_all(fd, "POST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nhel");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the body in two segments
  send_all(fd, "lo");
  Response r = read_response(fd, &rest);
  CHECK(r.body == "POST /echo hello");
  CHECK(r.head.find("Connection: close") == std::string::npos);
  // Pipelined: two requests in one segment, the second closing.
  send_all(fd,
           "GET /echo?q HTTP/1.1\r\n\r\nPOST /echo HTTP/1.1\r\nConnection: close\r\n"
           "Content-Length: 2\r\n\r\nhi");
  CHECK(read_response(fd, &rest).body == "GET /echo ");
  r = read_response(fd, &rest);
  CHECK(r.body == "POST /echo hi");
  CHECK(r.head.find("Connection: close\r\n") != std::string::npos);
  CHECK(rest + read_until_close(fd) == "");
  close(fd);
}

TEST_CASE("Expect: 100-continue gets 100 Continue before the body is sent", "[api][http]") {
  Fixture f;
  const int fd = dial(f.port);
  send_all(fd, "POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
  std::string rest;
  char buf[256];
  while (rest.find("\r\n\r\n") == std::string::npos) {
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    REQUIRE(n > 0);
    rest.append(buf, size_t(n));
  }
  CHECK(rest == "HTTP/1.1 100 Continue\r\n\r\n");
  rest.clear();
  send_all(fd, "abc");
  CHECK(read_response(fd, &rest).body == "POST /echo abc");
  close(fd);
}

TEST_CASE("a request starting with P split before the method is told from the HTTP/2 preface",
          "[api][http]") {
  Fixture f;
  const int fd = dial(f.port);
  send_all(fd, "P");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  send_all(fd, "OST /echo HTTP/1.1\r\nContent-Length: 1\r\n\r\nx");
  std::string rest;
  CHECK(read_response(fd, &rest).body == "POST /echo x");
  close(fd);
}

TEST_CASE("gRPC calls are served on the same port", "[api][grpc]") {
  Fixture f;
  // A silent client neither blocks the next connections nor is handed to gRPC.
  const int silent = dial(f.port);
  auto ch = grpc::CreateChannel("127.0.0.1:" + std::to_string(f.port),
                                grpc::InsecureChannelCredentials());
  auto stub = etcdserverpb::Maintenance::NewStub(ch);
  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    etcdserverpb::StatusResponse resp;
    const grpc::Status st = stub->Status(&ctx, etcdserverpb::StatusRequest{}, &resp);
    REQUIRE(st.ok());
    CHECK(resp.version() == "stub-3.4.23");
  }
  grpc::ClientContext ctx;
  etcdserverpb::HashKVResponse hresp;
  CHECK(stub->HashKV(&ctx, etcdserverpb::HashKVRequest{}, &hresp).error_code() ==
        grpc::StatusCode::UNIMPLEMENTED);
  CHECK(round_trip(f.port, "GET /version HTTP/1.1\r\n\r\n").status == 200);
  close(silent);
}

TEST_CASE("a silent connection is closed after the sniff timeout", "[api]") {
  ClientListenerOptions o;
  o.sniff_timeout_ms = 200;
  Fixture f(o);
  const int fd = dial(f.port);
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(read_until_close(fd).empty());
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
  close(fd);
}

TEST_CASE("a port in use is reported with the address", "[api]") {
  Fixture f;
  ClientListener other({}, [](int fd) { close(fd); });
  std::string err;
  const std::string addr = "127.0.0.1:" + std::to_string(f.port);
  CHECK_FALSE(other.listen({"127.0.0.1:0", addr}, &err));
  CHECK(err == "cannot listen for clients on " + addr + " (address in use?)");
}

namespace {

// A route streaming "tick\n" once, then waiting for the client to go (or 5 s); counts the
// streams that saw their client go.
struct StreamRoute {
  std::atomic<int> saw_gone{0};
  std::atomic<int> running{0};
  HttpRoute route() {
    return [this](const HttpRequest& r) {
      HttpResponse resp{200, "application/json", "", {{"Grpc-Metadata-X", "1"}}};
      const std::string auth = r.header("authorization") ? *r.header("authorization") : "";
      resp.stream = [this, auth](HttpStream& out) {
        ++running;
        REQUIRE(out.write("tick " + auth + "\n"));
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (!out.gone() && std::chrono::steady_clock::now() < deadline)
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        if (out.gone()) ++saw_gone;
        --running;
      };
      return resp;
    };
  }
};

// Reads from fd until `needle` arrives (3 s at most).
std::string read_until(int fd, const std::string& needle) {
  std::string out;
  char buf[4096];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (out.find(needle) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, size_t(n));
  }
  return out;
}

}  // namespace

TEST_CASE("a streamed answer is chunked, holds no HTTP thread, and sees its client go",
          "[api][http][stream]") {
  StreamRoute sr;
  ClientListenerOptions opts;
  opts.http_threads = 1;
  Fixture f(opts, {{"/stream", sr.route()}});
  std::vector<int> fds;
  for (int i = 0; i < 3; ++i) {  // more streams than HTTP threads
    const int fd = dial(f.port);
    send_all(fd, "POST /stream HTTP/1.1\r\nHost: x\r\nAuthorization: tok\r\n\r\n");
    const std::string got = read_until(fd, "tick tok\n\r\n");
    CHECK(got.starts_with("HTTP/1.1 200 OK\r\n"));
    CHECK(got.find("Transfer-Encoding: chunked\r\n") != std::string::npos);
    CHECK(got.find("Grpc-Metadata-X: 1\r\n") != std::string::npos);
    CHECK(got.find("Content-Length") == std::string::npos);
    CHECK(got.ends_with("\r\n\r\n9\r\ntick tok\n\r\n"));
    fds.push_back(fd);
  }
  CHECK(sr.running == 3);
  // The one HTTP thread is free: a plain request is answered while the streams go on.
  const Response r = round_trip(f.port, "GET /version HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(r.status == 200);
  for (int fd : fds) close(fd);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (sr.saw_gone < 3 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(sr.saw_gone == 3);
}

TEST_CASE("streams beyond max_streams get 503; stop() ends the running ones",
          "[api][http][stream]") {
  StreamRoute sr;
  ClientListenerOptions opts;
  opts.max_streams = 1;
  auto f = std::make_unique<Fixture>(opts, HttpRoutes{{"/stream", sr.route()}});
  const int fd = dial(f->port);
  send_all(fd, "POST /stream HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(read_until(fd, "tick").find("tick") != std::string::npos);
  const Response second = round_trip(f->port, "POST /stream HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(second.status == 503);
  const auto t0 = std::chrono::steady_clock::now();
  f.reset();  // stop(): the producer sees gone() and the answer is ended
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
  CHECK(sr.saw_gone == 1);
  close(fd);
}

TEST_CASE("a path ending in / serves the paths under it that have no route of their own",
          "[api][http]") {
  HttpRoutes extra;
  extra["/v3/"] = [](const std::string&, const std::string& path, const std::string&) {
    return HttpResponse{404, "text/plain; charset=utf-8", "subtree " + path};
  };
  extra["/v3/kv/range"] = [](const std::string&, const std::string&, const std::string&) {
    return HttpResponse{200, "application/json", "{}"};
  };
  Fixture f({}, extra);
  CHECK(round_trip(f.port, "POST /v3/kv/range HTTP/1.1\r\nHost: x\r\n\r\n").status == 200);
  CHECK(round_trip(f.port, "POST /v3/kv/nothing HTTP/1.1\r\nHost: x\r\n\r\n").body ==
        "subtree /v3/kv/nothing");
  CHECK(round_trip(f.port, "POST /v3 HTTP/1.1\r\nHost: x\r\n\r\n").body == "404 page not found\n");
}
