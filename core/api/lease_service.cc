#include "core/api/errors.h"
#include "core/api/propose.h"
#include "core/api/services.h"
#include "core/api/unary.h"

namespace outpost::api {
namespace {

// One LeaseKeepAlive stream: read a request, renew, answer, read the next. Ends when the client
// half-closes or the stream breaks.
class KeepAliveReactor final
    : public grpc::ServerBidiReactor<pb::LeaseKeepAliveRequest, pb::LeaseKeepAliveResponse> {
 public:
  explicit KeepAliveReactor(server::Member& m) : m_(m) { StartRead(&req_); }

  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::OK);
      return;
    }
    resp_.Clear();
    resp_.set_id(req_.id());
    // The header is taken before renewing, as etcd does: a lease revoked at revision N is never
    // reported kept alive at a later revision.
    fill_header(m_, resp_.mutable_header());
    if (m_.lessor().primary()) {
      auto ttl = m_.lessor().renew(req_.id());
      resp_.set_ttl(ttl ? ttl.value() : 0);  // 0: expired or revoked
      StartWrite(&resp_);
      return;
    }
    // A follower: the leader holds the deadlines; the renewal goes to it through the log.
    m_.renew_lease(req_.id(), &renewed_, [this](const Status& s) {
      if (!s) {
        Finish(to_grpc(s));
        return;
      }
      resp_.set_ttl(renewed_.ttl());
      StartWrite(&resp_);
    });
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::OK);
      return;
    }
    StartRead(&req_);
  }
  void OnDone() override { delete this; }

 private:
  server::Member& m_;
  pb::LeaseKeepAliveRequest req_;
  pb::LeaseKeepAliveResponse resp_;
  pb::LeaseKeepAliveResponse renewed_;  // filled by the applier for a forwarded renewal
};

}  // namespace

grpc::ServerUnaryReactor* LeaseService::LeaseGrant(RawCtx* ctx, const Raw* in, Raw* out) {
  return serve_unary<pb::LeaseGrantRequest, pb::LeaseGrantResponse>(
      ctx, in, out, not_on_learner(m_, [this](auto* call) {
        if (call->req.id() == 0) call->req.set_id(m_.next_lease_id());
        outpostpb::Request r;
        *r.mutable_lease_grant() = call->req;
        propose_and_finish(m_, call, std::move(r));
      }));
}

grpc::ServerUnaryReactor* LeaseService::LeaseRevoke(RawCtx* ctx, const Raw* in, Raw* out) {
  return serve_unary<pb::LeaseRevokeRequest, pb::LeaseRevokeResponse>(
      ctx, in, out, not_on_learner(m_, [this](auto* call) {
        outpostpb::Request r;
        *r.mutable_lease_revoke() = call->req;
        propose_and_finish(m_, call, std::move(r));
      }));
}

grpc::ServerUnaryReactor* LeaseService::LeaseTimeToLive(RawCtx* ctx, const Raw* in, Raw* out) {
  return serve_unary<pb::LeaseTimeToLiveRequest, pb::LeaseTimeToLiveResponse>(
      ctx, in, out, not_on_learner(m_, [this](auto* call) {
        auto info = m_.lessor().lookup(call->req.id(), call->req.keys());
        call->resp.set_id(call->req.id());
        if (!info) {
          call->resp.set_ttl(-1);  // etcd's answer for a lease it does not know
        } else {
          call->resp.set_ttl(info->remaining_ttl);
          call->resp.set_grantedttl(info->granted_ttl);
          for (const auto& k : info->keys) call->resp.add_keys(k);
        }
        fill_header(m_, call->resp.mutable_header());
        call->finish(grpc::Status::OK);
      }));
}

grpc::ServerUnaryReactor* LeaseService::LeaseLeases(RawCtx* ctx, const Raw* in, Raw* out) {
  return serve_unary<pb::LeaseLeasesRequest, pb::LeaseLeasesResponse>(
      ctx, in, out, not_on_learner(m_, [this](auto* call) {
        for (int64_t id : m_.lessor().leases()) call->resp.add_leases()->set_id(id);
        fill_header(m_, call->resp.mutable_header());
        call->finish(grpc::Status::OK);
      }));
}

grpc::ServerBidiReactor<pb::LeaseKeepAliveRequest, pb::LeaseKeepAliveResponse>*
LeaseService::LeaseKeepAlive(grpc::CallbackServerContext*) {
  return new KeepAliveReactor(m_);
}

}  // namespace outpost::api
