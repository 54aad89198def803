// Member's operations for operators (member.h, "Operations"): the space quota and alarms,
// defragmentation, leadership transfer.
#include "core/common/log.h"
#include "core/server/member.h"

namespace outpost::server {

bool Member::check_quota(const outpostpb::Request& req) {
  if (quota_.fits(engine_->approximate_size(), quota_cost(req))) return true;
  raise_alarm(etcdserverpb::NOSPACE);
  return false;
}

void Member::raise_alarm(etcdserverpb::AlarmType type) {
  if (alarms_.active(type) || raising_alarm_.exchange(true)) return;
  outpostpb::Request r;
  r.set_internal(true);
  auto* a = r.mutable_alarm();
  a->set_action(etcdserverpb::AlarmRequest::ACTIVATE);
  a->set_memberid(member_id());
  a->set_alarm(type);
  auto resp = std::make_shared<etcdserverpb::AlarmResponse>();
  propose(std::move(r), resp.get(), [this, resp](const Status& s) {
    if (!s) OUTPOST_LOG(kWarn, "failed to raise alarm", log::kv("error", s.message()));
    raising_alarm_ = false;
  });
}

Status Member::defragment() {
  OUTPOST_LOG(kInfo, "starting defragment");
  const int64_t before = engine_->approximate_size();
  const auto start = clock_.now();
  Status s = engine_->defragment();
  if (!s) {
    OUTPOST_LOG(kWarn, "failed to defragment", log::kv("error", s.message()));
    return s;
  }
  OUTPOST_LOG(
      kInfo, "finished defragment", log::kv("size-before", before),
      log::kv("size-after", engine_->approximate_size()),
      log::kv("took-ms",
              int64_t(std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now() - start)
                          .count())));
  return Status::ok();
}

void Member::move_leader(uint64_t to, Done done) {
  bool voter = false;
  const outpostpb::ClusterInfo c = cluster_.get();
  for (const auto& m : c.members())
    if (m.id() == to) voter = !m.is_learner();
  if (!voter) return done(Status::of(ErrorCode::kBadLeaderTransferee));
  OUTPOST_LOG(kInfo, "leadership transfer starting", log::kv_hex("local-member-id", member_id()),
              log::kv_hex("current-leader-member-id", leader_id()),
              log::kv_hex("transferee-member-id", to));
  {
    std::lock_guard l(transfers_mu_);
    transfers_.push_back({to, clock_.now() + request_timeout(), std::move(done)});
  }
  raft_->transfer_leadership(to);
}

void Member::check_leader_transfers() {
  std::vector<std::pair<Done, Status>> answers;
  {
    std::lock_guard l(transfers_mu_);
    if (transfers_.empty()) return;
    const auto now = clock_.now();
    for (auto it = transfers_.begin(); it != transfers_.end();) {
      if (stopped_) {
        answers.emplace_back(std::move(it->done), Status::of(ErrorCode::kStopped));
      } else if (leader_id() == it->to) {
        OUTPOST_LOG(kInfo, "leadership transfer finished",
                    log::kv_hex("new-leader-member-id", it->to));
        answers.emplace_back(std::move(it->done), Status::ok());
      } else if (now >= it->deadline) {
        answers.emplace_back(std::move(it->done), Status::of(ErrorCode::kTimeoutLeaderTransfer));
      } else {
        ++it;
        continue;
      }
      it = transfers_.erase(it);
    }
  }
  for (auto& [done, s] : answers) done(s);
}

}  // namespace outpost::server
