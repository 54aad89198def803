#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>

#include "bench.h"
#include "etcdserverpb/rpc.grpc.pb.h"

namespace outpost::bench {

std::shared_ptr<grpc::ChannelCredentials> credentials(const Options& o) {
  bool tls = !o.cacert.empty() || !o.cert.empty();
  for (const auto& e : o.endpoints) tls = tls || e.rfind("https://", 0) == 0;
  if (!tls) return grpc::InsecureChannelCredentials();
  const auto read = [](const char* flag, const std::string& path) {
    if (path.empty()) return std::string();
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "outpost-bench: cannot read %s %s\n", flag, path.c_str());
      std::exit(kExitUsage);
    }
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  };
  grpc::SslCredentialsOptions so;
  so.pem_root_certs = read("--cacert", o.cacert);
  so.pem_cert_chain = read("--cert", o.cert);
  so.pem_private_key = read("--key", o.key);
  return grpc::SslCredentials(so);
}

namespace {
std::string g_token;  // set once by authenticate(), before any client starts
}  // namespace

std::string authenticate(const Options& o, const std::shared_ptr<grpc::ChannelCredentials>& creds) {
  if (o.user.empty()) return "";
  std::string name = o.user, password = o.password;
  if (const auto colon = name.find(':'); colon != std::string::npos) {
    password = name.substr(colon + 1);
    name.resize(colon);
  }
  std::string target = o.endpoints.empty() ? "127.0.0.1:2379" : o.endpoints[0];
  if (const auto p = target.find("://"); p != std::string::npos) target = target.substr(p + 3);
  auto auth = etcdserverpb::Auth::NewStub(grpc::CreateChannel(target, creds));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  etcdserverpb::AuthenticateRequest req;
  req.set_name(name);
  req.set_password(password);
  etcdserverpb::AuthenticateResponse resp;
  const grpc::Status s = auth->Authenticate(&ctx, req, &resp);
  if (!s.ok()) return "authenticate as " + name + ": " + s.error_message();
  g_token = resp.token();
  return "";
}

void authorize(grpc::ClientContext* ctx) {
  if (!g_token.empty()) ctx->AddMetadata("token", g_token);
}

void finish_clients(Run& run, Connections& conns) {
  // Every call carries the run's deadline, so gRPC ends them by then; the grace covers the
  // queues delivering the last events.
  if (!run.wait_done(run.deadline() + std::chrono::seconds(10))) {
    std::fprintf(stderr,
                 "outpost-bench: clients still busy 10s after the --timeout deadline; giving up\n");
    std::fflush(nullptr);
    std::_Exit(kExitErrors);
  }
  conns.shutdown();
}

int print_result(const Options& o, RunResult& result, const Run& run, const std::string& feature) {
  const std::string missing = run.unsupported_message();
  if (!feature.empty() && !missing.empty()) {
    std::fprintf(stderr, "%s not supported by the server: %s\n", feature.c_str(), missing.c_str());
    return kExitUnsupported;
  }
  result.errors = run.errors();
  if (!missing.empty()) ++result.errors[missing];
  Stats s = compute_stats(result);
  if (o.json) {
    std::printf("%s\n", format_json(result, s).c_str());
  } else {
    std::printf("%s\n", format_report(result, s, o.precise).c_str());
  }
  std::fflush(stdout);
  return (s.errors > 0 || result.timed_out || s.completed == 0) ? kExitErrors : kExitOk;
}

std::string varint_key(int64_t n, int size) {
  std::string key(size_t(size), '\0');
  uint64_t ux = uint64_t(n) << 1;
  if (n < 0) ux = ~ux;
  size_t i = 0;
  while (i < key.size()) {
    if (ux < 0x80) {
      key[i] = char(ux);
      break;
    }
    key[i++] = char((ux & 0x7f) | 0x80);
    ux >>= 7;
  }
  return key;
}

std::string random_bytes(size_t size, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(size, '\0');
  for (auto& c : s) c = char('a' + rng() % 26);
  return s;
}

}  // namespace outpost::bench
