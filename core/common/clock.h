#pragma once
// Clock: the one seam through which Outpost's server code reads time (LogCabin's Clock idea).
//
// Every deadline in core/server and core/lease (request timeouts, read-index and leader-call
// timeouts, lease expiry, promotion holds, failover timers) is computed from Clock::now() of
// the clock a component was given, never from std::chrono directly, so a test can hand in a
// ManualClock and move time by hand instead of sleeping. Clock::real() is the monotonic
// clock of the process; it is the only place that reads std::chrono::steady_clock.
//
// Waiting (a condition variable's timeout, a libuv timer) still happens in real time: a
// ManualClock changes what components see as "now" when they look, not how often they look.

#include <atomic>
#include <chrono>

namespace outpost {

class Clock {
 public:
  using duration = std::chrono::steady_clock::duration;
  using time_point = std::chrono::steady_clock::time_point;

  virtual ~Clock() = default;
  virtual time_point now() const = 0;

  // The process's monotonic clock (std::chrono::steady_clock); lives for the whole program.
  static const Clock& real();
};

// A clock that moves only when told to. Starts at an arbitrary non-zero time point so that
// "never" (a default time_point) stays distinguishable. Thread-safe.
class ManualClock final : public Clock {
 public:
  ManualClock() : ns_(std::chrono::hours(1000).count() * 3600'000'000'000LL / 1000) {}
  time_point now() const override { return time_point(duration(ns_.load())); }
  void advance(duration d) { ns_.fetch_add(d.count()); }

 private:
  std::atomic<duration::rep> ns_;
};

}  // namespace outpost
