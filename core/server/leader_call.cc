#include "core/server/leader_call.h"

#include "core/common/log.h"

namespace outpost::server {

void LeaderCalls::call(uint64_t leader, bool self, Service service, std::string payload,
                       Clock::duration timeout, CallDone done) {
  if (leader == 0 || (self && !answer_)) return done(Status::of(ErrorCode::kNoLeader), {});
  if (self) {
    return answer_(service, std::move(payload),
                   [done = std::move(done)](std::string a) { done(Status::ok(), std::move(a)); });
  }
  outpostpb::LeaderCall c;
  c.set_id(++seq_);
  c.set_service(service);
  c.set_payload(std::move(payload));
  if (!send_(leader, transport::MessageKind::kLeaderCall, c.SerializeAsString()))
    return done(Status::of(ErrorCode::kNoLeader), {});
  pending_[c.id()] =
      Pending{std::move(done), clock_.now() + (timeout > Clock::duration{} ? timeout : timeout_)};
}

void LeaderCalls::on_call(uint64_t from, const std::string& payload, bool leading) {
  outpostpb::LeaderCall c;
  if (!c.ParseFromString(payload)) {
    OUTPOST_LOG(kWarn, "dropped an undecodable leader call", log::kv_hex("peer-id", from));
    return;
  }
  if (!leading || !answer_) {
    outpostpb::LeaderCallAnswer a;
    a.set_id(c.id());
    a.set_not_leader(true);  // the caller tries again with the next leader
    send_(from, transport::MessageKind::kLeaderCallAnswer, a.SerializeAsString());
    return;
  }
  const uint64_t id = c.id();
  auto send_answer = [send = send_, from, id](std::string answer) {
    outpostpb::LeaderCallAnswer a;
    a.set_id(id);
    a.set_payload(std::move(answer));
    send(from, transport::MessageKind::kLeaderCallAnswer, a.SerializeAsString());
  };
  answer_(c.service(), std::move(*c.mutable_payload()),
          [send_answer, defer = defer_](std::string answer) mutable {
            if (!defer) return send_answer(std::move(answer));
            defer([send_answer, answer = std::move(answer)]() mutable {
              send_answer(std::move(answer));
            });
          });
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
    if (now < it->second.deadline) {
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
