#include "replica/replica.h"

#include "replica/status.h"

namespace outpost::replica {

api::LearnerOptions learner_options(const config::ReplicaConfig& c) {
  api::LearnerOptions o;
  switch (c.read_policy) {
    case config::ReadPolicy::kRefuse: o.reads = api::ReadPolicy::kRefuse; break;
    case config::ReadPolicy::kSerializable: o.reads = api::ReadPolicy::kSerializable; break;
    case config::ReadPolicy::kLinearizable: o.reads = api::ReadPolicy::kLinearizable; break;
    case config::ReadPolicy::kBounded: o.reads = api::ReadPolicy::kBounded; break;
  }
  o.forward_writes = c.writes == config::WritePolicy::kForward;
  o.max_lag_ms = c.max_lag_ms;
  o.max_lag_revisions = c.max_lag_revisions;
  return o;
}

outpostpb::MemberInfo::Promote promote_mode(config::PromoteMode p) {
  switch (p) {
    case config::PromoteMode::kManual: return outpostpb::MemberInfo::PROMOTE_MANUAL;
    case config::PromoteMode::kNever: return outpostpb::MemberInfo::PROMOTE_NEVER;
    case config::PromoteMode::kWhenCaughtUp: return outpostpb::MemberInfo::PROMOTE_WHEN_CAUGHT_UP;
    case config::PromoteMode::kStandby: return outpostpb::MemberInfo::PROMOTE_STANDBY;
  }
  return outpostpb::MemberInfo::PROMOTE_MANUAL;
}

Replica::Replica(server::Member& m, config::ReplicaConfig c) : m_(m), c_(std::move(c)) {
  if (c_.promote == config::PromoteMode::kWhenCaughtUp) {
    auto_promotion_ = std::make_unique<AutoPromotion>(m_, std::chrono::seconds(c_.promote_after_s));
    m_.add_periodic([p = auto_promotion_.get()] { p->tick(); });
  }
  // Every member may lead, so every member watches for a standby to promote.
  failover_ = std::make_unique<StandbyFailover>(m_);
  m_.add_periodic([f = failover_.get()] { f->tick(); });
}

std::string Replica::status_json() const { return replica::status_json(m_, c_); }

}  // namespace outpost::replica
