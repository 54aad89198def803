// Peer TLS over real loopback sockets: messages both ways, large frames, a snapshot stream and a
// join query inside TLS; a wrong CA, an expired or unknown-CN certificate, a plain-text peer, a
// peer URL whose host the certificate does not name and a half handshake are all refused, and
// the member keeps serving. The PKI comes from tests/integration/tls_util.py (the openssl CLI).
#include "core/transport/tls.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "core/transport/self_signed.h"
#include "core/transport/transport.h"

using outpost::transport::MessageKind;
using outpost::transport::Options;
using outpost::transport::SnapshotEvent;
using outpost::transport::TlsContext;
using outpost::transport::TlsOptions;
using outpost::transport::Transport;

namespace {

struct Loop {
  uv_loop_t loop;
  uv_timer_t wake;  // keeps run_until from blocking while another thread does the work
  Loop() {
    uv_loop_init(&loop);
    uv_timer_init(&loop, &wake);
    uv_timer_start(
        &wake, [](uv_timer_t*) {}, 5, 5);
  }
  ~Loop() {
    uv_timer_stop(&wake);
    uv_close(reinterpret_cast<uv_handle_t*>(&wake), nullptr);
    for (int i = 0; i < 100 && uv_loop_alive(&loop); ++i) uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
  }
  bool run_until(const std::function<bool()>& pred, int seconds = 5) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (!pred() && std::chrono::steady_clock::now() < deadline) uv_run(&loop, UV_RUN_ONCE);
    return pred();
  }
  // Runs the loop for ms (to show that something does NOT happen).
  void run_for(int ms) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < until) uv_run(&loop, UV_RUN_ONCE);
  }
};

struct Received {
  std::vector<std::pair<uint64_t, std::string>> msgs;
  Transport::OnMessage handler() {
    return [this](uint64_t from, MessageKind, std::string p) {
      msgs.emplace_back(from, std::move(p));
    };
  }
};

// The test PKI, made once per run.
struct Pki {
  std::string dir;
  std::string f(const std::string& name) const { return dir + "/" + name; }
};

const Pki& pki() {
  static Pki p = [] {
    char tmpl[] = "/tmp/outpost-tls-unit-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    Pki k{tmpl};
    const std::string cmd = std::string("python3 -c \"import sys; sys.path.insert(0, '") +
                            OUTPOST_SOURCE_DIR +
                            "/tests/integration'); import tls_util; p = tls_util.make_pki('" +
                            k.dir + "'); p.client('member-x'); p.client('stranger')\"";
    REQUIRE(std::system(cmd.c_str()) == 0);
    return k;
  }();
  return p;
}

std::shared_ptr<const TlsContext> ctx(TlsOptions o) {
  auto r = TlsContext::create(o);
  if (!r) FAIL(r.status().message());
  return r.value();
}

// A member's TLS: the server certificate both ways, trusting ca, client certificates required.
TlsOptions member_tls(const std::string& cert = "server.crt", const std::string& key = "server.key",
                      const std::string& ca = "ca.crt") {
  TlsOptions o;
  o.cert_file = pki().f(cert);
  o.key_file = pki().f(key);
  o.trusted_ca_file = pki().f(ca);
  o.client_cert_auth = true;
  return o;
}

Options opts(uint64_t id, std::shared_ptr<const TlsContext> tls, bool listen_tls = true) {
  Options o;
  o.local_id = id;
  o.cluster_id = 7;
  o.min_backoff_ms = 10;
  o.max_backoff_ms = 50;
  o.tls = std::move(tls);
  o.listen_tls = listen_tls;
  return o;
}

void noop(uint64_t, MessageKind, std::string) {}

}  // namespace

