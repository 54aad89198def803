#pragma once
// The mirror's counters and a tiny HTTP/1.1 server for GET /metrics (Prometheus text format).
// Written by hand: one endpoint, one connection at a time, Connection: close; no Debian package
// serves Prometheus text from C++ without pulling in a framework. Counters are atomics written by
// the mirror thread and read by the server and status-log threads.

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

namespace outpost::mirror {

struct Metrics {
  std::atomic<int64_t> source_revision{0};    // latest source revision seen (header)
  std::atomic<int64_t> mirrored_revision{0};  // the checkpoint
  std::atomic<int64_t> events_total{0};       // source events written to the destination
  std::atomic<int64_t> reconnects_total{0};   // reconnects to either side
  std::atomic<int64_t> lag_since_ms{0};       // steady ms when mirrored first fell behind; 0: none

  // Call after either revision changed.
  void update_lag();
  int64_t lag_revisions() const;
  double lag_seconds() const;
  std::string prometheus() const;
};

class MetricsServer {
 public:
  explicit MetricsServer(const Metrics& m) : metrics_(m) {}
  ~MetricsServer();
  // Listens on host:port ("" host or "0.0.0.0": every address). Returns "" or the error.
  std::string start(const std::string& listen);
  void stop();

 private:
  void serve();
  const Metrics& metrics_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace outpost::mirror
