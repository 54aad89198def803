#include "core/api/tls.h"

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <stdlib.h>

namespace outpost::api {

std::shared_ptr<grpc::ServerCredentials> server_credentials(const TlsPem& pem,
                                                            bool require_client_cert) {
  grpc::SslServerCredentialsOptions o(
      require_client_cert ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                          : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
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