TEST_CASE("with peer TLS, messages and large frames flow both ways", "[tls]") {
  Loop l;
  Received ra, rb;
  auto tls = ctx(member_tls());
  Transport a(&l.loop, opts(1, tls), ra.handler());
  Transport b(&l.loop, opts(2, tls), rb.handler());
  std::string err;
  REQUIRE(a.listen(&err));
  REQUIRE(b.listen(&err));
  a.add_peer(2, "127.0.0.1", b.port(), /*tls=*/true);
  b.add_peer(1, "127.0.0.1", a.port(), /*tls=*/true);
  REQUIRE(l.run_until([&] { return a.connected(2) && b.connected(1); }));
  const std::string big(8u << 20, 'z');
  for (int i = 0; i < 500; ++i) REQUIRE(a.send(2, MessageKind::kRaft, "a" + std::to_string(i)));
  REQUIRE(a.send(2, MessageKind::kRaft, big));
  REQUIRE(b.send(1, MessageKind::kRaft, "from b"));
  REQUIRE(l.run_until([&] { return rb.msgs.size() == 501 && ra.msgs.size() == 1; }));
  for (int i = 0; i < 500; ++i) CHECK(rb.msgs[size_t(i)].second == "a" + std::to_string(i));
  CHECK(rb.msgs[500].second == big);
  CHECK(rb.msgs[500].first == 1);
  CHECK(ra.msgs[0] == std::make_pair(uint64_t(2), std::string("from b")));
  CHECK(a.stats().rejected_connections + b.stats().rejected_connections == 0);
}

TEST_CASE("a peer whose certificate another CA signed is refused both ways", "[tls]") {
  Loop l;
  Received rb;
  Transport b(&l.loop, opts(2, ctx(member_tls())), rb.handler());
  std::string err;
  REQUIRE(b.listen(&err));
  SECTION("the dialing member does not trust the listener's CA") {
    Transport a(&l.loop, opts(1, ctx(member_tls("server.crt", "server.key", "other-ca.crt"))),
                noop);
    a.add_peer(2, "127.0.0.1", b.port(), true);
    REQUIRE(l.run_until([&] { return b.stats().rejected_connections >= 2; }));
    CHECK_FALSE(a.connected(2));
    CHECK_FALSE(a.send(2, MessageKind::kRaft, "x"));
  }
  SECTION("the listener does not trust the dialing member's CA") {
    Transport a(&l.loop, opts(1, ctx(member_tls("wrong-ca-server.crt", "wrong-ca-server.key"))),
                noop);
    a.add_peer(2, "127.0.0.1", b.port(), true);
    REQUIRE(l.run_until([&] { return b.stats().rejected_connections >= 2; }));
    a.send(2, MessageKind::kRaft, "x");
    l.run_for(100);
  }
  CHECK(rb.msgs.empty());
  // The listener keeps serving a good peer.
  Transport c(&l.loop, opts(3, ctx(member_tls())), noop);
  c.add_peer(2, "127.0.0.1", b.port(), true);
  REQUIRE(l.run_until([&] { return c.connected(2); }));
  REQUIRE(c.send(2, MessageKind::kRaft, "good"));
  REQUIRE(l.run_until([&] { return rb.msgs.size() == 1; }));
  CHECK(rb.msgs[0].first == 3);
}

TEST_CASE("an expired client certificate and one with a CN not allowed are refused", "[tls]") {
  Loop l;
  Received rb;
  TlsOptions server = member_tls();
  server.allowed_cn = "member-x";
  Transport b(&l.loop, opts(2, ctx(server)), rb.handler());
  std::string err;
  REQUIRE(b.listen(&err));
  for (const char* who : {"expired", "client-stranger"}) {
    const uint64_t before = b.stats().rejected_connections;
    TlsOptions o = member_tls(std::string(who) + ".crt", std::string(who) + ".key");
    Transport a(&l.loop, opts(1, ctx(o)), noop);
    a.add_peer(2, "127.0.0.1", b.port(), true);
    REQUIRE(l.run_until([&] { return b.stats().rejected_connections >= before + 2; }));
    a.send(2, MessageKind::kRaft, "x");
    l.run_for(50);
  }
  CHECK(rb.msgs.empty());
  // The allowed CN gets in.
  Transport ok(&l.loop, opts(3, ctx(member_tls("client-member-x.crt", "client-member-x.key"))),
               noop);
  ok.add_peer(2, "127.0.0.1", b.port(), true);
  REQUIRE(l.run_until([&] { return ok.connected(2); }));
  REQUIRE(ok.send(2, MessageKind::kRaft, "in"));
  REQUIRE(l.run_until([&] { return rb.msgs.size() == 1; }));
}

