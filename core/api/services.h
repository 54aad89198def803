#pragma once
// The etcd v3 gRPC services a member serves, on gRPC's callback API: a call waiting for its
// proposal to be applied holds no thread. Each handler validates, runs or proposes, and fills
// the response header (cluster id, member id, raft term, revision) as etcd does.
#include <memory>

#include "core/server/member.h"
#include "etcdserverpb/rpc.grpc.pb.h"

namespace outpost::api {

struct ApiOptions {
  int64_t max_txn_ops = 128;
  std::string version = "3.4.23";  // what Status reports: the etcd API level we serve
};

class KvService final : public etcdserverpb::KV::CallbackService {
 public:
  KvService(server::Member& m, ApiOptions o) : m_(m), o_(std::move(o)) {}
  grpc::ServerUnaryReactor* Range(grpc::CallbackServerContext* ctx,
                                  const etcdserverpb::RangeRequest* req,
                                  etcdserverpb::RangeResponse* resp) override;
  grpc::ServerUnaryReactor* Put(grpc::CallbackServerContext* ctx,
                                const etcdserverpb::PutRequest* req,
                                etcdserverpb::PutResponse* resp) override;
  grpc::ServerUnaryReactor* DeleteRange(grpc::CallbackServerContext* ctx,
                                        const etcdserverpb::DeleteRangeRequest* req,
                                        etcdserverpb::DeleteRangeResponse* resp) override;
  grpc::ServerUnaryReactor* Txn(grpc::CallbackServerContext* ctx,
                                const etcdserverpb::TxnRequest* req,
                                etcdserverpb::TxnResponse* resp) override;
  grpc::ServerUnaryReactor* Compact(grpc::CallbackServerContext* ctx,
                                    const etcdserverpb::CompactionRequest* req,
                                    etcdserverpb::CompactionResponse* resp) override;

 private:
  server::Member& m_;
  ApiOptions o_;
};

class MaintenanceService final : public etcdserverpb::Maintenance::CallbackService {
 public:
  MaintenanceService(server::Member& m, ApiOptions o) : m_(m), o_(std::move(o)) {}
  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* ctx,
                                   const etcdserverpb::StatusRequest* req,
                                   etcdserverpb::StatusResponse* resp) override;
  grpc::ServerUnaryReactor* Alarm(grpc::CallbackServerContext* ctx,
                                  const etcdserverpb::AlarmRequest* req,
                                  etcdserverpb::AlarmResponse* resp) override;
  grpc::ServerUnaryReactor* HashKV(grpc::CallbackServerContext* ctx,
                                   const etcdserverpb::HashKVRequest* req,
                                   etcdserverpb::HashKVResponse* resp) override;

 private:
  server::Member& m_;
  ApiOptions o_;
};

class ClusterService final : public etcdserverpb::Cluster::CallbackService {
 public:
  explicit ClusterService(server::Member& m) : m_(m) {}
  grpc::ServerUnaryReactor* MemberList(grpc::CallbackServerContext* ctx,
                                       const etcdserverpb::MemberListRequest* req,
                                       etcdserverpb::MemberListResponse* resp) override;

 private:
  server::Member& m_;
};

// Sets what etcd's header filler sets: ids and term always, the revision when still 0.
void fill_header(server::Member& m, etcdserverpb::ResponseHeader* h);

}  // namespace outpost::api
