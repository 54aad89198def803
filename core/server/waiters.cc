#include "core/server/waiters.h"

#include <utility>
#include <vector>

namespace outpost::server {

Waiters::Waiters(const Clock& clock, Clock::duration timeout)
    : clock_(clock),
      timeout_(timeout),
      next_id_(uint64_t(clock.now().time_since_epoch().count()) << 8) {
  if (next_id_ == 0) next_id_ = 1;
}

uint64_t Waiters::add(google::protobuf::Message* resp, Done& done) {
  const auto now = clock_.now();
  std::lock_guard l(mu_);
  if (stopped_) return 0;
  const uint64_t id = next_id_++;
  waiting_.emplace(id, Entry{Waiter{resp, std::move(done), now}, now + timeout_});
  return id;
}

Waiters::Waiter Waiters::take(uint64_t id) {
  std::lock_guard l(mu_);
  auto it = waiting_.find(id);
  if (id == 0 || it == waiting_.end()) return {};
  Waiter w = std::move(it->second.w);
  waiting_.erase(it);
  return w;
}

void Waiters::fail(uint64_t id, const Status& s) {
  Waiter w = take(id);
  if (w.done) w.done(s);
}

void Waiters::expire(const std::function<Status(Clock::time_point start)>& why) {
  const auto now = clock_.now();
  std::vector<Waiter> due;
  {
    std::lock_guard l(mu_);
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      if (it->second.deadline > now) {
        ++it;
        continue;
      }
      due.push_back(std::move(it->second.w));
      it = waiting_.erase(it);
    }
  }
  for (auto& w : due) w.done(why(w.start));
}

void Waiters::stop() {
  std::map<uint64_t, Entry> left;
  {
    std::lock_guard l(mu_);
    stopped_ = true;
    left.swap(waiting_);
  }
  for (auto& [_, e] : left) e.w.done(Status::of(ErrorCode::kStopped));
}

}  // namespace outpost::server
