#pragma once
// The etcd v3 gRPC services a member serves, on gRPC's callback API: a call waiting for its
// proposal to be applied holds no thread. Methods are raw (see unary.h) so malformed requests
// get etcd's error. Each handler validates, reads or proposes, and fills the response header
// (cluster id, member id, raft term, revision) as etcd does.
#include <memory>

#include "core/api/errors.h"
#include "core/api/learner.h"
#include "core/server/member.h"
#include "etcdserverpb/rpc.grpc.pb.h"

namespace outpost::api {

struct ApiOptions {
  int64_t max_txn_ops = 128;
  std::string version = "3.4.23";  // what Status reports: the etcd API level we serve
  LearnerOptions learner;          // what a learner does with reads and writes (learner.h)
  // --client-cert-auth: a verified client certificate's common name is the user when the call
  // carries no token (auth.h). Takes effect once client TLS is served.
  bool client_cert_auth = false;
  int bcrypt_cost = 10;         // --bcrypt-cost: bcrypt cost of the password hashes UserAdd makes
  std::string outpost_version;  // Outpost's own release, added to /version when set
  bool grpc_gateway = true;     // --enable-grpc-gateway: the JSON gateway's routes (gateway.h)
};

namespace pb = etcdserverpb;
using RawCtx = grpc::CallbackServerContext;
using Raw = grpc::ByteBuffer;

using KvBase = pb::KV::WithRawCallbackMethod_Range<pb::KV::WithRawCallbackMethod_Put<
    pb::KV::WithRawCallbackMethod_DeleteRange<pb::KV::WithRawCallbackMethod_Txn<
        pb::KV::WithRawCallbackMethod_Compact<pb::KV::Service>>>>>;

class KvService final : public KvBase {
 public:
  KvService(server::Member& m, ApiOptions o) : m_(m), o_(std::move(o)) {}
  grpc::ServerUnaryReactor* Range(RawCtx* ctx, const Raw* in, Raw* out) override;
  grpc::ServerUnaryReactor* Put(RawCtx* ctx, const Raw* in, Raw* out) override;
  grpc::ServerUnaryReactor* DeleteRange(RawCtx* ctx, const Raw* in, Raw* out) override;
  grpc::ServerUnaryReactor* Txn(RawCtx* ctx, const Raw* in, Raw* out) override;
  grpc::ServerUnaryReactor* Compact(RawCtx* ctx, const Raw* in, Raw* out) override;

  // The leader's side of the calls a learner forwards (learner.h).
  void register_forwarded(ForwardRegistry& r);

 private:
  server::Member& m_;
  ApiOptions o_;
};

using MaintenanceBase =
    pb::Maintenance::WithRawCallbackMethod_Status<pb::Maintenance::WithRawCallbackMethod_Alarm<
        pb::Maintenance::WithRawCallbackMethod_HashKV<pb::Maintenance::WithRawCallbackMethod_Hash<
            pb::Maintenance::WithRawCallbackMethod_Defragment<
                pb::Maintenance::WithRawCallbackMethod_MoveLeader<
                    pb::Maintenance::WithRawCallbackMethod_Snapshot<
                        pb::Maintenance::CallbackService>>>>>>>;

class MaintenanceService final : public MaintenanceBase {
 public:
  MaintenanceService(server::Member& m, ApiOptions o) : m_(m), o_(std::move(o)) {}
  grpc::ServerUnaryReactor* Status(RawCtx* ctx, const Raw* in, Raw* out) override;
  grpc::ServerUnaryReactor* Alarm(RawCtx* ctx, const Raw* in, Raw* out) override;
  grpc::ServerUnaryReactor* HashKV(RawCtx* ctx, const Raw* in, Raw* out) override;
  // Root only; CRC-32C of the kv records (storage::Engine::hash_kv).
  grpc::ServerUnaryReactor* Hash(RawCtx* ctx, const Raw* in, Raw* out) override;
  // Root only; a full RocksDB compaction of this member's state (storage::Engine::defragment).
  grpc::ServerUnaryReactor* Defragment(RawCtx* ctx, const Raw* in, Raw* out) override;
  // The leader only; answers once the target leads (server::Member::move_leader).
  grpc::ServerUnaryReactor* MoveLeader(RawCtx* ctx, const Raw* in, Raw* out) override;
  // snapshot_service.cc
  grpc::ServerWriteReactor<Raw>* Snapshot(RawCtx* ctx, const Raw* in) override;

