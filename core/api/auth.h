#pragma once
// Authentication and access control in the API (etcd 3.4's rules, core/auth/request_check.h):
// every call that etcd resolves credentials for gets its caller resolved here first
// (with_caller), then each handler checks what its request needs (authorize) before it reads,
// proposes or forwards. The applier checks proposals again with the identity they carry, so a
// change to the auth store between the two cannot be bypassed.
//
// Who is the caller: the user of the call's simple token (gRPC metadata "token" or
// "authorization"; an unknown or expired token is etcd's "invalid auth token", auth enabled or
// not); else, under --client-cert-auth, the common name of the verified client certificate;
// else nobody (etcd's empty AuthInfo, refused with "user name is empty" while auth is enabled).
// A token is assigned at a log index: a member that has not applied that far yet waits for it,
// as etcd's simple token provider does. A learner forwarding a call passes the token on (the
// leader resolves it again) or the certificate user it resolved.
#include <functional>
#include <optional>
#include <string>

#include "core/api/credentials.h"
#include "core/api/errors.h"
#include "core/auth/request_check.h"
#include "core/server/member.h"
#include "etcdserverpb/rpc.pb.h"

namespace outpost::api {

// Resolves credentials now (a token not applied here yet is unknown).
Result<auth::AuthInfo> resolve_caller_now(server::Member& m, const Credentials& c,
                                          bool client_cert_auth);
// Resolves credentials once this member has applied the token's entry; done may run on any
// thread.
void resolve_caller(server::Member& m, const Credentials& c, bool client_cert_auth,
                    std::function<void(Result<auth::AuthInfo>)> done);
// The calling user of a call on this member (token, or certificate CN under client_cert_auth),
// or nullopt when it gives none or an invalid token. For the TLS side: the one place a gRPC
// context becomes a user.
std::optional<std::string> caller_user(server::Member& m, const grpc::ServerContextBase* ctx,
                                       bool client_cert_auth);

// Wraps a unary handler: resolves call->creds into call->caller, then runs fn(call); an invalid
// token finishes the call with etcd's error.
template <class Fn>
auto with_caller(server::Member& m, bool client_cert_auth, Fn fn) {
  return [&m, client_cert_auth, fn = std::move(fn)](auto* call) mutable {
    resolve_caller(m, call->creds, client_cert_auth, [call, fn](Result<auth::AuthInfo> ai) mutable {
      if (!ai) return call->finish(to_grpc(ai.status()));
      call->caller = std::move(ai.value());
      fn(call);
    });
  };
}

// What a request needs before it is proposed, forwarded or read (the applier re-checks writes).
// Requests without an overload need no permission (etcd 3.4: Compaction, LeaseGrant, Alarm,
// LeaseTimeToLive, Status, MemberList, Authenticate).
template <class Req>
Status authorize(server::Member&, const auth::AuthInfo&, const Req&) {
  return Status::ok();
}
Status authorize(server::Member& m, const auth::AuthInfo& ai, const etcdserverpb::RangeRequest& r);
Status authorize(server::Member& m, const auth::AuthInfo& ai, const etcdserverpb::PutRequest& r);
Status authorize(server::Member& m, const auth::AuthInfo& ai,
                 const etcdserverpb::DeleteRangeRequest& r);
Status authorize(server::Member& m, const auth::AuthInfo& ai, const etcdserverpb::TxnRequest& r);
Status authorize(server::Member& m, const auth::AuthInfo& ai,
                 const etcdserverpb::LeaseRevokeRequest& r);
// Root only (etcd: membership changes, HashKV, auth management).
Status authorize(server::Member& m, const auth::AuthInfo& ai,
                 const etcdserverpb::MemberAddRequest& r);
Status authorize(server::Member& m, const auth::AuthInfo& ai,
                 const etcdserverpb::MemberRemoveRequest& r);
Status authorize(server::Member& m, const auth::AuthInfo& ai,
                 const etcdserverpb::MemberUpdateRequest& r);
Status authorize(server::Member& m, const auth::AuthInfo& ai,
                 const etcdserverpb::MemberPromoteRequest& r);
Status authorize(server::Member& m, const auth::AuthInfo& ai, const etcdserverpb::HashKVRequest& r);
Status authorize(server::Member& m, const auth::AuthInfo& ai, const etcdserverpb::HashRequest& r);
Status authorize(server::Member& m, const auth::AuthInfo& ai,
                 const etcdserverpb::DefragmentRequest& r);
Status authorize(server::Member& m, const auth::AuthInfo& ai,
                 const etcdserverpb::SnapshotRequest& r);
Status authorize(server::Member& m, const auth::AuthInfo& ai,
                 const etcdserverpb::AuthEnableRequest& r);
Status authorize(server::Member& m, const auth::AuthInfo& ai,
                 const etcdserverpb::AuthDisableRequest& r);
Status authorize(server::Member& m, const auth::AuthInfo& ai,
                 const etcdserverpb::AuthUserAddRequest& r);
Status authorize(server::Member& m, const auth::AuthInfo& ai,
                 const etcdserverpb::AuthUserDeleteRequest& r);
Status authorize(server::Member& m, const auth::AuthInfo& ai,
                 const etcdserverpb::AuthUserChangePasswordRequest& r);
Status authorize(server::Member& m, const auth::AuthInfo& ai,
                 const etcdserverpb::AuthUserGrantRoleRequest& r);
Status authorize(server::Member& m, const auth::AuthInfo& ai,
                 const etcdserverpb::AuthUserRevokeRoleRequest& r);
Status authorize(server::Member& m, const auth::AuthInfo& ai,
                 const etcdserverpb::AuthRoleAddRequest& r);
Status authorize(server::Member& m, const auth::AuthInfo& ai,
                 const etcdserverpb::AuthRoleDeleteRequest& r);
Status authorize(server::Member& m, const auth::AuthInfo& ai,
                 const etcdserverpb::AuthRoleGrantPermissionRequest& r);
Status authorize(server::Member& m, const auth::AuthInfo& ai,
                 const etcdserverpb::AuthRoleRevokePermissionRequest& r);
// Reads of the auth store: root, or (UserGet) the user itself, or (RoleGet) a holder of the role.
Status authorize(server::Member& m, const auth::AuthInfo& ai,
                 const etcdserverpb::AuthUserGetRequest& r);
Status authorize(server::Member& m, const auth::AuthInfo& ai,
                 const etcdserverpb::AuthRoleGetRequest& r);
Status authorize(server::Member& m, const auth::AuthInfo& ai,
                 const etcdserverpb::AuthUserListRequest& r);
Status authorize(server::Member& m, const auth::AuthInfo& ai,
                 const etcdserverpb::AuthRoleListRequest& r);

// The keys attached to a lease on this member.
auth::LeaseKeys lease_keys_of(server::Member& m);

}  // namespace outpost::api
