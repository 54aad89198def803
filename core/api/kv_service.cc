#include "core/api/errors.h"
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

grpc::ServerUnaryReactor* KvService::Range(RawCtx* ctx, const Raw* in, Raw* out) {
  return serve_unary<pb::RangeRequest, pb::RangeResponse>(ctx, in, out, [this](auto* call) {
    Status s = check_range(call->req);
    if (!s) return call->finish(to_grpc(s));
    if (!call->req.serializable() && m_.is_learner())
      return call->finish(to_grpc(Status::of(ErrorCode::kNotSupportedForLearner)));
    auto run = [this, call] {
      mvcc::ReadTxn txn(m_.store());
      Status s = mvcc::range(txn, call->req, &call->resp);
      if (s) fill_header(m_, call->resp.mutable_header());
      call->finish(to_grpc(s));
    };
    if (call->req.serializable()) return run();
    // Linearizable: wait until this member has applied what the leader had committed.
    m_.read_barrier([call, run](const Status& s) {
      if (!s) return call->finish(to_grpc(s));
      run();
    });
  });
}

grpc::ServerUnaryReactor* KvService::Put(RawCtx* ctx, const Raw* in, Raw* out) {
  return serve_unary<pb::PutRequest, pb::PutResponse>(ctx, in, out,
                                                      not_on_learner(m_, [this](auto* call) {
                                                        Status s = check_put(call->req);
                                                        if (!s) return call->finish(to_grpc(s));
                                                        outpostpb::Request r;
                                                        *r.mutable_put() = std::move(call->req);
                                                        propose_and_finish(m_, call, std::move(r));
                                                      }));
}

grpc::ServerUnaryReactor* KvService::DeleteRange(RawCtx* ctx, const Raw* in, Raw* out) {
  return serve_unary<pb::DeleteRangeRequest, pb::DeleteRangeResponse>(
      ctx, in, out, not_on_learner(m_, [this](auto* call) {
        Status s = check_delete(call->req);
        if (!s) return call->finish(to_grpc(s));
        outpostpb::Request r;
        *r.mutable_delete_range() = std::move(call->req);
        propose_and_finish(m_, call, std::move(r));
      }));
}

grpc::ServerUnaryReactor* KvService::Txn(RawCtx* ctx, const Raw* in, Raw* out) {
  return serve_unary<pb::TxnRequest, pb::TxnResponse>(
      ctx, in, out, not_on_learner(m_, [this](auto* call) {
        Status s = check_txn(call->req, o_.max_txn_ops);
        if (s) s = check_txn_keys(call->req);
        if (!s) return call->finish(to_grpc(s));
        if (mvcc::is_txn_read_only(call->req)) {
          auto run = [this, call] {
            mvcc::ReadTxn txn(m_.store());
            Status s = mvcc::txn(txn, nullptr, call->req, &call->resp,
                                 [this](int64_t id) { return m_.lease_exists(id); });
            if (s) fill_header(m_, call->resp.mutable_header());
            call->finish(to_grpc(s));
          };
          if (txn_serializable(call->req)) return run();
          return m_.read_barrier([call, run](const Status& s) {
            if (!s) return call->finish(to_grpc(s));
            run();
          });
        }
        outpostpb::Request r;
        *r.mutable_txn() = std::move(call->req);
        propose_and_finish(m_, call, std::move(r));
      }));
}

grpc::ServerUnaryReactor* KvService::Compact(RawCtx* ctx, const Raw* in, Raw* out) {
  return serve_unary<pb::CompactionRequest, pb::CompactionResponse>(
      ctx, in, out, not_on_learner(m_, [this](auto* call) {
        outpostpb::Request r;
        *r.mutable_compaction() = std::move(call->req);
        propose_and_finish(m_, call, std::move(r));
      }));
}

}  // namespace outpost::api
