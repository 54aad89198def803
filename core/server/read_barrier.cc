#include "core/server/read_barrier.h"

#include <vector>

namespace outpost::server {

void ReadBarrier::wait(uint64_t index, Done done) {
  Status now_ok;
  {
    std::lock_guard l(mu_);
    if (stopped_) {
      now_ok = Status::of(ErrorCode::kStopped);
    } else if (applied_ < index) {
      waiting_.emplace(index, std::move(done));
      return;
    }
  }
  done(now_ok);
}

void ReadBarrier::advance(uint64_t applied) {
  std::vector<Done> ready;
  {
    std::lock_guard l(mu_);
    if (applied <= applied_) return;
    applied_ = applied;
    auto end = waiting_.upper_bound(applied);
    for (auto it = waiting_.begin(); it != end; ++it) ready.push_back(std::move(it->second));
    waiting_.erase(waiting_.begin(), end);
  }
  for (auto& d : ready) d(Status::ok());
}

void ReadBarrier::stop() {
  std::multimap<uint64_t, Done> left;
  {
    std::lock_guard l(mu_);
    stopped_ = true;
    left.swap(waiting_);
  }
  for (auto& [_, d] : left) d(Status::of(ErrorCode::kStopped));
}

}  // namespace outpost::server
