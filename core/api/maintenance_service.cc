#include <thread>

#include "core/api/errors.h"
#include "core/api/learner.h"
#include "core/api/services.h"
#include "core/api/unary.h"

namespace outpost::api {

namespace {

// Alarm: run here (a voter, or the leader for a learner that forwarded it).
auto alarm_handler(server::Member& m, const ApiOptions&) {
  return [&m](auto* call) {
    // Through the log, GET included, as etcd: every member answers from the same state.
    outpostpb::Request r;
    *r.mutable_alarm() = std::move(call->req);
    m.propose(std::move(r), &call->resp, [&m, call](const outpost::Status& s) {
      if (s) fill_header(m, call->resp.mutable_header());
      call->finish(to_grpc(s));
    });
  };
}

}  // namespace

grpc::ServerUnaryReactor* MaintenanceService::Status(RawCtx* ctx, const Raw* in, Raw* out) {
  return serve_unary<pb::StatusRequest, pb::StatusResponse>(ctx, in, out, [this](auto* call) {
    auto& resp = call->resp;
    fill_header(m_, resp.mutable_header());
    resp.set_version(o_.version);
    resp.set_dbsize(m_.db_size());
    resp.set_dbsizeinuse(m_.db_size_in_use());
    resp.set_leader(m_.leader_id());
    resp.set_raftindex(m_.last_index());
    resp.set_raftterm(m_.term());
    resp.set_raftappliedindex(m_.applied_index());
    resp.set_islearner(m_.is_learner());
    // etcd lists "etcdserver: no leader" and each active alarm.
    if (m_.leader_id() == 0) resp.add_errors(outpost::Status::of(ErrorCode::kNoLeader).message());
    for (const auto& a : m_.alarms().get()) resp.add_errors(server::alarm_text(a));
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

grpc::ServerUnaryReactor* MaintenanceService::Hash(RawCtx* ctx, const Raw* in, Raw* out) {
  return serve_unary<pb::HashRequest, pb::HashResponse>(ctx, in, out, [this](auto* call) {
    auto ai = resolve_caller_now(m_, call->creds, o_.client_cert_auth);
    outpost::Status s = ai.status();
    if (ai) s = authorize(m_, ai.value(), call->req);
    if (!s) return call->finish(to_grpc_unconverted_auth(s));
    // The revision is read first: the hash covers at least that much.
    call->resp.mutable_header()->set_revision(m_.store().current_revision());
    uint32_t h = 0;
    s = m_.hash_kv(&h);
    if (s) {
      call->resp.set_hash(h);
      fill_header(m_, call->resp.mutable_header());
    }
    call->finish(to_grpc(s));
  });
}

grpc::ServerUnaryReactor* MaintenanceService::Defragment(RawCtx* ctx, const Raw* in, Raw* out) {
  return serve_unary<pb::DefragmentRequest, pb::DefragmentResponse>(
      ctx, in, out, [this](auto* call) {
        auto ai = resolve_caller_now(m_, call->creds, o_.client_cert_auth);
        outpost::Status s = ai.status();
        if (ai) s = authorize(m_, ai.value(), call->req);
        if (!s) return call->finish(to_grpc_unconverted_auth(s));
        // A full compaction takes seconds to minutes: not on a gRPC thread.
        std::thread([this, call] {
          outpost::Status s = m_.defragment();
          if (s) fill_header(m_, call->resp.mutable_header());
          call->finish(to_grpc(s));
        }).detach();
      });
}

grpc::ServerUnaryReactor* MaintenanceService::MoveLeader(RawCtx* ctx, const Raw* in, Raw* out) {
  return serve_unary<pb::MoveLeaderRequest, pb::MoveLeaderResponse>(
      ctx, in, out, [this](auto* call) {
        // etcd checks no permission here; only the leader moves its leadership.
        if (!m_.is_leader())
          return call->finish(to_grpc(outpost::Status::of(ErrorCode::kNotLeader)));
        m_.move_leader(call->req.targetid(), [this, call](const outpost::Status& s) {
          if (s) fill_header(m_, call->resp.mutable_header());
          call->finish(to_grpc(s));
        });
      });
}

void MaintenanceService::register_forwarded(ForwardRegistry& r) {
  r.add<pb::AlarmRequest, pb::AlarmResponse>("/etcdserverpb.Maintenance/Alarm",
                                             alarm_handler(m_, o_));
}

}  // namespace outpost::api
