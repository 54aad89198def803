// outpost-mirror: see mirror/README.md. Exit codes: 0 stopped (SIGTERM/SIGINT) or caught up
// (once); 1 a fatal error while running; 2 a configuration error.

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/common/log.h"
#include "mirror/config.h"
#include "mirror/metrics.h"
#include "mirror/mirror.h"

namespace {

outpost::mirror::Mirror* g_mirror = nullptr;

void on_signal(int) {
  if (g_mirror) g_mirror->stop();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace outpost::mirror;
  MirrorConfig config;
  bool help = false;
  std::string err =
      parse_command_line(std::vector<std::string>(argv + 1, argv + argc), &config, &help);
  if (help) {
    std::fputs(usage().c_str(), stdout);
    return 0;
  }
  if (err.empty()) err = validate(&config);
  if (!err.empty()) {
    std::fprintf(stderr, "outpost-mirror: %s\n", err.c_str());
    return 2;
  }
  std::string log_err;
  if (!outpost::log::configure({"stderr"}, outpost::log::Level::kInfo, &log_err)) {
    std::fprintf(stderr, "outpost-mirror: %s\n", log_err.c_str());
    return 2;
  }
  Mirror mirror(config);
  MetricsServer metrics(mirror.metrics());
  if (!config.metrics_listen.empty()) {
    err = metrics.start(config.metrics_listen);
    if (!err.empty()) {
      std::fprintf(stderr, "outpost-mirror: %s\n", err.c_str());
      return 2;
    }
  }
  g_mirror = &mirror;
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  std::signal(SIGPIPE, SIG_IGN);
  OUTPOST_LOG(kInfo, "outpost-mirror starting",
              outpost::log::kv_strings("source", config.source.endpoints),
              outpost::log::kv_strings("destination", config.destination.endpoints),
              outpost::log::kv("prefix", config.prefix),
              outpost::log::kv("checkpoint_key", config.checkpoint_key));
  const int code = mirror.run();
  metrics.stop();
  g_mirror = nullptr;
  // _Exit: gRPC's threads may still hold a TLS connection, and exit()'s OPENSSL_cleanup would pull
  // OpenSSL from under them (a crash at exit instead of this exit status).
  std::fflush(nullptr);
  std::_Exit(code);
}
