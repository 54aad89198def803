#pragma once
// AutoCompactor: etcd 3.4's automatic compaction (--auto-compaction-mode and
// --auto-compaction-retention), as a pure decision over time and the current revision; the
// member proposes the Compaction it asks for, on the leader only (etcd pauses the compactor on
// followers), and reports the outcome.
//
// periodic (retention = a period P): the current revision is sampled every P/10 (every 6 minutes
// once P is an hour or more) into a window reaching P back; the first compaction happens once P
// has passed since start, to the revision sampled P ago, then one every min(P, 1 h) after the
// last success; a failed one is retried at the next sample.
// revision (retention = R revisions): every 5 minutes, compaction to the current revision - R,
// unless that is not positive or was compacted last time.
// An answer of "already compacted" counts as success, as in etcd. Thread-safe.
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>

#include "core/common/clock.h"

namespace outpost::server {

class AutoCompactor {
 public:
  enum class Mode { kPeriodic, kRevision };
  using Duration = Clock::duration;

  // period: the periodic retention (> 0); retention_revs: the revision one (> 0); now: start.
  AutoCompactor(Mode mode, Duration period, int64_t retention_revs, Clock::time_point now);

  // Called often (the member's housekeeping). Returns the revision to compact now, or 0. After a
  // nonzero answer, nothing more is asked until done() reports it.
  int64_t poll(Clock::time_point now, int64_t current_rev, bool leader);
  // The outcome of the compaction poll() asked for (ok, or "already compacted": succeeded).
  void done(bool succeeded, Clock::time_point now);

  // etcd's intervals, for tests and logs.
  Duration sample_interval() const;   // periodic: P/10, at most 6 min; revision: 5 min
  Duration compact_interval() const;  // periodic: min(P, 1 h)

 private:
  const Mode mode_;
  const Duration period_;
  const int64_t retention_revs_;
  std::mutex mu_;
  Clock::time_point next_sample_;
  Clock::time_point last_success_;
  Duration wait_;             // periodic: since last_success_ before the next compaction
  std::deque<int64_t> revs_;  // periodic: samples, revs_.front() from about period_ ago
  bool in_flight_ = false;
  int64_t asked_ = 0;
  int64_t last_compacted_ = 0;  // revision mode
};

}  // namespace outpost::server
