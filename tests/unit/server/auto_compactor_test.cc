// AutoCompactor: etcd 3.4's periodic and revision compactors as decisions over time.
#include "core/server/auto_compactor.h"

#include <catch2/catch.hpp>

using outpost::Clock;
using outpost::server::AutoCompactor;
using namespace std::chrono_literals;

namespace {
const Clock::time_point t0{};
}

TEST_CASE("periodic: the first compaction after one period, to the revision of a period ago",
          "[compactor]") {
  AutoCompactor c(AutoCompactor::Mode::kPeriodic, 10min, 0, t0);
  CHECK(c.sample_interval() == 1min);
  CHECK(c.compact_interval() == 10min);
  // One sample a minute; the revision grows by 100 a minute.
  int64_t asked = 0;
  Clock::time_point at{};
  for (int m = 0; m <= 20 && asked == 0; ++m) {
    at = t0 + std::chrono::minutes(m);
    asked = c.poll(at, 1 + 100 * m, /*leader=*/true);
  }
  CHECK(at == t0 + 10min);
  CHECK(asked == 1);  // sampled at minute 0: ten minutes back
  // In flight: nothing more until it is reported.
  CHECK(c.poll(at + 1min, 1 + 100 * 11, true) == 0);
  c.done(true, at + 1min);
  // Next: one compaction interval after that success, to the revision sampled a period before.
  int64_t next = 0;
  for (int m = 12; m <= 30 && next == 0; ++m) {
    at = t0 + std::chrono::minutes(m);
    next = c.poll(at, 1 + 100 * m, true);
  }
  CHECK(at == t0 + 21min);
  CHECK(next == 1 + 100 * 11);
}

TEST_CASE("periodic: a follower samples but never compacts; a failure is retried", "[compactor]") {
  AutoCompactor c(AutoCompactor::Mode::kPeriodic, 1h, 0, t0);
  CHECK(c.sample_interval() == 6min);
  for (int i = 0; i <= 20; ++i)
    CHECK(c.poll(t0 + std::chrono::minutes(6 * i), 1 + i, /*leader=*/false) == 0);
  // Leader now, 126 minutes in: the sample from 60 minutes ago.
  const int64_t rev = c.poll(t0 + 126min, 22, true);
  CHECK(rev == 22 - 10);  // sampled at minute 66
  c.done(false, t0 + 126min);
  CHECK(c.poll(t0 + 130min, 23, true) == 0);  // not before the next sample
  CHECK(c.poll(t0 + 132min, 23, true) > 0);   // retried at the next sample
}

TEST_CASE("periodic: a long period compacts hourly, reaching back the whole period",
          "[compactor]") {
  AutoCompactor c(AutoCompactor::Mode::kPeriodic, 10h, 0, t0);
  CHECK(c.compact_interval() == 1h);
  CHECK(c.sample_interval() == 6min);
  int64_t asked = 0;
  Clock::time_point at{};
  for (int i = 0; i <= 200 && asked == 0; ++i) {
    at = t0 + std::chrono::minutes(6 * i);
    asked = c.poll(at, 1000 + i, true);
  }
  CHECK(at == t0 + 10h);
  CHECK(asked == 1000);
}

TEST_CASE("revision: every 5 minutes, current minus retention, never the same twice",
          "[compactor]") {
  AutoCompactor c(AutoCompactor::Mode::kRevision, 0s, 1000, t0);
  CHECK(c.poll(t0, 500, true) == 0);          // not positive
  CHECK(c.poll(t0 + 1min, 5000, true) == 0);  // not yet five minutes
  CHECK(c.poll(t0 + 5min, 5000, true) == 4000);
  c.done(true, t0 + 5min);
  CHECK(c.poll(t0 + 10min, 5000, true) == 0);   // compacted there already
  CHECK(c.poll(t0 + 15min, 7000, false) == 0);  // a follower
  CHECK(c.poll(t0 + 20min, 7000, true) == 6000);
  c.done(true, t0 + 20min);
}
