#include "core/api/errors.h"
#include "core/api/services.h"
#include "core/api/unary.h"

namespace outpost::api {

grpc::ServerUnaryReactor* MaintenanceService::Status(RawCtx* ctx, const Raw* in, Raw* out) {
  return serve_unary<pb::StatusRequest, pb::StatusResponse>(ctx, in, out, [this](auto* call) {
    auto& resp = call->resp;
    fill_header(m_, resp.mutable_header());
    resp.set_version(o_.version);
    const int64_t size = m_.db_size();
    resp.set_dbsize(size);
    resp.set_dbsizeinuse(size);
    resp.set_leader(m_.leader_id());
    resp.set_raftindex(m_.last_index());
    resp.set_raftterm(m_.term());
    resp.set_raftappliedindex(m_.applied_index());
    resp.set_islearner(m_.is_learner());
    call->finish(grpc::Status::OK);
  });
}

grpc::ServerUnaryReactor* MaintenanceService::Alarm(RawCtx* ctx, const Raw* in, Raw* out) {
  return serve_unary<pb::AlarmRequest, pb::AlarmResponse>(
      ctx, in, out, not_on_learner(m_, [this](auto* call) {
        // No alarms are raised yet (no space quota, no corruption check): the list is empty.
        fill_header(m_, call->resp.mutable_header());
        call->finish(grpc::Status::OK);
      }));
}

grpc::ServerUnaryReactor* MaintenanceService::HashKV(RawCtx* ctx, const Raw* in, Raw* out) {
  return serve_unary<pb::HashKVRequest, pb::HashKVResponse>(ctx, in, out, [this](auto* call) {
    mvcc::Store::Hash h;
    outpost::Status s = m_.store().hash_kv(call->req.revision(), &h);
    if (s) {
      call->resp.mutable_header()->set_revision(h.current_rev);
      call->resp.set_hash(h.hash);
      call->resp.set_compact_revision(h.compact_rev);
      fill_header(m_, call->resp.mutable_header());
    }
    call->finish(to_grpc(s));
  });
}

}  // namespace outpost::api