TEST_CASE("a plain-text peer is refused by a TLS listener and told why", "[tls]") {
  Loop l;
  Received rb;
  Transport b(&l.loop, opts(2, ctx(member_tls())), rb.handler());
  Transport plain(&l.loop, opts(1, nullptr, false), noop);
  std::string err;
  REQUIRE(b.listen(&err));
  plain.add_peer(2, "127.0.0.1", b.port(), /*tls=*/false);
  REQUIRE(l.run_until([&] { return plain.stats().refused_by_peers >= 1; }));
  plain.send(2, MessageKind::kRaft, "x");
  l.run_for(50);
  CHECK(rb.msgs.empty());
  CHECK(b.stats().rejected_connections >= 1);
  // And a TLS member dialing a plain listener never counts it as connected.
  Transport plain_b(&l.loop, opts(3, nullptr, false), rb.handler());
  REQUIRE(plain_b.listen(&err));
  Transport a(&l.loop, opts(4, ctx(member_tls())), noop);
  a.add_peer(3, "127.0.0.1", plain_b.port(), true);
  REQUIRE(l.run_until([&] { return plain_b.stats().rejected_connections >= 2; }));
  CHECK_FALSE(a.connected(3));
}

TEST_CASE("the dialing member checks the peer URL's host against the certificate", "[tls]") {
  Loop l;
  Received rb;
  // 127.0.0.2 is loopback too, but not in the certificate's SANs (127.0.0.1, localhost).
  Options ob = opts(2, ctx(member_tls()));
  ob.listen_host = "127.0.0.2";
  Transport b(&l.loop, ob, rb.handler());
  std::string err;
  REQUIRE(b.listen(&err));
  Transport a(&l.loop, opts(1, ctx(member_tls())), noop);
  a.add_peer(2, "127.0.0.2", b.port(), true);
  REQUIRE(l.run_until([&] { return b.stats().rejected_connections >= 2; }));
  CHECK_FALSE(a.connected(2));
}

TEST_CASE("a half handshake is closed after the handshake timeout", "[tls]") {
  Loop l;
  Options ob = opts(2, ctx(member_tls()));
  ob.handshake_timeout_ms = 200;
  Transport b(&l.loop, ob, noop);
  std::string err;
  REQUIRE(b.listen(&err));
  // A client that opens a TLS record and stops, through the blocking API's socket: the
  // listener must hang up by itself.
  std::atomic<bool> closed{false};
  std::atomic<bool> sent{false};
  std::thread t([&, port = b.port()] {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const char half[] = {0x16, 0x03, 0x01, 0x02};
    sent = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
           ::send(fd, half, sizeof half, 0) == 4;
    char c;
    closed = ::recv(fd, &c, 1, 0) <= 0;  // EOF once the listener gives up
    ::close(fd);
  });
  REQUIRE(l.run_until([&] { return closed.load(); }));
  t.join();
  CHECK(sent);
  CHECK(b.stats().rejected_connections == 1);
}

