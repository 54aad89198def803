#include "core/api/errors.h"
#include "core/api/learner.h"
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

namespace {

// LeaseGrant: run here (a voter, or the leader for a learner that forwarded it).
auto lease_grant_handler(server::Member& m, const ApiOptions&) {
  return [&m](auto* call) {
    if (call->req.id() == 0) call->req.set_id(m.next_lease_id());
    outpostpb::Request r;
    *r.mutable_lease_grant() = call->req;
    // The space quota (server/quota.h): past it, NOSPACE is raised and the grant refused.
    if (!m.check_quota(r)) return call->finish(to_grpc(Status::of(ErrorCode::kNoSpace)));
    propose_and_finish(m, call, std::move(r));
  };
}

// LeaseRevoke: run here (a voter, or the leader for a learner that forwarded it).
auto lease_revoke_handler(server::Member& m, const ApiOptions&) {
  return [&m](auto* call) {
    outpostpb::Request r;
    *r.mutable_lease_revoke() = call->req;
    propose_and_finish(m, call, std::move(r));
  };
}

// LeaseTimeToLive: run here (a voter, or the leader for a learner that forwarded it).
auto lease_time_to_live_handler(server::Member& m, const ApiOptions&) {
  return [&m](auto* call) {
    auto info = m.lessor().lookup(call->req.id(), call->req.keys());
    call->resp.set_id(call->req.id());
    if (!info) {
      call->resp.set_ttl(-1);  // etcd's answer for a lease it does not know
    } else {
      call->resp.set_ttl(info->remaining_ttl);
      call->resp.set_grantedttl(info->granted_ttl);
      for (const auto& k : info->keys) call->resp.add_keys(k);
    }
    fill_header(m, call->resp.mutable_header());
    call->finish(grpc::Status::OK);
  };
}

// LeaseLeases: run here (a voter, or the leader for a learner that forwarded it).
auto lease_leases_handler(server::Member& m, const ApiOptions&) {
  return [&m](auto* call) {
    for (int64_t id : m.lessor().leases()) call->resp.add_leases()->set_id(id);
    fill_header(m, call->resp.mutable_header());
    call->finish(grpc::Status::OK);
  };
}

}  // namespace

grpc::ServerUnaryReactor* LeaseService::LeaseGrant(RawCtx* ctx, const Raw* in, Raw* out) {
  return serve_unary<pb::LeaseGrantRequest, pb::LeaseGrantResponse>(
      ctx, in, out,
      with_caller(m_, o_.client_cert_auth,
                  leader_side(m_, o_.learner, "/etcdserverpb.Lease/LeaseGrant",
                              lease_grant_handler(m_, o_))));
}

grpc::ServerUnaryReactor* LeaseService::LeaseRevoke(RawCtx* ctx, const Raw* in, Raw* out) {
  return serve_unary<pb::LeaseRevokeRequest, pb::LeaseRevokeResponse>(
      ctx, in, out,
      with_caller(m_, o_.client_cert_auth,
                  leader_side(m_, o_.learner, "/etcdserverpb.Lease/LeaseRevoke",
                              lease_revoke_handler(m_, o_))));
}

grpc::ServerUnaryReactor* LeaseService::LeaseTimeToLive(RawCtx* ctx, const Raw* in, Raw* out) {
  return serve_unary<pb::LeaseTimeToLiveRequest, pb::LeaseTimeToLiveResponse>(
      ctx, in, out,
      leader_side(m_, o_.learner, "/etcdserverpb.Lease/LeaseTimeToLive",
                  lease_time_to_live_handler(m_, o_)));
}

grpc::ServerUnaryReactor* LeaseService::LeaseLeases(RawCtx* ctx, const Raw* in, Raw* out) {
  return serve_unary<pb::LeaseLeasesRequest, pb::LeaseLeasesResponse>(
      ctx, in, out,
      leader_side(m_, o_.learner, "/etcdserverpb.Lease/LeaseLeases", lease_leases_handler(m_, o_)));
}

grpc::ServerBidiReactor<pb::LeaseKeepAliveRequest, pb::LeaseKeepAliveResponse>*
LeaseService::LeaseKeepAlive(grpc::CallbackServerContext*) {
  return new KeepAliveReactor(m_);
}

void LeaseService::register_forwarded(ForwardRegistry& r) {
  r.add<pb::LeaseGrantRequest, pb::LeaseGrantResponse>("/etcdserverpb.Lease/LeaseGrant",
                                                       lease_grant_handler(m_, o_));
  r.add<pb::LeaseRevokeRequest, pb::LeaseRevokeResponse>("/etcdserverpb.Lease/LeaseRevoke",
                                                         lease_revoke_handler(m_, o_));
  r.add<pb::LeaseTimeToLiveRequest, pb::LeaseTimeToLiveResponse>(
      "/etcdserverpb.Lease/LeaseTimeToLive", lease_time_to_live_handler(m_, o_));
  r.add<pb::LeaseLeasesRequest, pb::LeaseLeasesResponse>("/etcdserverpb.Lease/LeaseLeases",
                                                         lease_leases_handler(m_, o_));
}

}  // namespace outpost::api
