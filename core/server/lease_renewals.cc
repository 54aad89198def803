#include "core/server/lease_renewals.h"

namespace outpost::server {

void LeaseRenewals::renew(int64_t id, etcdserverpb::LeaseKeepAliveResponse* resp, Done done) {
  attempt({id, resp, std::move(done), clock_.now() + timeout_});
}

void LeaseRenewals::attempt(Renewal r) {
  etcdserverpb::LeaseKeepAliveRequest req;
  req.set_id(r.id);
  call_leader_(req.SerializeAsString(), [this, r = std::move(r)](
                                            const Status& s, const std::string& answer) mutable {
    if (s && !r.resp->ParseFromString(answer))
      return r.done(Status::internal("undecodable keep-alive answer from the leader"));
    const bool lost = s.code() == ErrorCode::kNoLeader || s.code() == ErrorCode::kTimeout;
    if (!lost || clock_.now() >= r.deadline) return r.done(s);
    std::unique_lock l(mu_);
    if (stopped_) {
      l.unlock();
      return r.done(Status::of(ErrorCode::kStopped));
    }
    queued_.push_back(std::move(r));
  });
}

void LeaseRenewals::retry() {
  std::vector<Renewal> again;
  {
    std::lock_guard l(mu_);
    again.swap(queued_);
  }
  for (auto& r : again) attempt(std::move(r));
}

void LeaseRenewals::stop() {
  std::vector<Renewal> left;
  {
    std::lock_guard l(mu_);
    stopped_ = true;
    left.swap(queued_);
  }
  for (auto& r : left) r.done(Status::of(ErrorCode::kStopped));
}

std::string LeaseRenewals::answer(lease::Lessor& lessor, const std::string& payload) {
  etcdserverpb::LeaseKeepAliveRequest req;
  etcdserverpb::LeaseKeepAliveResponse resp;
  if (!req.ParseFromString(payload)) return std::string();
  auto ttl = lessor.renew(req.id());
  resp.set_id(req.id());
  resp.set_ttl(ttl ? ttl.value() : 0);
  return resp.SerializeAsString();
}

}  // namespace outpost::server
