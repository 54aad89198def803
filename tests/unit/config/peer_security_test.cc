// Peer TLS settings: --peer-* flags, ETCD_PEER_* variables and [peer_transport_security], and
// the start-up checks on them.
#include <catch2/catch.hpp>

#include "helpers.h"

using namespace outpost::config;
using namespace outpost::config::testing;

namespace {
std::vector<std::string> https_member(std::vector<std::string> more) {
  std::vector<std::string> args = {"--name",
                                   "m1",
                                   "--listen-peer-urls",
                                   "https://127.0.0.1:12380",
                                   "--initial-advertise-peer-urls",
                                   "https://127.0.0.1:12380"};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}
}  // namespace

TEST_CASE("the peer security flags are honoured, not ignored", "[peer-tls]") {
  const Config c = ok(https_member({"--peer-cert-file=p.crt", "--peer-key-file=p.key",
                                    "--peer-trusted-ca-file=ca.crt", "--peer-client-cert-auth",
                                    "--peer-cert-allowed-cn=member", "--peer-crl-file=p.crl"}));
  CHECK(c.peer_security.cert_file == "p.crt");
  CHECK(c.peer_security.key_file == "p.key");
  CHECK(c.peer_security.trusted_ca_file == "ca.crt");
  CHECK(c.peer_security.client_cert_auth);
  CHECK(c.peer_security.allowed_cn == "member");
  CHECK(c.peer_security.crl_file == "p.crl");
  CHECK_FALSE(c.peer_security.auto_tls);
  CHECK(c.ignored_flags.empty());
  CHECK(c.listen_peer_urls[0].scheme == "https");
  CHECK(ok(https_member({"--peer-auto-tls"})).peer_security.auto_tls);
  CHECK(ok(https_member({}), {{"ETCD_PEER_AUTO_TLS", "true"}}).peer_security.auto_tls);
}

TEST_CASE("an https peer URL needs a certificate or auto TLS", "[peer-tls]") {
  CHECK(err(https_member({})) ==
        "TLS key/cert (--peer-cert-file, --peer-key-file) must be provided for peer url "
        "https://127.0.0.1:12380 with HTTPS scheme (or use --peer-auto-tls)");
  CHECK(err(https_member({"--peer-cert-file=p.crt"})) ==
        "--peer-cert-file is set but --peer-key-file is not: give both");
  CHECK(err(https_member({"--peer-key-file=p.key"})) ==
        "--peer-key-file is set but --peer-cert-file is not: give both");
  CHECK(err(https_member({"--peer-auto-tls", "--peer-cert-allowed-cn=x"})) ==
        "--peer-cert-allowed-cn needs --peer-client-cert-auth: without it peers present no "
        "certificate to check");
  CHECK(err(https_member({"--peer-auto-tls", "--peer-crl-file=x"})) ==
        "--peer-crl-file needs --peer-client-cert-auth: without it peers present no "
        "certificate to check");
}

TEST_CASE("peer certificates beside http peer URLs, and auto TLS beside certificates, warn",
          "[peer-tls]") {
  const LoadResult r = run({"--peer-cert-file=p.crt", "--peer-key-file=p.key", "--peer-auto-tls",
                            "--peer-client-cert-auth"});
  REQUIRE(r.config);
  CHECK(r.warnings == std::vector<std::string>{
                          "ignoring peer auto TLS since certs given",
                          "scheme is HTTP while key and cert files are present; ignoring key and "
                          "cert files for peer url http://localhost:2380",
                          "scheme is HTTP while --peer-client-cert-auth is enabled; ignoring "
                          "client cert auth for peer url http://localhost:2380"});
}

TEST_CASE("[peer_transport_security] sets the same fields as the flags", "[peer-tls][toml]") {
  TempFile f(R"(
name = "m1"
[peer]
listen_urls = ["https://127.0.0.1:12380"]
advertise_urls = ["https://127.0.0.1:12380"]
[peer_transport_security]
cert_file = "p.crt"
key_file = "p.key"
trusted_ca_file = "ca.crt"
client_cert_auth = true
auto_tls = false
allowed_cn = "member"
crl_file = "p.crl"
)");
  const Config c = ok({"--config", f.path()});
  CHECK(c.peer_security.cert_file == "p.crt");
  CHECK(c.peer_security.key_file == "p.key");
  CHECK(c.peer_security.trusted_ca_file == "ca.crt");
  CHECK(c.peer_security.client_cert_auth);
  CHECK(c.peer_security.allowed_cn == "member");
  CHECK(c.peer_security.crl_file == "p.crl");
  TempFile bad("[peer_transport_security]\nclient_cert_auth = \"yes\"\n");
  CHECK_THAT(err({"--config", bad.path()}),
             Catch::Contains("peer_transport_security.client_cert_auth"));
}
