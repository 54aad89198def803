// Client TLS settings: --cert-file & co., [client_transport_security], --cipher-suites,
// --tls-min-version, and etcd's start-up checks for https:// client URLs.
#include <catch2/catch.hpp>

#include "helpers.h"

using namespace outpost::config;
using namespace outpost::config::testing;

namespace {
// A member listening on one https:// client URL.
std::vector<std::string> https(std::vector<std::string> more) {
  std::vector<std::string> args = {"--listen-client-urls", "https://127.0.0.1:2379",
                                   "--advertise-client-urls", "https://127.0.0.1:2379"};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}
}  // namespace

TEST_CASE("client TLS flags are implemented, not ignored", "[tls][flags]") {
  const LoadResult r = run(https({"--cert-file=/pki/s.crt", "--key-file", "/pki/s.key",
                                  "--trusted-ca-file=/pki/ca.crt", "--client-cert-auth"}));
  INFO(r.error);
  REQUIRE(r.config);
  CHECK(r.warnings.empty());
  const ClientTransportSecurity& t = r.config->client_tls;
  CHECK(t.cert_file == "/pki/s.crt");
  CHECK(t.key_file == "/pki/s.key");
  CHECK(t.trusted_ca_file == "/pki/ca.crt");
  CHECK(t.client_cert_auth);
  CHECK_FALSE(t.auto_tls);
  CHECK(r.config->ignored_flags.empty());
  CHECK(url_strings(r.config->listen_client_urls) ==
        std::vector<std::string>{"https://127.0.0.1:2379"});
}

TEST_CASE("client TLS settings come from the environment", "[tls][env]") {
  const Config c = ok(https({}), {{"ETCD_AUTO_TLS", "true"}, {"ETCD_TLS_MIN_VERSION", "TLS1.3"}});
  CHECK(c.client_tls.auto_tls);
  CHECK(c.tls_min_version == TlsVersion::kTls13);
}

