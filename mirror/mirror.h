#pragma once
// Mirror: the watch -> txn loop between two etcd v3 clusters (DESIGN.md, "Replicas and the
// mirror"). One thread runs the loop (run()); a second, the ticker, sends watch progress
// requests, restarts a silent watch, writes the status log line and turns SIGTERM into a
// cancelled watch. Everything the loop writes to the destination goes through apply(), one Txn at
// a time, each ending with the checkpoint when it ends a source revision (plan.h).
//
// States: read the checkpoint -> (none) initial copy at one revision R, checkpoint R -> watch from
// checkpoint+1 -> (watch cancelled as compacted) re-sync: copy at one revision, delete vanished
// destination keys, checkpoint -> watch again. Any transport error: next endpoint, back-off
// 100 ms doubling to 5 s, reconnects_total + 1.

#include <atomic>
#include <memory>
#include <string>

#include "mirror/config.h"
#include "mirror/metrics.h"

namespace outpost::mirror {

class Mirror {
 public:
  explicit Mirror(MirrorConfig config);
  ~Mirror();
  // Runs until stop() (returns 0), `once` is caught up (0), or a fatal error (1).
  int run();
  // Async-signal-safe: asks run() to return after the current Txn.
  void stop() { stop_.store(true); }
  const Metrics& metrics() const { return metrics_; }

 private:
  struct Impl;
  MirrorConfig config_;
  Metrics metrics_;
  std::atomic<bool> stop_{false};
  std::unique_ptr<Impl> impl_;
};

}  // namespace outpost::mirror
