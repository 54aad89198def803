#include <cstdio>
#include <cstdlib>
#include <random>

#include "bench.h"

namespace outpost::bench {

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
