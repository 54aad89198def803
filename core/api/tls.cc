#include "core/api/tls.h"

#include <arpa/inet.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <stdlib.h>

#include <cctype>
#include <cstring>

namespace outpost::api {

namespace {

bool ip_equal(const std::string& a, const std::string& b) {
  unsigned char x[16], y[16];
  if (inet_pton(AF_INET, a.c_str(), x) == 1 && inet_pton(AF_INET, b.c_str(), y) == 1)
    return std::memcmp(x, y, 4) == 0;
  if (inet_pton(AF_INET6, a.c_str(), x) == 1 && inet_pton(AF_INET6, b.c_str(), y) == 1)
    return std::memcmp(x, y, 16) == 0;
  return false;
}

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  while (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

// A DNS SAN pattern against a host name: exact, or "*.rest" matching one leftmost label.
bool dns_match(std::string pattern, std::string host) {
  pattern = lower(std::move(pattern));
  host = lower(std::move(host));
  if (pattern == host) return true;
  if (pattern.rfind("*.", 0) != 0) return false;
  const size_t dot = host.find('.');
  return dot != std::string::npos && dot > 0 && host.substr(dot) == pattern.substr(1);
}

// --client-cert-allowed-hostname, after gRPC has verified the chain: the certificate must be
// valid for the host, or the connection is closed before any call.
class AllowedHostname final : public grpc::experimental::ExternalCertificateVerifier {
 public:
  explicit AllowedHostname(std::string host) : host_(std::move(host)) {
    unsigned char buf[16];
    is_ip_ =
        inet_pton(AF_INET, host_.c_str(), buf) == 1 || inet_pton(AF_INET6, host_.c_str(), buf) == 1;
  }

  bool Verify(grpc::experimental::TlsCustomVerificationCheckRequest* request,
              std::function<void(grpc::Status)>, grpc::Status* sync_status) override {
    bool ok = false;
    if (is_ip_) {
      for (const auto& ip : request->ip_names())
        ok = ok || ip_equal(std::string(ip.data(), ip.size()), host_);
    } else {
      for (const auto& d : request->dns_names())
        ok = ok || dns_match(std::string(d.data(), d.size()), host_);
    }
    *sync_status = ok ? grpc::Status::OK
                      : grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                     "client certificate authentication failed");
    return true;
  }
  void Cancel(grpc::experimental::TlsCustomVerificationCheckRequest*) override {}

 private:
  std::string host_;
  bool is_ip_ = false;
};

}  // namespace

std::shared_ptr<grpc::ServerCredentials> server_credentials(const TlsPem& pem,
                                                            const ServerTlsOptions& options) {
  const auto request = options.require_client_cert
                           ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                           : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
  if (!options.crl_directory.empty() || !options.allowed_hostname.empty()) {
    auto provider = std::make_shared<grpc::experimental::StaticDataCertificateProvider>(
        pem.root_certs,
        std::vector<grpc::experimental::IdentityKeyCertPair>{{pem.private_key, pem.cert_chain}});
    grpc::experimental::TlsServerCredentialsOptions o(provider);
    o.watch_identity_key_cert_pairs();
    if (!pem.root_certs.empty()) o.watch_root_certs();
    o.set_cert_request_type(request);
    if (!options.crl_directory.empty()) o.set_crl_directory(options.crl_directory);
    if (!options.allowed_hostname.empty()) {
      o.set_certificate_verifier(
          grpc::experimental::ExternalCertificateVerifier::Create<AllowedHostname>(
              options.allowed_hostname));
    }
    return grpc::experimental::TlsServerCredentials(o);
  }
  grpc::SslServerCredentialsOptions o(request);
  o.pem_root_certs = pem.root_certs;
  o.pem_key_cert_pairs.push_back({pem.private_key, pem.cert_chain});
  return grpc::SslServerCredentials(o);
}

std::shared_ptr<grpc::ChannelCredentials> channel_credentials(const TlsPem& pem) {
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = pem.root_certs;
  o.pem_private_key = pem.private_key;
  o.pem_cert_chain = pem.cert_chain;
  return grpc::SslCredentials(o);
}

Status configure_grpc_tls(const std::vector<std::string>& openssl_ciphers, bool tls13_only) {
  std::string list;
  if (tls13_only) {
    list = "PSK-AES128-GCM-SHA256";
  } else {
    for (const auto& c : openssl_ciphers) list += (list.empty() ? "" : ":") + c;
  }
  if (list.empty()) return Status::ok();
  // gRPC 1.51 reads its cipher list from this variable, once, when it first sets up TLS.
  if (::setenv("GRPC_SSL_CIPHER_SUITES", list.c_str(), 1) != 0)
    return Status::internal("cannot set GRPC_SSL_CIPHER_SUITES");
  return Status::ok();
}

}  // namespace outpost::api
