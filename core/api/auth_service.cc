// The Auth service: etcd 3.4's user, role and auth management over the log (core/auth).
#include <thread>

#include "core/api/auth.h"
#include "core/api/errors.h"
#include "core/api/learner.h"
#include "core/api/propose.h"
#include "core/api/services.h"
#include "core/api/unary.h"
#include "core/auth/bcrypt.h"
#include "core/common/log.h"

namespace outpost::api {
namespace {

// bcrypt is slow on purpose (tens of milliseconds at cost 10): it runs on a thread of its own,
// never on gRPC's, the raft or the apply thread. The call stays open until fn finishes it, so
// the server's shutdown waits for it.
template <class Fn>
void offload(Fn fn) {
  std::thread(std::move(fn)).detach();
}

// A management request: proposed as is (the applier checks root again and applies it).
template <class Set>
auto propose_handler(server::Member& m, Set set) {
  return [&m, set](auto* call) {
    outpostpb::Request r;
    set(r, call->req);
    propose_and_finish(m, call, std::move(r));
  };
}

// UserAdd: the password is hashed here; the log carries the hash only.
auto user_add_handler(server::Member& m, const ApiOptions& o) {
  return [&m, cost = o.bcrypt_cost](auto* call) {
    if (call->req.name().empty()) return call->finish(to_grpc(Status::of(ErrorCode::kUserEmpty)));
    offload([&m, cost, call] {
      outpostpb::Request r;
      auto* a = r.mutable_auth_user_add();
      a->set_name(call->req.name());
      *a->mutable_options() = call->req.options();
      if (!call->req.options().no_password()) {
        auto hash = auth::bcrypt_hash(call->req.password(), cost);
        if (!hash) return call->finish(to_grpc(hash.status()));
        a->set_hashed_password(std::move(hash.value()));
      }
      call->req.clear_password();
      propose_and_finish(m, call, std::move(r));
    });
  };
}

auto change_password_handler(server::Member& m, const ApiOptions& o) {
  return [&m, cost = o.bcrypt_cost](auto* call) {
    offload([&m, cost, call] {
      outpostpb::Request r;
      auto* a = r.mutable_auth_user_change_password();
      a->set_name(call->req.name());
      auto hash = auth::bcrypt_hash(call->req.password(), cost);
      if (!hash) return call->finish(to_grpc(hash.status()));
      a->set_hashed_password(std::move(hash.value()));
      call->req.clear_password();
      propose_and_finish(m, call, std::move(r));
    });
  };
}

// Authenticate, as etcd: check the password against the local store (after a read index), then
// propose only the token's assignment; if the auth store changed between the check and the
// apply (a password change, say), check again.
template <class Call>
void authenticate_attempt(server::Member& m, Call* call, int tries) {
  auto checked = m.auth().check_password(call->req.name(), call->req.password());
  if (!checked) return call->finish(to_grpc(checked.status()));
  outpostpb::Request r;
  r.mutable_authenticate()->set_name(call->req.name());
  r.mutable_authenticate()->set_simple_token(auth::AuthStore::new_token_prefix());
  const uint64_t rev = checked.value();
  m.propose(std::move(r), &call->resp, [&m, call, rev, tries](const Status& s) {
    if (!s) return call->finish(to_grpc(s));
    if (rev == m.auth().revision() || tries <= 1) {
      fill_header(m, call->resp.mutable_header());
      return call->finish(grpc::Status::OK);
    }
    OUTPOST_LOG(kInfo, "revision when password checked became stale; retrying");
    call->resp.Clear();
    offload([&m, call, tries] { authenticate_attempt(m, call, tries - 1); });
  });
}

auto authenticate_handler(server::Member& m, const ApiOptions&) {
  return [&m](auto* call) {
    m.read_barrier([&m, call](const Status& s) {
      if (!s) return call->finish(to_grpc(s));
      offload([&m, call] { authenticate_attempt(m, call, 5); });
    });
  };
}

#define OUTPOST_SET(field) \
  [](outpostpb::Request& r, const auto& req) { *r.mutable_##field() = req; }

}  // namespace

#define OUTPOST_AUTH_WRITE(Method, Req, Resp, handler)                                     \
  grpc::ServerUnaryReactor* AuthService::Method(RawCtx* ctx, const Raw* in, Raw* out) {    \
    return serve_unary<pb::Req, pb::Resp>(                                                 \
        ctx, in, out,                                                                      \
        with_caller(m_, o_.client_cert_auth,                                               \
                    leader_side(m_, o_.learner, "/etcdserverpb.Auth/" #Method, handler))); \
  }

OUTPOST_AUTH_WRITE(AuthEnable, AuthEnableRequest, AuthEnableResponse,
                   propose_handler(m_, OUTPOST_SET(auth_enable)))
OUTPOST_AUTH_WRITE(AuthDisable, AuthDisableRequest, AuthDisableResponse,
                   propose_handler(m_, OUTPOST_SET(auth_disable)))
OUTPOST_AUTH_WRITE(UserAdd, AuthUserAddRequest, AuthUserAddResponse, user_add_handler(m_, o_))
OUTPOST_AUTH_WRITE(UserDelete, AuthUserDeleteRequest, AuthUserDeleteResponse,
                   propose_handler(m_, OUTPOST_SET(auth_user_delete)))
OUTPOST_AUTH_WRITE(UserChangePassword, AuthUserChangePasswordRequest,
                   AuthUserChangePasswordResponse, change_password_handler(m_, o_))
OUTPOST_AUTH_WRITE(UserGrantRole, AuthUserGrantRoleRequest, AuthUserGrantRoleResponse,
                   propose_handler(m_, OUTPOST_SET(auth_user_grant_role)))
OUTPOST_AUTH_WRITE(UserRevokeRole, AuthUserRevokeRoleRequest, AuthUserRevokeRoleResponse,
                   propose_handler(m_, OUTPOST_SET(auth_user_revoke_role)))
OUTPOST_AUTH_WRITE(RoleAdd, AuthRoleAddRequest, AuthRoleAddResponse,
                   propose_handler(m_, OUTPOST_SET(auth_role_add)))
OUTPOST_AUTH_WRITE(RoleDelete, AuthRoleDeleteRequest, AuthRoleDeleteResponse,
                   propose_handler(m_, OUTPOST_SET(auth_role_delete)))
OUTPOST_AUTH_WRITE(RoleGrantPermission, AuthRoleGrantPermissionRequest,
                   AuthRoleGrantPermissionResponse,
                   propose_handler(m_, OUTPOST_SET(auth_role_grant_permission)))
OUTPOST_AUTH_WRITE(RoleRevokePermission, AuthRoleRevokePermissionRequest,
                   AuthRoleRevokePermissionResponse,
                   propose_handler(m_, OUTPOST_SET(auth_role_revoke_permission)))
#undef OUTPOST_AUTH_WRITE

grpc::ServerUnaryReactor* AuthService::Authenticate(RawCtx* ctx, const Raw* in, Raw* out) {
  // No caller to resolve: the name and password are the credentials.
  return serve_unary<pb::AuthenticateRequest, pb::AuthenticateResponse>(
      ctx, in, out,
      leader_side(m_, o_.learner, "/etcdserverpb.Auth/Authenticate", authenticate_handler(m_, o_)));
}

// The reads: after a read index (etcd answers them through the log), checked, from the store.
#define OUTPOST_AUTH_READ(Method, Req, Resp, body)                                      \
  grpc::ServerUnaryReactor* AuthService::Method(RawCtx* ctx, const Raw* in, Raw* out) { \
    return serve_unary<pb::Req, pb::Resp>(                                              \
        ctx, in, out, with_caller(m_, o_.client_cert_auth, [this](auto* call) {         \
          read_with_policy(m_, o_.learner, /*serializable=*/false, call, [this, call] { \
            Status s = authorize(m_, call->caller, call->req);                          \
            if (s) {                                                                    \
              auth::AuthStore& as = m_.auth();                                          \
              auto& req = call->req;                                                    \
              auto& resp = call->resp;                                                  \
              body                                                                      \
            }                                                                           \
            if (s) fill_header(m_, call->resp.mutable_header());                        \
            call->finish(to_grpc(s));                                                   \
          });                                                                           \
        }));                                                                            \
  }

OUTPOST_AUTH_READ(UserGet, AuthUserGetRequest, AuthUserGetResponse, {
  auto roles = as.user_roles(req.name());
  s = roles.status();
  if (roles)
    for (auto& r : roles.value()) resp.add_roles(r);
})
OUTPOST_AUTH_READ(UserList, AuthUserListRequest, AuthUserListResponse, {
  (void)req;
  for (auto& u : as.users()) resp.add_users(u);
})
OUTPOST_AUTH_READ(RoleGet, AuthRoleGetRequest, AuthRoleGetResponse, {
  auto perms = as.role_permissions(req.role());
  s = perms.status();
  if (perms)
    for (auto& p : perms.value()) *resp.add_perm() = p;
})
OUTPOST_AUTH_READ(RoleList, AuthRoleListRequest, AuthRoleListResponse, {
  (void)req;
  for (auto& r : as.roles()) resp.add_roles(r);
})
#undef OUTPOST_AUTH_READ

void AuthService::register_forwarded(ForwardRegistry& r) {
  r.add<pb::AuthEnableRequest, pb::AuthEnableResponse>(
      "/etcdserverpb.Auth/AuthEnable", propose_handler(m_, OUTPOST_SET(auth_enable)));
  r.add<pb::AuthDisableRequest, pb::AuthDisableResponse>(
      "/etcdserverpb.Auth/AuthDisable", propose_handler(m_, OUTPOST_SET(auth_disable)));
  r.add<pb::AuthenticateRequest, pb::AuthenticateResponse>("/etcdserverpb.Auth/Authenticate",
                                                           authenticate_handler(m_, o_));
  r.add<pb::AuthUserAddRequest, pb::AuthUserAddResponse>("/etcdserverpb.Auth/UserAdd",
                                                         user_add_handler(m_, o_));
  r.add<pb::AuthUserDeleteRequest, pb::AuthUserDeleteResponse>(
      "/etcdserverpb.Auth/UserDelete", propose_handler(m_, OUTPOST_SET(auth_user_delete)));
  r.add<pb::AuthUserChangePasswordRequest, pb::AuthUserChangePasswordResponse>(
      "/etcdserverpb.Auth/UserChangePassword", change_password_handler(m_, o_));
  r.add<pb::AuthUserGrantRoleRequest, pb::AuthUserGrantRoleResponse>(
      "/etcdserverpb.Auth/UserGrantRole", propose_handler(m_, OUTPOST_SET(auth_user_grant_role)));
  r.add<pb::AuthUserRevokeRoleRequest, pb::AuthUserRevokeRoleResponse>(
      "/etcdserverpb.Auth/UserRevokeRole", propose_handler(m_, OUTPOST_SET(auth_user_revoke_role)));
  r.add<pb::AuthRoleAddRequest, pb::AuthRoleAddResponse>(
      "/etcdserverpb.Auth/RoleAdd", propose_handler(m_, OUTPOST_SET(auth_role_add)));
  r.add<pb::AuthRoleDeleteRequest, pb::AuthRoleDeleteResponse>(
      "/etcdserverpb.Auth/RoleDelete", propose_handler(m_, OUTPOST_SET(auth_role_delete)));
  r.add<pb::AuthRoleGrantPermissionRequest, pb::AuthRoleGrantPermissionResponse>(
      "/etcdserverpb.Auth/RoleGrantPermission",
      propose_handler(m_, OUTPOST_SET(auth_role_grant_permission)));
  r.add<pb::AuthRoleRevokePermissionRequest, pb::AuthRoleRevokePermissionResponse>(
      "/etcdserverpb.Auth/RoleRevokePermission",
      propose_handler(m_, OUTPOST_SET(auth_role_revoke_permission)));
}

#undef OUTPOST_SET

}  // namespace outpost::api
