#include "core/api/learner.h"

namespace outpost::api {

ReadPath linearizable_read_path(server::Member& m, const LearnerOptions& o) {
  if (!m.is_learner()) return ReadPath::kReadIndex;
  switch (o.reads) {
    case ReadPolicy::kRefuse: return ReadPath::kRefuse;
    case ReadPolicy::kSerializable: return ReadPath::kLocal;
    case ReadPolicy::kLinearizable: return ReadPath::kReadIndex;
    case ReadPolicy::kBounded: break;
  }
  const auto lag = m.replica_lag();
  if (!lag.heard) return ReadPath::kReadIndex;
  if (o.max_lag_ms > 0 && lag.time > std::chrono::milliseconds(o.max_lag_ms))
    return ReadPath::kReadIndex;
  if (o.max_lag_revisions > 0 && lag.revisions > o.max_lag_revisions) return ReadPath::kReadIndex;
  return ReadPath::kLocal;
}

void ForwardRegistry::run(outpostpb::ForwardedCall call, server::Member::ForwardReply reply) const {
  auto it = runners_.find(call.method());
  if (it == runners_.end()) {
    outpostpb::ForwardedAnswer a;
    a.set_code(int(grpc::StatusCode::UNIMPLEMENTED));
    a.set_message("unknown method " + call.method() + " forwarded");
    return reply(std::move(a));
  }
  it->second(std::move(call), std::move(reply));
}

}  // namespace outpost::api
