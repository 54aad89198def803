#pragma once
// ReadBarrier: linearizable reads waiting for the state machine to reach their read index.
//
// A linearizable read first gets a read index from the leader (RaftNode::read_index, one
// ReadIndex round for the reads that arrive together), then waits here until the applier has
// applied up to it; then it may run against the local store. The applier reports progress
// with advance(); a wait whose index is applied already runs at once. stop() answers every
// wait with kStopped. Thread-safe; done runs without the lock held, on the thread that called
// wait() or advance().

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>

#include "core/common/status.h"

namespace outpost::server {

class ReadBarrier {
 public:
  using Done = std::function<void(const Status&)>;

  explicit ReadBarrier(uint64_t applied) : applied_(applied) {}

  // Runs done once index is applied.
  void wait(uint64_t index, Done done);
  // The state machine has applied up to applied.
  void advance(uint64_t applied);
  void stop();

 private:
  std::mutex mu_;
  uint64_t applied_;
  bool stopped_ = false;
  std::multimap<uint64_t, Done> waiting_;  // index needed -> read
};

}  // namespace outpost::server
