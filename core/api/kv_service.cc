#include "core/api/errors.h"
#include "core/api/services.h"
#include "core/api/validate.h"
#include "core/mvcc/kv_ops.h"

namespace outpost::api {
namespace pb = etcdserverpb;

void fill_header(server::Member& m, pb::ResponseHeader* h) {
  h->set_cluster_id(m.cluster_id());
  h->set_member_id(m.member_id());
  h->set_raft_term(m.term());
  if (h->revision() == 0) h->set_revision(m.store().current_revision());
}

namespace {

// Proposes req and finishes the call once it is applied (or failed).
template <class Resp>
grpc::ServerUnaryReactor* propose_and_finish(grpc::CallbackServerContext* ctx, server::Member& m,
                                             outpostpb::Request req, Resp* resp) {
  auto* reactor = ctx->DefaultReactor();
  m.propose(std::move(req), resp, [&m, reactor, resp](const Status& s) {
    if (s) fill_header(m, resp->mutable_header());
    reactor->Finish(to_grpc(s));
  });
  return reactor;
}

grpc::ServerUnaryReactor* finish(grpc::CallbackServerContext* ctx, const Status& s) {
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(to_grpc(s));
  return reactor;
}

}  // namespace

grpc::ServerUnaryReactor* KvService::Range(grpc::CallbackServerContext* ctx,
                                           const pb::RangeRequest* req, pb::RangeResponse* resp) {
  Status s = check_range(*req);
  if (s) {
    // One member: every acknowledged write is applied before it is acknowledged, so the local
    // store is linearizable and serializable alike.
    mvcc::ReadTxn txn(m_.store());
    s = mvcc::range(txn, *req, resp);
  }
  if (s) fill_header(m_, resp->mutable_header());
  return finish(ctx, s);
}

grpc::ServerUnaryReactor* KvService::Put(grpc::CallbackServerContext* ctx,
                                         const pb::PutRequest* req, pb::PutResponse* resp) {
  Status s = check_put(*req);
  if (!s) return finish(ctx, s);
  outpostpb::Request r;
  *r.mutable_put() = *req;
  return propose_and_finish(ctx, m_, std::move(r), resp);
}

grpc::ServerUnaryReactor* KvService::DeleteRange(grpc::CallbackServerContext* ctx,
                                                 const pb::DeleteRangeRequest* req,
                                                 pb::DeleteRangeResponse* resp) {
  Status s = check_delete(*req);
  if (!s) return finish(ctx, s);
  outpostpb::Request r;
  *r.mutable_delete_range() = *req;
  return propose_and_finish(ctx, m_, std::move(r), resp);
}

grpc::ServerUnaryReactor* KvService::Txn(grpc::CallbackServerContext* ctx,
                                         const pb::TxnRequest* req, pb::TxnResponse* resp) {
  Status s = check_txn(*req, o_.max_txn_ops);
  if (s) s = check_txn_keys(*req);
  if (!s) return finish(ctx, s);
  if (mvcc::is_txn_read_only(*req)) {
    mvcc::ReadTxn txn(m_.store());
    s = mvcc::txn(txn, nullptr, *req, resp, [this](int64_t id) { return m_.lease_exists(id); });
    if (s) fill_header(m_, resp->mutable_header());
    return finish(ctx, s);
  }
  outpostpb::Request r;
  *r.mutable_txn() = *req;
  return propose_and_finish(ctx, m_, std::move(r), resp);
}

grpc::ServerUnaryReactor* KvService::Compact(grpc::CallbackServerContext* ctx,
                                             const pb::CompactionRequest* req,
                                             pb::CompactionResponse* resp) {
  outpostpb::Request r;
  *r.mutable_compaction() = *req;
  return propose_and_finish(ctx, m_, std::move(r), resp);
}

}  // namespace outpost::api
