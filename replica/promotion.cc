#include "replica/promotion.h"

#include "core/common/log.h"
#include "etcdserverpb/rpc.pb.h"

namespace outpost::replica {

void AutoPromotion::tick() {
  if (!m_.is_learner()) return;
  const auto lag = m_.replica_lag();
  const auto now = m_.clock().now();
  std::lock_guard l(mu_);
  const bool in_sync =
      lag.heard && lag.leader_last > 0 && double(lag.leader_match) >= double(lag.leader_last) * 0.9;
  if (!in_sync) {
    in_sync_ = false;
    return;
  }
  if (!in_sync_) {
    in_sync_ = true;
    in_sync_since_ = now;
  }
  if (asking_ || now - in_sync_since_ < hold_) return;
  asking_ = true;
  OUTPOST_LOG(kInfo,
              "auto-promotion: learner in sync for the hold; asking the leader to promote it",
              log::kv_hex("member-id", m_.member_id()), log::kv("match-index", lag.leader_match),
              log::kv("leader-last-index", lag.leader_last));
  etcdserverpb::MemberPromoteRequest req;
  req.set_id(m_.member_id());
  outpostpb::ForwardedCall call;
  call.set_method("/etcdserverpb.Cluster/MemberPromote");
  call.set_request(req.SerializeAsString());
  call.set_internal(true);  // the member's own request: no client's credentials apply
  m_.forward(std::move(call), [this](const Status& s, outpostpb::ForwardedAnswer a) {
    std::lock_guard l(mu_);
    asking_ = false;
    if (s && a.code() == 0) {
      OUTPOST_LOG(kInfo, "auto-promotion: promoted to voter",
                  log::kv_hex("member-id", m_.member_id()));
      return;
    }
    OUTPOST_LOG(kWarn, "auto-promotion: promotion refused; trying again after the hold",
                log::kv("error", s ? a.message() : s.message()));
    in_sync_since_ = m_.clock().now();
  });
}

void StandbyFailover::tick() {
  const bool leading = m_.is_leader();
  const auto now = m_.clock().now();
  std::unique_lock l(mu_);
  if (!leading) {
    leading_ = false;
    last_seen_.clear();
    return;
  }
  if (!leading_) {
    // A new leader counts every voter as seen now: it gives each the whole time to show up.
    leading_ = true;
    last_seen_.clear();
  }
  const outpostpb::ClusterInfo c = m_.cluster();
  const auto active = m_.active_peers();
  const uint64_t self = m_.member_id();
  const outpostpb::MemberInfo* standby = nullptr;
  std::map<uint64_t, Clock::time_point> seen;
  for (const auto& mem : c.members()) {
    if (mem.is_learner()) {
      if (mem.promote() == outpostpb::MemberInfo::PROMOTE_STANDBY && active.count(mem.id()) &&
          standby == nullptr)
        standby = &mem;
      continue;
    }
    if (mem.id() == self) continue;
    auto it = last_seen_.find(mem.id());
    seen[mem.id()] = active.count(mem.id()) || it == last_seen_.end() ? now : it->second;
  }
  last_seen_.swap(seen);
  if (busy_) return;
  if (lost_ != 0) {  // the standby was promoted; the removal failed and is tried again
    busy_ = true;
    const uint64_t lost = lost_;
    l.unlock();
    return remove_lost(lost);
  }
  if (standby == nullptr) return;
  const Clock::duration after = std::chrono::seconds(standby->failover_after_s());
  uint64_t lost = 0;
  for (const auto& [id, when] : last_seen_) {
    if (now - when >= after) {
      lost = id;
      break;
    }
  }
  if (lost == 0) return;
  busy_ = true;
  const uint64_t sid = standby->id();
  l.unlock();
  OUTPOST_LOG(kWarn, "standby failover: a voter is unreachable; promoting the standby",
              log::kv_hex("lost-voter", lost), log::kv_hex("standby", sid),
              log::kv("failover-after-s", standby->failover_after_s()));
  m_.promote_member(sid, [this, sid, lost](const Status& s) {
    if (!s) {
      OUTPOST_LOG(kWarn, "standby failover: cannot promote the standby yet",
                  log::kv_hex("standby", sid), log::kv("error", s.message()));
      std::lock_guard g(mu_);
      busy_ = false;
      return;
    }
    OUTPOST_LOG(kWarn, "standby failover: promoted standby", log::kv_hex("standby", sid),
                log::kv_hex("lost-voter", lost));
    {
      std::lock_guard g(mu_);
      lost_ = lost;
    }
    remove_lost(lost);
  });
}

void StandbyFailover::remove_lost(uint64_t lost) {
  m_.remove_member(lost, [this, lost](const Status& s) {
    std::lock_guard g(mu_);
    busy_ = false;
    if (!s && s.code() != ErrorCode::kMemberNotFound) {
      OUTPOST_LOG(kWarn, "standby failover: cannot remove the lost voter yet; trying again",
                  log::kv_hex("lost-voter", lost), log::kv("error", s.message()));
      return;
    }
    lost_ = 0;
    OUTPOST_LOG(kWarn, "standby failover: removed lost voter", log::kv_hex("lost-voter", lost));
  });
}

}  // namespace outpost::replica
