#include "core/server/alarms.h"

#include <algorithm>

#include "core/common/log.h"

namespace outpost::server {

namespace {

bool before(const etcdserverpb::AlarmMember& a, const etcdserverpb::AlarmMember& b) {
  return a.alarm() != b.alarm() ? a.alarm() < b.alarm() : a.memberid() < b.memberid();
}

}  // namespace

std::string alarm_text(const etcdserverpb::AlarmMember& a) {
  return "memberID:" + std::to_string(a.memberid()) +
         " alarm:" + etcdserverpb::AlarmType_Name(a.alarm()) + " ";
}

Status AlarmStore::restore(const storage::Engine& engine) {
  std::lock_guard l(mu_);
  state_.Clear();
  std::string raw;
  if (engine.get_meta(kMetaKey, &raw) && !state_.ParseFromString(raw))
    return Status(ErrorCode::kCorrupt, "corrupt alarm record");
  return Status::ok();
}

void AlarmStore::apply(mvcc::WriteTxn& txn, const etcdserverpb::AlarmRequest& req,
                       etcdserverpb::AlarmResponse* resp) {
  std::lock_guard l(mu_);
  auto& list = *state_.mutable_alarms();
  etcdserverpb::AlarmMember want;
  want.set_memberid(req.memberid());
  want.set_alarm(req.alarm());
  auto it = std::lower_bound(list.begin(), list.end(), want, before);
  const bool found =
      it != list.end() && it->alarm() == want.alarm() && it->memberid() == want.memberid();
  switch (req.action()) {
    case etcdserverpb::AlarmRequest::GET:
      for (const auto& a : list)
        if (req.alarm() == etcdserverpb::NONE || a.alarm() == req.alarm()) *resp->add_alarms() = a;
      return;
    case etcdserverpb::AlarmRequest::ACTIVATE:
      // etcd's store takes no NONE alarm.
      if (req.alarm() == etcdserverpb::NONE) return;
      *resp->add_alarms() = want;
      if (found) return;
      list.Add(std::move(want));
      std::sort(list.begin(), list.end(), before);
      OUTPOST_LOG(kWarn, "alarm raised",
                  log::kv("alarm", etcdserverpb::AlarmType_Name(req.alarm())),
                  log::kv_hex("from", req.memberid()));
      break;
    case etcdserverpb::AlarmRequest::DEACTIVATE:
      if (!found) return;
      *resp->add_alarms() = *it;
      list.erase(it);
      OUTPOST_LOG(kWarn, "alarm disarmed",
                  log::kv("alarm", etcdserverpb::AlarmType_Name(req.alarm())),
                  log::kv_hex("from", req.memberid()));
      break;
    default: return;
  }
  txn.put_meta(kMetaKey, state_.SerializeAsString());
}

std::vector<etcdserverpb::AlarmMember> AlarmStore::get(etcdserverpb::AlarmType type) const {
  std::lock_guard l(mu_);
  std::vector<etcdserverpb::AlarmMember> out;
  for (const auto& a : state_.alarms())
    if (type == etcdserverpb::NONE || a.alarm() == type) out.push_back(a);
  return out;
}

bool AlarmStore::active(etcdserverpb::AlarmType type) const { return !get(type).empty(); }

bool AlarmStore::any() const {
  std::lock_guard l(mu_);
  return state_.alarms_size() > 0;
}

}  // namespace outpost::server
