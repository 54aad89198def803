#include "core/server/leader_call.h"

#include "core/common/log.h"
#include "outpostpb/internal.pb.h"

namespace outpost::server {

void LeaderCalls::call(uint64_t leader, bool self, std::string payload, CallDone done) {
  if (leader == 0 || !answer_) return done(Status::of(ErrorCode::kNoLeader), {});
  if (self) return done(Status::ok(), answer_(payload));
  outpostpb::LeaderCall c;
  c.set_id(++seq_);
  c.set_payload(std::move(payload));
  if (!send_(leader, transport::MessageKind::kLeaderCall, c.SerializeAsString()))
    return done(Status::of(ErrorCode::kNoLeader), {});
  pending_[c.id()] = Pending{std::move(done), clock_.now()};
}

void LeaderCalls::on_call(uint64_t from, const std::string& payload, bool leading) {
  outpostpb::LeaderCall c;
  if (!c.ParseFromString(payload)) {
    OUTPOST_LOG(kWarn, "dropped an undecodable leader call", log::kv_hex("peer-id", from));
    return;
  }
  outpostpb::LeaderCallAnswer a;
  a.set_id(c.id());
  if (leading && answer_) {
    a.set_payload(answer_(c.payload()));
  } else {
    a.set_not_leader(true);  // the caller tries again with the next leader
  }
  send_(from, transport::MessageKind::kLeaderCallAnswer, a.SerializeAsString());
}

void LeaderCalls::on_answer(const std::string& payload) {
  outpostpb::LeaderCallAnswer a;
  if (!a.ParseFromString(payload)) return;
  auto it = pending_.find(a.id());
  if (it == pending_.end()) return;  // timed out already
  auto done = std::move(it->second.done);
  pending_.erase(it);
  if (a.not_leader()) return done(Status::of(ErrorCode::kNoLeader), {});
  done(Status::ok(), std::move(*a.mutable_payload()));
}

void LeaderCalls::expire() {
  const auto now = clock_.now();
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (now - it->second.since < timeout_) {
      ++it;
      continue;
    }
    auto done = std::move(it->second.done);
    it = pending_.erase(it);
    done(Status::of(ErrorCode::kTimeout), {});
  }
}

void LeaderCalls::fail_all(const Status& s) {
  auto left = std::move(pending_);
  pending_.clear();
  for (auto& [_, p] : left) p.done(s, {});
}

}  // namespace outpost::server
