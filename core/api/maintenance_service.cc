#include "core/api/errors.h"
#include "core/api/learner.h"
#include "core/api/services.h"
#include "core/api/unary.h"

namespace outpost::api {

namespace {

// Alarm: run here (a voter, or the leader for a learner that forwarded it).
auto alarm_handler(server::Member& m, const ApiOptions&) {
  return [&m](auto* call) {
    // No alarms are raised yet (no space quota, no corruption check): the list is empty.
    fill_header(m, call->resp.mutable_header());
    call->finish(grpc::Status::OK);
  };
}

}  // namespace

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
      ctx, in, out,
      with_caller(
          m_, o_.client_cert_auth,
          leader_side(m_, o_.learner, "/etcdserverpb.Maintenance/Alarm", alarm_handler(m_, o_))));
}

grpc::ServerUnaryReactor* MaintenanceService::HashKV(RawCtx* ctx, const Raw* in, Raw* out) {
  return serve_unary<pb::HashKVRequest, pb::HashKVResponse>(ctx, in, out, [this](auto* call) {
    // Root only, as etcd; its authMaintenanceServer returns auth errors unconverted.
    auto ai = resolve_caller_now(m_, call->creds, o_.client_cert_auth);
    outpost::Status s = ai.status();
    if (ai) s = authorize(m_, ai.value(), call->req);
    if (!s) return call->finish(to_grpc_unconverted_auth(s));
    mvcc::Store::Hash h;
    s = m_.store().hash_kv(call->req.revision(), &h);
    if (s) {
      call->resp.mutable_header()->set_revision(h.current_rev);
      call->resp.set_hash(h.hash);
      call->resp.set_compact_revision(h.compact_rev);
      fill_header(m_, call->resp.mutable_header());
    }
    call->finish(to_grpc(s));
  });
}

void MaintenanceService::register_forwarded(ForwardRegistry& r) {
  r.add<pb::AlarmRequest, pb::AlarmResponse>("/etcdserverpb.Maintenance/Alarm",
                                             alarm_handler(m_, o_));
}

}  // namespace outpost::api
