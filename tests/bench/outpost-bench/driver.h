// The machinery every benchmark shares.
//
// Connections: --conns gRPC channels, each a separate TCP connection (a local subchannel pool and
// a distinct channel argument per channel, so gRPC cannot share one socket between them), spread
// round-robin over --endpoints, and a few completion queues, each drained by one named thread
// (at most kMaxQueues). Channel i is served by queue i % queues.
//
// Handlers: a client is a small state machine (Handler) bound to one channel and therefore one
// queue; every asynchronous operation it starts carries a Tag naming the handler and the step, and
// the queue's thread calls handler->on_event(step, ok). A handler only ever runs on its queue's
// thread, so it needs no lock for its own state.
//
// Run: what the clients share: the request counter (claim() hands out request indexes until
// --total are handed out, the run is stopped or its deadline has passed), the optional rate limit,
// the error tally (first few errors printed at once) and the count of live clients, which the main
// thread waits on.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace outpost::bench {

using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point a, Clock::time_point b);
// A steady-clock instant as a gRPC deadline (gRPC takes system_clock time points).
std::chrono::system_clock::time_point to_system(Clock::time_point t);
// "rpc error: code = Unavailable desc = ...", the way grpc-go prints a status.
std::string describe(const grpc::Status& status);

class Handler;

struct Tag {
  Handler* handler;
  int step;
};

class Handler {
 public:
  virtual ~Handler() = default;
  virtual void on_event(int step, bool ok) = 0;
};

class Connections {
 public:
  static constexpr int kMaxQueues = 4;

  // creds: for every channel (TLS or insecure).
  Connections(const std::vector<std::string>& endpoints, int conns,
              std::shared_ptr<grpc::ChannelCredentials> creds);
  ~Connections();
  Connections(const Connections&) = delete;
  Connections& operator=(const Connections&) = delete;

  // Waits until every channel is connected; on failure returns a message naming the endpoint.
  std::string connect(double timeout_s);
  int size() const { return int(channels_.size()); }
  const std::shared_ptr<grpc::Channel>& channel(int i) const {
    return channels_[size_t(i) % channels_.size()];
  }
  grpc::CompletionQueue* queue(int i) const {
    return queues_[size_t(i) % channels_.size() % queues_.size()].get();
  }
  const std::string& endpoint(int i) const { return targets_[size_t(i) % targets_.size()]; }
  // Shuts the queues down and joins their threads. Call only when no handler will start another
  // operation (Run::wait_done returned true); idempotent.
  void shutdown();

 private:
  std::vector<std::string> targets_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<grpc::CompletionQueue>> queues_;
  std::vector<std::thread> threads_;
  bool shut_ = false;
};

class Run {
 public:
  Run(uint64_t total, double rate, double timeout_s, int live_clients);

  // The next request index, or false when the run is over for this client.
  bool claim(uint64_t* index);
  // When request `index` may start under --rate (now if there is no limit).
  Clock::time_point due(uint64_t index) const;
  bool past_deadline() const { return Clock::now() >= deadline_; }
  Clock::time_point deadline() const { return deadline_; }
  Clock::time_point start() const { return start_; }

  void error(const std::string& message);
  // The server answered UNIMPLEMENTED for a service the benchmark cannot do without: stop.
  void unsupported(const std::string& message);
  void stop() { stopping_.store(true); }
  bool stopping() const { return stopping_.load(); }

  // A client will start no more operations.
  void client_done();
  // Waits until every client is done or `until`; true when all are done.
  bool wait_done(Clock::time_point until);

  std::map<std::string, uint64_t> errors() const;
  std::string unsupported_message() const;
  Clock::time_point finish_time() const;

 private:
  const uint64_t total_;
  const double rate_;
  const Clock::time_point start_;
  const Clock::time_point deadline_;
  std::atomic<uint64_t> next_{0};
  std::atomic<bool> stopping_{false};

  mutable std::mutex mu_;
  std::condition_variable cv_;
  int live_;
  Clock::time_point finish_;
  std::map<std::string, uint64_t> errors_;
  uint64_t printed_ = 0;
  std::string unsupported_;
};

}  // namespace outpost::bench
