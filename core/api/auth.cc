#include "core/api/auth.h"

namespace outpost::api {

Result<auth::AuthInfo> resolve_caller_now(server::Member& m, const Credentials& c,
                                          bool client_cert_auth) {
  auth::AuthStore& as = m.auth();
  if (!c.token.empty()) {
    auto ai = as.token_info(c.token);
    if (!ai) return Status::of(ErrorCode::kInvalidAuthToken);
    return *ai;
  }
  if (!c.cert_user.empty() && (client_cert_auth || c.forwarded))
    return auth::AuthInfo{c.cert_user, as.revision()};
  return auth::AuthInfo{};
}

void resolve_caller(server::Member& m, const Credentials& c, bool client_cert_auth,
                    std::function<void(Result<auth::AuthInfo>)> done) {
  const uint64_t index = c.token.empty() ? 0 : auth::AuthStore::token_index(c.token);
  // Wait only for an index the log has: a made-up one must not park the call for ever.
  if (index > m.applied_index() && index <= m.last_index()) {
    m.wait_applied(index, [&m, c, client_cert_auth, done = std::move(done)](const Status& s) {
      if (!s) return done(s);
      done(resolve_caller_now(m, c, client_cert_auth));
    });
    return;
  }
  done(resolve_caller_now(m, c, client_cert_auth));
}

std::optional<std::string> caller_user(server::Member& m, const grpc::ServerContextBase* ctx,
                                       bool client_cert_auth) {
  auto ai = resolve_caller_now(m, credentials_of(ctx), client_cert_auth);
  if (!ai || ai->user.empty()) return std::nullopt;
  return ai->user;
}

auth::LeaseKeys lease_keys_of(server::Member& m) {
  return [&m](int64_t id) {
    auto info = m.lessor().lookup(id, /*with_keys=*/true);
    return info ? info->keys : std::vector<std::string>{};
  };
}

Status authorize(server::Member& m, const auth::AuthInfo& ai, const etcdserverpb::RangeRequest& r) {
  return m.auth().check_range(ai, r.key(), r.range_end());
}
Status authorize(server::Member& m, const auth::AuthInfo& ai, const etcdserverpb::PutRequest& r) {
  return auth::check_put_request(m.auth(), ai, r, lease_keys_of(m));
}
Status authorize(server::Member& m, const auth::AuthInfo& ai,
                 const etcdserverpb::DeleteRangeRequest& r) {
  return auth::check_delete_request(m.auth(), ai, r);
}
Status authorize(server::Member& m, const auth::AuthInfo& ai, const etcdserverpb::TxnRequest& r) {
  return auth::check_txn_request(m.auth(), ai, r, lease_keys_of(m));
}
Status authorize(server::Member& m, const auth::AuthInfo& ai,
                 const etcdserverpb::LeaseRevokeRequest& r) {
  return auth::check_lease_revoke(m.auth(), ai, r.id(), lease_keys_of(m));
}

#define OUTPOST_ROOT_ONLY(Req)                                                \
  Status authorize(server::Member& m, const auth::AuthInfo& ai, const Req&) { \
    return m.auth().check_admin(ai);                                          \
  }
OUTPOST_ROOT_ONLY(etcdserverpb::MemberAddRequest)
OUTPOST_ROOT_ONLY(etcdserverpb::MemberRemoveRequest)
OUTPOST_ROOT_ONLY(etcdserverpb::MemberUpdateRequest)
OUTPOST_ROOT_ONLY(etcdserverpb::MemberPromoteRequest)
OUTPOST_ROOT_ONLY(etcdserverpb::HashKVRequest)
OUTPOST_ROOT_ONLY(etcdserverpb::HashRequest)
OUTPOST_ROOT_ONLY(etcdserverpb::DefragmentRequest)
OUTPOST_ROOT_ONLY(etcdserverpb::SnapshotRequest)
OUTPOST_ROOT_ONLY(etcdserverpb::AuthEnableRequest)
OUTPOST_ROOT_ONLY(etcdserverpb::AuthDisableRequest)
OUTPOST_ROOT_ONLY(etcdserverpb::AuthUserAddRequest)
OUTPOST_ROOT_ONLY(etcdserverpb::AuthUserDeleteRequest)
OUTPOST_ROOT_ONLY(etcdserverpb::AuthUserChangePasswordRequest)
OUTPOST_ROOT_ONLY(etcdserverpb::AuthUserGrantRoleRequest)
OUTPOST_ROOT_ONLY(etcdserverpb::AuthUserRevokeRoleRequest)
OUTPOST_ROOT_ONLY(etcdserverpb::AuthRoleAddRequest)
OUTPOST_ROOT_ONLY(etcdserverpb::AuthRoleDeleteRequest)
OUTPOST_ROOT_ONLY(etcdserverpb::AuthRoleGrantPermissionRequest)
OUTPOST_ROOT_ONLY(etcdserverpb::AuthRoleRevokePermissionRequest)
OUTPOST_ROOT_ONLY(etcdserverpb::AuthUserListRequest)
OUTPOST_ROOT_ONLY(etcdserverpb::AuthRoleListRequest)
#undef OUTPOST_ROOT_ONLY

Status authorize(server::Member& m, const auth::AuthInfo& ai,
                 const etcdserverpb::AuthUserGetRequest& r) {
  Status s = m.auth().check_admin(ai);
  if (!s && r.name() == ai.user) return Status::ok();  // a user may read itself
  return s;
}

Status authorize(server::Member& m, const auth::AuthInfo& ai,
                 const etcdserverpb::AuthRoleGetRequest& r) {
  Status s = m.auth().check_admin(ai);
  if (!s && m.auth().has_role(ai.user, r.role())) return Status::ok();  // a holder may read it
  return s;
}

}  // namespace outpost::api
