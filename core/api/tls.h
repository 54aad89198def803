#pragma once
// TLS on the client port and on Outpost's own connections to client URLs, with gRPC's own TLS
// (grpc::SslServerCredentials / grpc::SslCredentials; OpenSSL underneath, inside gRPC).
//
// Why gRPC listens on an https:// URL itself: the ClientListener (client_listener.h) hands
// plain-text connections to gRPC with grpc::AddInsecureChannelFromFd, and gRPC 1.51 takes a
// connected socket with insecure credentials only (grpc/grpc_posix.h). So an https:// client URL
// is a listening port of gRPC's own, with these credentials, and serves the gRPC API only: the
// HTTP/1.1 routes (/version, /health, /replica, ...) stay on http:// URLs. etcd serves them over
// TLS too (cmux); that is a known departure (config/README.md). A port named by both an http://
// and an https:// URL relays its TLS connections to such a port on 127.0.0.1 (client_relay.h).
//
// With SSL credentials the gRPC auth context of a call carries the client certificate's subject
// (x509_common_name, x509_subject_alternative_name, x509_pem_cert), which is where the caller's
// user name comes from under --client-cert-auth.
#include <memory>
#include <string>
#include <vector>

#include "core/common/status.h"

namespace grpc {
class ChannelCredentials;
class ServerCredentials;
}  // namespace grpc

namespace outpost::api {

// PEM text, as read from --cert-file, --key-file and --trusted-ca-file.
struct TlsPem {
  std::string cert_chain;   // "" = no certificate (a client without one)
  std::string private_key;  // with cert_chain
  std::string root_certs;   // "" = server: clients are not verified; client: system roots
};

// How the server side of an https:// client URL treats clients.
struct ServerTlsOptions {
  // The handshake fails unless the client presents a certificate signed by pem.root_certs (which
  // must then be set); etcd 3.4 requires one whenever a trusted CA is given, and so does main.
  bool require_client_cert = false;
  // Client certificates are also checked against the CRLs in this directory
  // (transport::make_crl_directory); "" = no CRL check.
  std::string crl_directory;
  // --client-cert-allowed-hostname: a client certificate must be valid for this host (an IP
  // literal against its IP SANs, a name against its DNS SANs, "*." wildcards one label deep, as
  // Go's VerifyHostname); "" = any.
  std::string allowed_hostname;
};

// Server credentials for an https:// client URL: gRPC's SSL credentials, or its experimental TLS
// credentials when a CRL directory or an allowed hostname asks for more than SSL ones can do.
std::shared_ptr<grpc::ServerCredentials> server_credentials(const TlsPem& pem,
                                                            const ServerTlsOptions& options);

// Channel credentials for dialling an https:// client URL: verifies the server against
// pem.root_certs (the system roots when empty) and presents pem's certificate when it has one.
std::shared_ptr<grpc::ChannelCredentials> channel_credentials(const TlsPem& pem);

// Process-wide TLS settings of gRPC, for every TLS connection this process serves or dials: the
// TLS 1.2 cipher suites (OpenSSL names; empty = gRPC's defaults) and whether TLS 1.2 is refused
// altogether (tls13_only). Call before the first credentials are used: gRPC reads them once.
// gRPC 1.51 has no minimum-version setting, so tls13_only offers as the only TLS 1.2 suite a PSK
// suite that a peer without a pre-shared key never agrees on: a TLS 1.2-only client fails the
// handshake ("no shared cipher"), TLS 1.3 is unaffected.
Status configure_grpc_tls(const std::vector<std::string>& openssl_ciphers, bool tls13_only);

}  // namespace outpost::api