TEST_CASE("a snapshot stream and a join query travel inside TLS", "[tls]") {
  Loop l;
  auto tls = ctx(member_tls());
  Transport b(&l.loop, opts(2, tls), noop);
  std::string got;
  bool ended = false;
  b.set_on_snapshot([&](uint64_t, uint64_t from, SnapshotEvent ev, std::string p) {
    CHECK(from == 1);
    if (ev == SnapshotEvent::kData) got += p;
    if (ev == SnapshotEvent::kEnd) ended = true;
  });
  b.set_on_query([] { return std::string("the cluster"); });
  std::string err;
  REQUIRE(b.listen(&err));
  std::string sent;
  for (int i = 0; i < 40; ++i) sent += std::string(1 << 20, char('a' + i % 26));
  std::atomic<bool> done{false};
  outpost::Status st = outpost::Status::internal("not sent");
  outpost::Result<std::string> answer = outpost::Status::internal("not asked");
  outpost::Result<std::string> plain_answer = outpost::Status::internal("not asked");
  std::thread sender([&, port = b.port()] {
    std::atomic<bool> cancel{false};
    st = Transport::send_snapshot(
        "127.0.0.1", port, 7, 1,
        [&](const Transport::Emit& emit) {
          for (size_t off = 0; off < sent.size(); off += 1 << 20)
            if (!emit(sent.substr(off, 1 << 20))) return outpost::Status::io("broke");
          return outpost::Status::ok();
        },
        0, cancel, tls.get());
    answer = Transport::query_cluster("127.0.0.1", port, 2000, tls.get());
    plain_answer = Transport::query_cluster("127.0.0.1", port, 2000, nullptr);
    done = true;
  });
  REQUIRE(l.run_until([&] { return done.load(); }, 20));
  sender.join();
  REQUIRE(st);
  CHECK(ended);
  CHECK(got == sent);
  REQUIRE(answer);
  CHECK(answer.value() == "the cluster");
  CHECK_FALSE(plain_answer);  // a plain query gets no answer from a TLS listener
}

TEST_CASE("auto TLS: self-signed certificates, nothing verified", "[tls]") {
  Loop l;
  Received rb;
  char tmpl[] = "/tmp/outpost-autotls-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  std::shared_ptr<const TlsContext> c[2];
  for (int i = 0; i < 2; ++i) {
    auto files = outpost::transport::make_self_signed(std::string(tmpl) + "/" + std::to_string(i),
                                                      {"127.0.0.1"});
    REQUIRE(files);
    TlsOptions o;
    o.cert_file = files.value().cert_file;
    o.key_file = files.value().key_file;
    o.skip_verify = true;
    c[i] = ctx(o);
  }
  Transport a(&l.loop, opts(1, c[0]), noop);
  Transport b(&l.loop, opts(2, c[1]), rb.handler());
  std::string err;
  REQUIRE(b.listen(&err));
  a.add_peer(2, "127.0.0.1", b.port(), true);
  REQUIRE(l.run_until([&] { return a.connected(2); }));
  REQUIRE(a.send(2, MessageKind::kRaft, "auto"));
  REQUIRE(l.run_until([&] { return rb.msgs.size() == 1; }));
}

namespace {
// A CRL signed by the test CA that revokes the certificate in revoked_cert; written to path.
void write_crl(const std::string& revoked_cert, const std::string& path) {
  auto read = [](const std::string& f, auto fn) {
    FILE* in = std::fopen(f.c_str(), "r");
    REQUIRE(in);
    auto* x = fn(in, nullptr, nullptr, nullptr);
    std::fclose(in);
    REQUIRE(x);
    return x;
  };
  X509* ca = read(pki().f("ca.crt"), PEM_read_X509);
  EVP_PKEY* key = read(pki().f("ca.key"), PEM_read_PrivateKey);
  X509* cert = read(revoked_cert, PEM_read_X509);
  X509_CRL* crl = X509_CRL_new();
  X509_CRL_set_version(crl, 1);
  X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca));
  ASN1_TIME* now = ASN1_TIME_set(nullptr, std::time(nullptr));
  X509_CRL_set1_lastUpdate(crl, now);
  X509_REVOKED* rev = X509_REVOKED_new();
  X509_REVOKED_set_serialNumber(rev, X509_get_serialNumber(cert));
  X509_REVOKED_set_revocationDate(rev, now);
  X509_CRL_add0_revoked(crl, rev);
  REQUIRE(X509_CRL_sign(crl, key, EVP_sha256()) > 0);
  FILE* out = std::fopen(path.c_str(), "w");
  REQUIRE(out);
  PEM_write_X509_CRL(out, crl);
  std::fclose(out);
  ASN1_TIME_free(now);
  X509_CRL_free(crl);
  X509_free(cert);
  X509_free(ca);
  EVP_PKEY_free(key);
}
}  // namespace