TEST_CASE("[client_transport_security] in TOML", "[tls][toml]") {
  TempFile f(
      "cipher_suites = [\"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\", "
      "\"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305\"]\n"
      "tls_min_version = \"TLS1.2\"\n"
      "[client]\nlisten_urls = [\"https://127.0.0.1:2379\"]\n"
      "advertise_urls = [\"https://127.0.0.1:2379\"]\n"
      "[client_transport_security]\ncert_file = \"s.crt\"\nkey_file = \"s.key\"\n"
      "trusted_ca_file = \"ca.crt\"\nclient_cert_auth = true\nauto_tls = false\n");
  const Config c = ok({"--config", f.path()});
  CHECK(c.client_tls.cert_file == "s.crt");
  CHECK(c.client_tls.key_file == "s.key");
  CHECK(c.client_tls.trusted_ca_file == "ca.crt");
  CHECK(c.client_tls.client_cert_auth);
  CHECK(c.cipher_suites == std::vector<std::string>{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                                                    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305"});
  CHECK(c.tls_min_version == TlsVersion::kTls12);
}

TEST_CASE("TOML client TLS keys are type-checked and unknown ones named", "[tls][toml]") {
  TempFile f("[client_transport_security]\nclient_cert_auth = \"yes\"\ncertfile = \"x\"\n");
  const std::string e = err({"--config", f.path()});
  CHECK(e.find(":2:20: client_transport_security.client_cert_auth: expected a boolean, got a "
               "string") != std::string::npos);
  CHECK(e.find(":3:1: unknown key \"client_transport_security.certfile\" (valid keys in "
               "[client_transport_security]: cert_file, key_file, trusted_ca_file, "
               "client_cert_auth, auto_tls, crl_file, allowed_hostname)") != std::string::npos);
}

TEST_CASE("an https client URL needs a certificate or --auto-tls (etcd's text)",
          "[tls][validate]") {
  CHECK(err(https({})) ==
        "TLS key/cert (--cert-file, --key-file) must be provided for client url "
        "https://127.0.0.1:2379 with HTTPS scheme");
  CHECK(ok(https({"--auto-tls"})).client_tls.auto_tls);
}

TEST_CASE("cert and key go together (etcd's text)", "[tls][validate]") {
  CHECK(err(https({"--cert-file=s.crt"})) ==
        "KeyFile and CertFile must both be present[key: , cert: s.crt] (--key-file, --cert-file)");
  CHECK(err(https({"--key-file=s.key"})) ==
        "KeyFile and CertFile must both be present[key: s.key, cert: ] (--key-file, --cert-file)");
}

TEST_CASE("--client-cert-auth needs a CA to verify against", "[tls][validate]") {
  CHECK(err(https({"--cert-file=s.crt", "--key-file=s.key", "--client-cert-auth"})) ==
        "--client-cert-auth needs --trusted-ca-file (client_transport_security.trusted_ca_file): "
        "Outpost verifies client certificates against that CA bundle only");
}

TEST_CASE("--client-cert-allowed-hostname needs a trusted CA", "[tls][validate]") {
  CHECK(err({"--client-cert-allowed-hostname=h"}) ==
        "--client-cert-allowed-hostname (client_transport_security.allowed_hostname) needs "
        "--trusted-ca-file: the host is checked on the client certificates that CA signs");
  CHECK(ok({"--client-cert-allowed-hostname=h", "--trusted-ca-file=ca.crt"})
            .client_tls.allowed_hostname == "h");
}

TEST_CASE("--client-crl-file needs a trusted CA", "[tls][validate]") {
  CHECK(err(https({"--cert-file=s.crt", "--key-file=s.key", "--client-crl-file=x.crl"})) ==
        "--client-crl-file (client_transport_security.crl_file) needs --trusted-ca-file: "
        "revocation is checked on the client certificates that CA signs");
  CHECK(ok(https({"--cert-file=s.crt", "--key-file=s.key", "--client-crl-file=x.crl",
                  "--trusted-ca-file=ca.crt"}))
            .client_tls.crl_file == "x.crl");
}

TEST_CASE("--cipher-suites takes Go's names", "[tls][flags]") {
  const Config c = ok(
      {"--cipher-suites", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_RSA_WITH_AES_256_GCM_SHA384"});
  CHECK(c.cipher_suites == std::vector<std::string>{"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                                                    "TLS_RSA_WITH_AES_256_GCM_SHA384"});
  CHECK(openssl_cipher_name("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256") ==
        "ECDHE-RSA-AES128-GCM-SHA256");
  CHECK(openssl_cipher_name("TLS_RSA_WITH_RC4_128_SHA").empty());
  CHECK(err({"--cipher-suites=TLS_BOGUS"}) ==
        "invalid value \"TLS_BOGUS\" for flag --cipher-suites: unexpected TLS cipher suite "
        "\"TLS_BOGUS\"");
}

TEST_CASE("--tls-min-version is TLS1.2 or TLS1.3", "[tls][flags]") {
  CHECK(ok({}).tls_min_version == TlsVersion::kTls12);
  CHECK(ok({"--tls-min-version=TLS1.3"}).tls_min_version == TlsVersion::kTls13);
  CHECK(err({"--tls-min-version=TLS1.1"}) ==
        "invalid value \"TLS1.1\" for flag --tls-min-version: unexpected TLS version \"TLS1.1\" "
        "(must be one of: TLS1.2, TLS1.3)");
  CHECK(err({"--tls-min-version=TLS1.3", "--cipher-suites=TLS_RSA_WITH_AES_128_GCM_SHA256"}) ==
        "cipher suites cannot be configured when only TLS1.3 is enabled (--cipher-suites with "
        "--tls-min-version=TLS1.3)");
}

TEST_CASE("plain text and TLS on one port, or on two", "[tls][validate]") {
  const Config one = ok({"--listen-client-urls", "http://127.0.0.1:2379,https://127.0.0.1:2379",
                         "--advertise-client-urls", "https://127.0.0.1:2379", "--auto-tls"});
  CHECK(one.listen_client_urls.size() == 2);
  const Config c = ok({"--listen-client-urls", "http://127.0.0.1:2379,https://127.0.0.1:2378",
                       "--advertise-client-urls", "https://127.0.0.1:2378", "--auto-tls"});
  CHECK(c.listen_client_urls.size() == 2);
}

TEST_CASE("etcd's warnings for TLS settings a URL does not use", "[tls][warnings]") {
  const LoadResult r = run({"--cert-file=s.crt", "--key-file=s.key", "--auto-tls",
                            "--trusted-ca-file=ca.crt", "--client-cert-auth"});
  REQUIRE(r.config);
  CHECK(r.warnings == std::vector<std::string>{
                          "ignoring client auto TLS since certs given",
                          "scheme is HTTP while key and cert files are present; ignoring key and "
                          "cert files for client URL http://localhost:2379",
                          "scheme is HTTP while --client-cert-auth is enabled; ignoring client "
                          "cert auth for client URL http://localhost:2379"});
}
