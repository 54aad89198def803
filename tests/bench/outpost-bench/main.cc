// outpost-bench: a load generator for the etcd v3 gRPC API, so the same numbers can be taken from
// Outpost and from real etcd. Subcommands and flags follow etcd's benchmark tool; see usage().
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench.h"
#include "flags.h"

namespace {

int run(int argc, char** argv) {
  using namespace outpost::bench;
  std::signal(SIGPIPE, SIG_IGN);
  auto parsed = parse_options(std::vector<std::string>(argv + 1, argv + argc));
  if (parsed.help) {
    std::fputs(usage().c_str(), stdout);
    return kExitOk;
  }
  if (!parsed.error.empty()) {
    std::fprintf(stderr, "outpost-bench: %s\n\n%s", parsed.error.c_str(), usage().c_str());
    return kExitUsage;
  }
  const Options& o = parsed.options;
  if (size_t(o.conns) < o.endpoints.size())
    std::fprintf(
        stderr,
        "outpost-bench: warning: --conns %d < %zu endpoints; connection i goes to endpoint "
        "i %% %zu, so only the first %d endpoints get traffic\n",
        o.conns, o.endpoints.size(), o.endpoints.size(), o.conns);
  if (o.command == "put") return run_put(o);
  if (o.command == "range") return run_range(o);
  if (o.command == "txn-put") return run_txn_put(o);
  if (o.command == "watch-latency") return run_watch_latency(o);
  if (o.command == "lease-keepalive") return run_lease_keepalive(o);
  std::fprintf(stderr, "outpost-bench: unknown command %s\n", o.command.c_str());
  return kExitUsage;
}

}  // namespace

// Leaves with _Exit: gRPC's threads may still be in a TLS handshake (a channel that never
// connected), and exit()'s OPENSSL_cleanup would pull OpenSSL from under them (a segfault at
// exit, seen with --cacert against a port nobody listens on).
int main(int argc, char** argv) {
  const int code = run(argc, argv);
  std::fflush(nullptr);
  std::_Exit(code);
}
