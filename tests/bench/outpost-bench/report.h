// The result of one benchmark run and its two renderings: etcd's benchmark report (Summary,
// response time histogram, latency distribution, error distribution; the shape of etcd's
// pkg/report) and one JSON object for scripts.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace outpost::bench {

// The percentiles etcd's report prints.
inline constexpr double kPercentiles[] = {10, 25, 50, 75, 90, 95, 99, 99.9};
inline constexpr size_t kPercentileCount = sizeof(kPercentiles) / sizeof(kPercentiles[0]);

struct RunResult {
  std::string op;
  int clients = 0;
  int conns = 0;
  uint64_t total = 0;                      // requests asked for (--total, or puts × watchers)
  double seconds = 0;                      // wall time of the measured phase
  std::vector<double> latencies;           // seconds, one per successful request (any order)
  std::map<std::string, uint64_t> errors;  // message -> count
  bool timed_out = false;                  // --timeout ended the run early
  std::string note;                        // extra line for the report, e.g. what was measured
};

// Computed once from a RunResult (sorts its latencies).
struct Stats {
  uint64_t completed = 0;
  uint64_t errors = 0;
  double rps = 0, average = 0, stddev = 0, fastest = 0, slowest = 0;
  double percentiles[kPercentileCount] = {};
};

Stats compute_stats(RunResult& r);
std::string format_report(const RunResult& r, const Stats& s, bool precise);
std::string format_json(const RunResult& r, const Stats& s);

}  // namespace outpost::bench