  // The leader's side of the calls a learner forwards (learner.h).
  void register_forwarded(ForwardRegistry& r);

 private:
  server::Member& m_;
  ApiOptions o_;
};

using ClusterBase = pb::Cluster::WithRawCallbackMethod_MemberAdd<
    pb::Cluster::WithRawCallbackMethod_MemberRemove<pb::Cluster::WithRawCallbackMethod_MemberUpdate<
        pb::Cluster::WithRawCallbackMethod_MemberList<
            pb::Cluster::WithRawCallbackMethod_MemberPromote<pb::Cluster::CallbackService>>>>>;

class ClusterService final : public ClusterBase {
 public:
  ClusterService(server::Member& m, ApiOptions o) : m_(m), o_(std::move(o)) {}
  grpc::ServerUnaryReactor* MemberAdd(RawCtx* ctx, const Raw* in, Raw* out) override;
  grpc::ServerUnaryReactor* MemberRemove(RawCtx* ctx, const Raw* in, Raw* out) override;
  grpc::ServerUnaryReactor* MemberUpdate(RawCtx* ctx, const Raw* in, Raw* out) override;
  grpc::ServerUnaryReactor* MemberList(RawCtx* ctx, const Raw* in, Raw* out) override;
  grpc::ServerUnaryReactor* MemberPromote(RawCtx* ctx, const Raw* in, Raw* out) override;

  // The leader's side of the calls a learner forwards (learner.h).
  void register_forwarded(ForwardRegistry& r);

 private:
  server::Member& m_;
  ApiOptions o_;
};

using LeaseBase = pb::Lease::WithRawCallbackMethod_LeaseGrant<
    pb::Lease::WithRawCallbackMethod_LeaseRevoke<pb::Lease::WithRawCallbackMethod_LeaseTimeToLive<
        pb::Lease::WithRawCallbackMethod_LeaseLeases<pb::Lease::CallbackService>>>>;

class LeaseService final : public LeaseBase {
 public:
  LeaseService(server::Member& m, ApiOptions o) : m_(m), o_(std::move(o)) {}
  grpc::ServerUnaryReactor* LeaseGrant(RawCtx* ctx, const Raw* in, Raw* out) override;
  grpc::ServerUnaryReactor* LeaseRevoke(RawCtx* ctx, const Raw* in, Raw* out) override;
  grpc::ServerUnaryReactor* LeaseTimeToLive(RawCtx* ctx, const Raw* in, Raw* out) override;
  grpc::ServerUnaryReactor* LeaseLeases(RawCtx* ctx, const Raw* in, Raw* out) override;
  grpc::ServerBidiReactor<pb::LeaseKeepAliveRequest, pb::LeaseKeepAliveResponse>* LeaseKeepAlive(
      grpc::CallbackServerContext* ctx) override;

  // The leader's side of the calls a learner forwards (learner.h).
  void register_forwarded(ForwardRegistry& r);

