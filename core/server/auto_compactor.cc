#include "core/server/auto_compactor.h"

#include <algorithm>

namespace outpost::server {

namespace {
constexpr auto kRevisionInterval = std::chrono::minutes(5);
constexpr int kSamplesPerPeriod = 10;  // etcd's retryDivisor
}  // namespace

AutoCompactor::AutoCompactor(Mode mode, Duration period, int64_t retention_revs,
                             Clock::time_point now)
    : mode_(mode),
      period_(period),
      retention_revs_(retention_revs),
      next_sample_(now),
      last_success_(now),
      wait_(period) {}

AutoCompactor::Duration AutoCompactor::compact_interval() const {
  return std::min<Duration>(period_, std::chrono::hours(1));
}

AutoCompactor::Duration AutoCompactor::sample_interval() const {
  if (mode_ == Mode::kRevision) return kRevisionInterval;
  return std::max<Duration>(compact_interval() / kSamplesPerPeriod, std::chrono::milliseconds(1));
}

int64_t AutoCompactor::poll(Clock::time_point now, int64_t current_rev, bool leader) {
  std::lock_guard l(mu_);
  if (now < next_sample_) return 0;
  next_sample_ = now + sample_interval();
  int64_t rev = 0;
  if (mode_ == Mode::kRevision) {
    rev = current_rev - retention_revs_;
    if (in_flight_ || !leader || rev <= 0 || rev == last_compacted_) return 0;
  } else {
    // The window: samples reaching back one period (the first is the revision period_ ago),
    // taken on followers and while a compaction is in flight too.
    const size_t keep = size_t(period_ / sample_interval()) + 1;
    revs_.push_back(current_rev);
    while (revs_.size() > keep) revs_.pop_front();
    if (in_flight_ || !leader || now - last_success_ < wait_) return 0;
    wait_ = compact_interval();
    rev = revs_.front();
    if (rev <= 0) return 0;
  }
  in_flight_ = true;
  asked_ = rev;
  return rev;
}

void AutoCompactor::done(bool succeeded, Clock::time_point now) {
  std::lock_guard l(mu_);
  in_flight_ = false;
  if (!succeeded) return;
  last_success_ = now;
  last_compacted_ = asked_;
}

}  // namespace outpost::server
