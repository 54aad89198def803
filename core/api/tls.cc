#include "core/api/tls.h"

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <stdlib.h>

namespace outpost::api {

std::shared_ptr<grpc::ServerCredentials> server_credentials(const TlsPem& pem,
                                                            bool require_client_cert,
                                                            const std::string& crl_directory) {
  const auto request = require_client_cert
                           ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                           : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
  if (!crl_directory.empty()) {
    auto provider = std::make_shared<grpc::experimental::StaticDataCertificateProvider>(
        pem.root_certs,
        std::vector<grpc::experimental::IdentityKeyCertPair>{{pem.private_key, pem.cert_chain}});
    grpc::experimental::TlsServerCredentialsOptions o(provider);
    o.watch_identity_key_cert_pairs();
    if (!pem.root_certs.empty()) o.watch_root_certs();
    o.set_cert_request_type(request);
    o.set_crl_directory(crl_directory);
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