 private:
  server::Member& m_;
  ApiOptions o_;
};

using AuthBase = pb::Auth::WithRawCallbackMethod_AuthEnable<
    pb::Auth::WithRawCallbackMethod_AuthDisable<pb::Auth::WithRawCallbackMethod_Authenticate<
        pb::Auth::WithRawCallbackMethod_UserAdd<pb::Auth::WithRawCallbackMethod_UserGet<
            pb::Auth::WithRawCallbackMethod_UserList<pb::Auth::WithRawCallbackMethod_UserDelete<
                pb::Auth::WithRawCallbackMethod_UserChangePassword<
                    pb::Auth::WithRawCallbackMethod_UserGrantRole<
                        pb::Auth::WithRawCallbackMethod_UserRevokeRole<
                            pb::Auth::WithRawCallbackMethod_RoleAdd<
                                pb::Auth::WithRawCallbackMethod_RoleGet<
                                    pb::Auth::WithRawCallbackMethod_RoleList<
                                        pb::Auth::WithRawCallbackMethod_RoleDelete<
                                            pb::Auth::WithRawCallbackMethod_RoleGrantPermission<
                                                pb::Auth::
                                                    WithRawCallbackMethod_RoleRevokePermission<
                                                        pb::Auth::CallbackService>>>>>>>>>>>>>>>>;

// The Auth service (auth_service.cc): user and role management and AuthEnable / AuthDisable go
// through the log (root only once auth is enabled); Authenticate checks the password here and
// proposes only the token; UserGet / UserList / RoleGet / RoleList read the local replicated
// store after a read index, as etcd answers them through the log.
class AuthService final : public AuthBase {
 public:
  AuthService(server::Member& m, ApiOptions o) : m_(m), o_(std::move(o)) {}
  grpc::ServerUnaryReactor* AuthEnable(RawCtx* ctx, const Raw* in, Raw* out) override;
  grpc::ServerUnaryReactor* AuthDisable(RawCtx* ctx, const Raw* in, Raw* out) override;
  grpc::ServerUnaryReactor* Authenticate(RawCtx* ctx, const Raw* in, Raw* out) override;
  grpc::ServerUnaryReactor* UserAdd(RawCtx* ctx, const Raw* in, Raw* out) override;
  grpc::ServerUnaryReactor* UserGet(RawCtx* ctx, const Raw* in, Raw* out) override;
  grpc::ServerUnaryReactor* UserList(RawCtx* ctx, const Raw* in, Raw* out) override;
  grpc::ServerUnaryReactor* UserDelete(RawCtx* ctx, const Raw* in, Raw* out) override;
  grpc::ServerUnaryReactor* UserChangePassword(RawCtx* ctx, const Raw* in, Raw* out) override;
  grpc::ServerUnaryReactor* UserGrantRole(RawCtx* ctx, const Raw* in, Raw* out) override;
  grpc::ServerUnaryReactor* UserRevokeRole(RawCtx* ctx, const Raw* in, Raw* out) override;
  grpc::ServerUnaryReactor* RoleAdd(RawCtx* ctx, const Raw* in, Raw* out) override;
  grpc::ServerUnaryReactor* RoleGet(RawCtx* ctx, const Raw* in, Raw* out) override;
  grpc::ServerUnaryReactor* RoleList(RawCtx* ctx, const Raw* in, Raw* out) override;
  grpc::ServerUnaryReactor* RoleDelete(RawCtx* ctx, const Raw* in, Raw* out) override;
  grpc::ServerUnaryReactor* RoleGrantPermission(RawCtx* ctx, const Raw* in, Raw* out) override;
  grpc::ServerUnaryReactor* RoleRevokePermission(RawCtx* ctx, const Raw* in, Raw* out) override;

  // The leader's side of the calls a learner forwards (learner.h).
  void register_forwarded(ForwardRegistry& r);

 private:
  server::Member& m_;
  ApiOptions o_;
};

class WatchService final : public pb::Watch::CallbackService {
 public:
  explicit WatchService(server::Member& m, bool client_cert_auth = false)
      : m_(m), client_cert_auth_(client_cert_auth) {}
  grpc::ServerBidiReactor<pb::WatchRequest, pb::WatchResponse>* Watch(
      grpc::CallbackServerContext* ctx) override;

 private:
  server::Member& m_;
  bool client_cert_auth_;
};

// Sets what etcd's header filler sets: ids and term always, and the revision when still 0
// and with_revision (etcd's Cluster service leaves the revision out).
void fill_header(server::Member& m, pb::ResponseHeader* h, bool with_revision = true);

}  // namespace outpost::api
