#pragma once
// Credentials: what a client call carries to say who makes it, read from its gRPC context before
// any handler runs (unary.h, the Watch stream): the token etcd's clients send in the metadata key
// "token" (gRPC-gateway clients: "authorization"), and the common name of a verified TLS client
// certificate. Resolving them into a user is core/api/auth.h's job.
#include <grpcpp/grpcpp.h>

#include <string>

namespace outpost::api {

struct Credentials {
  std::string token;
  // The user a certificate names (or, in a call a learner forwarded, the user the learner
  // resolved without a token). Counts only under --client-cert-auth or when forwarded.
  std::string cert_user;
  bool forwarded = false;  // from a learner over the peer connection (trusted as a member)
};

// TLS hook (--client-cert-auth): the common name of the client certificate gRPC verified for
// this call, or empty (no TLS, no client certificate). etcd takes the first verified chain's CN.
inline std::string client_cert_common_name(const grpc::ServerContextBase* ctx) {
  auto ac = ctx->auth_context();
  if (!ac || !ac->IsPeerAuthenticated()) return {};
  auto cns = ac->FindPropertyValues("x509_common_name");
  if (cns.empty()) return {};
  return std::string(cns.front().data(), cns.front().size());
}

inline Credentials credentials_of(const grpc::ServerContextBase* ctx) {
  Credentials c;
  const auto& md = ctx->client_metadata();
  auto it = md.find("token");
  if (it == md.end()) it = md.find("authorization");
  if (it != md.end()) c.token.assign(it->second.data(), it->second.size());
  // etcd ignores the certificate of a request the gRPC gateway proxies (it holds the server's
  // own client certificate).
  if (md.find("grpcgateway-accept") == md.end()) c.cert_user = client_cert_common_name(ctx);
  return c;
}

}  // namespace outpost::api
