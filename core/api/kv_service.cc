#include "core/api/errors.h"
#include "core/api/learner.h"
#include "core/api/propose.h"
#include "core/api/services.h"
#include "core/api/unary.h"
#include "core/api/validate.h"
#include "core/mvcc/kv_ops.h"

namespace outpost::api {

void fill_header(server::Member& m, pb::ResponseHeader* h, bool with_revision) {
  h->set_cluster_id(m.cluster_id());
  h->set_member_id(m.member_id());
  h->set_raft_term(m.term());
  if (with_revision && h->revision() == 0) h->set_revision(m.store().current_revision());
}

namespace {

// A read-only txn may skip the read index only when every range in it is serializable.
bool txn_serializable(const pb::TxnRequest& r) {
  for (const auto* ops : {&r.success(), &r.failure()}) {
    for (const auto& op : *ops) {
      if (op.has_request_range() && !op.request_range().serializable()) return false;
      if (op.has_request_txn() && !txn_serializable(op.request_txn())) return false;
    }
  }
  return true;
}

}  // namespace

namespace {

// Put: run here (a voter, or the leader for a learner that forwarded it).
auto put_handler(server::Member& m, const ApiOptions&) {
  return [&m](auto* call) {
    Status s = check_put(call->req);
    if (!s) return call->finish(to_grpc(s));
    outpostpb::Request r;
    *r.mutable_put() = std::move(call->req);
    // The space quota (server/quota.h): past it, NOSPACE is raised and the put refused.
    if (!m.check_quota(r)) return call->finish(to_grpc(Status::of(ErrorCode::kNoSpace)));
    propose_and_finish(m, call, std::move(r));
  };
}

// DeleteRange: run here (a voter, or the leader for a learner that forwarded it).
auto delete_range_handler(server::Member& m, const ApiOptions&) {
  return [&m](auto* call) {
    Status s = check_delete(call->req);
    if (!s) return call->finish(to_grpc(s));
    outpostpb::Request r;
    *r.mutable_delete_range() = std::move(call->req);
    propose_and_finish(m, call, std::move(r));
  };
}

// Txn: run here (a voter, or the leader for a learner that forwarded it).
auto txn_handler(server::Member& m, const ApiOptions& o) {
  return [&m, &o](auto* call) {
    Status s = check_txn(call->req, o.max_txn_ops);
    if (s) s = check_txn_keys(call->req);
    if (!s) return call->finish(to_grpc(s));
    if (mvcc::is_txn_read_only(call->req)) {
      // A read: checked here (a write is checked by leader_side and again when applied).
      s = authorize(m, call->caller, call->req);
      if (!s) return call->finish(to_grpc(s));
      auto run = [&m, call] {
        mvcc::ReadTxn txn(m.store());
        Status s = mvcc::txn(txn, nullptr, call->req, &call->resp,
                             [&m](int64_t id) { return m.lease_exists(id); });
        if (s) fill_header(m, call->resp.mutable_header());
        call->finish(to_grpc(s));
      };
      return read_with_policy(m, o.learner, txn_serializable(call->req), call, run);
    }
    outpostpb::Request r;
    *r.mutable_txn() = std::move(call->req);
    if (!m.check_quota(r)) return call->finish(to_grpc(Status::of(ErrorCode::kNoSpace)));
    propose_and_finish(m, call, std::move(r));
  };
}

// Compact: run here (a voter, or the leader for a learner that forwarded it).
auto compact_handler(server::Member& m, const ApiOptions&) {
  return [&m](auto* call) {
    outpostpb::Request r;
    *r.mutable_compaction() = std::move(call->req);
    propose_and_finish(m, call, std::move(r));
  };
}

}  // namespace

grpc::ServerUnaryReactor* KvService::Range(RawCtx* ctx, const Raw* in, Raw* out) {
  return serve_unary<pb::RangeRequest, pb::RangeResponse>(
      ctx, in, out, with_caller(m_, o_.client_cert_auth, [this](auto* call) {
        Status s = check_range(call->req);
        if (!s) return call->finish(to_grpc(s));
        auto run = [this, call] {
          // Checked against the store the read sees (after the read index, as etcd).
          Status s = authorize(m_, call->caller, call->req);
          if (!s) return call->finish(to_grpc(s));
          mvcc::ReadTxn txn(m_.store());
          s = mvcc::range(txn, call->req, &call->resp);
          if (s) fill_header(m_, call->resp.mutable_header());
          call->finish(to_grpc(s));
        };
        read_with_policy(m_, o_.learner, call->req.serializable(), call, run);
      }));
}

grpc::ServerUnaryReactor* KvService::Put(RawCtx* ctx, const Raw* in, Raw* out) {
  return serve_unary<pb::PutRequest, pb::PutResponse>(
      ctx, in, out,
      with_caller(m_, o_.client_cert_auth,
                  leader_side(m_, o_.learner, "/etcdserverpb.KV/Put", put_handler(m_, o_))));
}

grpc::ServerUnaryReactor* KvService::DeleteRange(RawCtx* ctx, const Raw* in, Raw* out) {
  return serve_unary<pb::DeleteRangeRequest, pb::DeleteRangeResponse>(
      ctx, in, out,
      with_caller(m_, o_.client_cert_auth,
                  leader_side(m_, o_.learner, "/etcdserverpb.KV/DeleteRange",
                              delete_range_handler(m_, o_))));
}

grpc::ServerUnaryReactor* KvService::Txn(RawCtx* ctx, const Raw* in, Raw* out) {
  return serve_unary<pb::TxnRequest, pb::TxnResponse>(
      ctx, in, out, with_caller(m_, o_.client_cert_auth, [this](auto* call) {
        // A read-only txn is a read: a learner with a read policy serves it under that policy.
        if (m_.is_learner() && o_.learner.reads != ReadPolicy::kRefuse &&
            mvcc::is_txn_read_only(call->req))
          return txn_handler(m_, o_)(call);
        leader_side(m_, o_.learner, "/etcdserverpb.KV/Txn", txn_handler(m_, o_))(call);
      }));
}

grpc::ServerUnaryReactor* KvService::Compact(RawCtx* ctx, const Raw* in, Raw* out) {
  return serve_unary<pb::CompactionRequest, pb::CompactionResponse>(
      ctx, in, out,
      with_caller(
          m_, o_.client_cert_auth,
          leader_side(m_, o_.learner, "/etcdserverpb.KV/Compact", compact_handler(m_, o_))));
}

void KvService::register_forwarded(ForwardRegistry& r) {
  r.add<pb::PutRequest, pb::PutResponse>("/etcdserverpb.KV/Put", put_handler(m_, o_));
  r.add<pb::DeleteRangeRequest, pb::DeleteRangeResponse>("/etcdserverpb.KV/DeleteRange",
                                                         delete_range_handler(m_, o_));
  r.add<pb::TxnRequest, pb::TxnResponse>("/etcdserverpb.KV/Txn", txn_handler(m_, o_));
  r.add<pb::CompactionRequest, pb::CompactionResponse>("/etcdserverpb.KV/Compact",
                                                       compact_handler(m_, o_));
}

}  // namespace outpost::api