TEST_CASE("a client certificate the CRL lists is refused; others get in", "[tls]") {
  Loop l;
  Received rb;
  write_crl(pki().f("client-stranger.crt"), pki().f("test.crl"));
  TlsOptions server = member_tls();
  server.crl_file = pki().f("test.crl");
  Transport b(&l.loop, opts(2, ctx(server)), rb.handler());
  std::string err;
  REQUIRE(b.listen(&err));
  Transport revoked(&l.loop, opts(1, ctx(member_tls("client-stranger.crt", "client-stranger.key"))),
                    noop);
  revoked.add_peer(2, "127.0.0.1", b.port(), true);
  REQUIRE(l.run_until([&] { return b.stats().rejected_connections >= 2; }));
  revoked.send(2, MessageKind::kRaft, "x");
  l.run_for(50);
  CHECK(rb.msgs.empty());
  Transport ok(&l.loop, opts(3, ctx(member_tls())), noop);
  ok.add_peer(2, "127.0.0.1", b.port(), true);
  REQUIRE(l.run_until([&] { return ok.connected(2); }));
  REQUIRE(ok.send(2, MessageKind::kRaft, "in"));
  REQUIRE(l.run_until([&] { return rb.msgs.size() == 1; }));
  CHECK(rb.msgs[0].first == 3);
}

TEST_CASE("a TLS context names the file it cannot load", "[tls]") {
  TlsOptions o;
  o.cert_file = "/nonexistent/peer.crt";
  o.key_file = "/nonexistent/peer.key";
  auto r = TlsContext::create(o);
  REQUIRE_FALSE(r);
  CHECK_THAT(r.status().message(), Catch::Contains("/nonexistent/peer.crt"));
}

// Not run by default (hidden tag): outpost-transport-tests "[.bench]" prints MB per CPU second
// (the process's user + system time: both ends run on one loop, so this is what a byte costs,
// whatever else the machine runs) for 1 MiB and 100-byte frames, plain and with TLS.
namespace {
double cpu_seconds() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}
}  // namespace

TEST_CASE("throughput of a message connection, plain and TLS", "[.bench]") {
  auto tls = ctx(member_tls());
  for (size_t size : {size_t(1) << 20, size_t(100)}) {
    const size_t total = size_t(512) << 20;
    const size_t n = size > 1000 ? total / size : 200000;
    double secs[2] = {0, 0};
    for (int with_tls = 0; with_tls < 2; ++with_tls) {
      Loop l;
      size_t got = 0;
      Transport a(&l.loop, opts(1, with_tls ? tls : nullptr, with_tls), noop);
      Transport b(&l.loop, opts(2, with_tls ? tls : nullptr, with_tls),
                  [&](uint64_t, MessageKind, std::string p) { got += p.size(); });
      std::string err;
      REQUIRE(b.listen(&err));
      a.add_peer(2, "127.0.0.1", b.port(), with_tls);
      REQUIRE(l.run_until([&] { return a.connected(2); }));
      const std::string payload(size, 'p');
      const double start = cpu_seconds();
      size_t sent = 0;
      REQUIRE(l.run_until(
          [&] {
            while (sent < n && a.send(2, MessageKind::kRaft, payload)) ++sent;
            return got == n * size;
          },
          120));
      secs[with_tls] = cpu_seconds() - start;
    }
    std::printf("frames of %zu bytes: plain %.0f MB/cpu-s, TLS %.0f MB/cpu-s (TLS/plain %.2f)\n",
                size, double(n * size) / secs[0] / 1e6, double(n * size) / secs[1] / 1e6,
                secs[0] / secs[1]);
  }
}
