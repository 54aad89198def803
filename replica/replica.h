#pragma once
// Replica: what an `outpost` member adds to core for the [replica] table (DESIGN.md, replicas):
// the learner options the API applies (read and write policies), the promotion mode the member
// publishes, automatic promotion and standby failover (promotion.h), and the status served at
// GET /replica (status.h). Self-join happens before the member opens (join.h).
//
// Create it once the member is open and keep it until the member has stopped: its periodic
// tasks run on the member's housekeeping thread.
#include <memory>
#include <string>

#include "config/config.h"
#include "core/api/learner.h"
#include "core/server/member.h"
#include "replica/promotion.h"

namespace outpost::replica {

api::LearnerOptions learner_options(const config::ReplicaConfig& c);
outpostpb::MemberInfo::Promote promote_mode(config::PromoteMode p);

class Replica {
 public:
  Replica(server::Member& m, config::ReplicaConfig c);
  std::string status_json() const;

 private:
  server::Member& m_;
  const config::ReplicaConfig c_;
  std::unique_ptr<AutoPromotion> auto_promotion_;
  std::unique_ptr<StandbyFailover> failover_;
};

}  // namespace outpost::replica
