#include "core/server/forwarded_calls.h"

namespace outpost::server {

void ForwardedCalls::forward(outpostpb::ForwardedCall call, Done done) {
  attempt({call.SerializeAsString(), std::move(done), clock_.now() + timeout_});
}

void ForwardedCalls::attempt(Call c) {
  const auto left = c.deadline - clock_.now();
  if (left <= Clock::duration{}) return c.done(Status::of(ErrorCode::kTimeout), {});
  {
    std::lock_guard l(mu_);
    ++sent_;
  }
  std::string payload = c.payload;
  call_leader_(std::move(payload), left,
               [this, c = std::move(c)](const Status& s, std::string answer) mutable {
                 if (s.code() == ErrorCode::kNoLeader && clock_.now() < c.deadline) {
                   std::unique_lock l(mu_);
                   if (!stopped_) {
                     queued_.push_back(std::move(c));
                     return;
                   }
                   l.unlock();
                   return c.done(Status::of(ErrorCode::kStopped), {});
                 }
                 if (!s) return c.done(s, {});
                 outpostpb::ForwardedAnswer a;
                 if (!a.ParseFromString(answer))
                   return c.done(Status::internal("undecodable forwarded answer from the leader"),
                                 {});
                 const uint64_t index = a.applied_index();
                 wait_applied_(index, [done = std::move(c.done), a = std::move(a)](
                                          const Status& ws) mutable { done(ws, std::move(a)); });
               });
}

void ForwardedCalls::retry() {
  std::vector<Call> again;
  {
    std::lock_guard l(mu_);
    again.swap(queued_);
  }
  for (auto& c : again) attempt(std::move(c));
}

void ForwardedCalls::stop() {
  std::vector<Call> left;
  {
    std::lock_guard l(mu_);
    stopped_ = true;
    left.swap(queued_);
  }
  for (auto& c : left) c.done(Status::of(ErrorCode::kStopped), {});
}

}  // namespace outpost::server
