#include <algorithm>

#include "core/api/errors.h"
#include "core/api/services.h"

namespace outpost::api {
namespace pb = etcdserverpb;

grpc::ServerUnaryReactor* MaintenanceService::Status(grpc::CallbackServerContext* ctx,
                                                     const pb::StatusRequest*,
                                                     pb::StatusResponse* resp) {
  fill_header(m_, resp->mutable_header());
  resp->set_version(o_.version);
  const int64_t size = m_.db_size();
  resp->set_dbsize(size);
  resp->set_dbsizeinuse(size);
  resp->set_leader(m_.leader_id());
  resp->set_raftindex(m_.last_index());
  resp->set_raftterm(m_.term());
  resp->set_raftappliedindex(m_.applied_index());
  resp->set_islearner(false);
  auto* r = ctx->DefaultReactor();
  r->Finish(grpc::Status::OK);
  return r;
}

grpc::ServerUnaryReactor* MaintenanceService::Alarm(grpc::CallbackServerContext* ctx,
                                                    const pb::AlarmRequest*,
                                                    pb::AlarmResponse* resp) {
  // No alarms are raised yet (no space quota, no corruption check): the list is empty.
  fill_header(m_, resp->mutable_header());
  auto* r = ctx->DefaultReactor();
  r->Finish(grpc::Status::OK);
  return r;
}

grpc::ServerUnaryReactor* MaintenanceService::HashKV(grpc::CallbackServerContext* ctx,
                                                     const pb::HashKVRequest* req,
                                                     pb::HashKVResponse* resp) {
  mvcc::Store::Hash h;
  outpost::Status s = m_.store().hash_kv(req->revision(), &h);
  auto* r = ctx->DefaultReactor();
  if (s) {
    resp->mutable_header()->set_revision(h.current_rev);
    resp->set_hash(h.hash);
    resp->set_compact_revision(h.compact_rev);
    fill_header(m_, resp->mutable_header());
  }
  r->Finish(to_grpc(s));
  return r;
}

grpc::ServerUnaryReactor* ClusterService::MemberList(grpc::CallbackServerContext* ctx,
                                                     const pb::MemberListRequest*,
                                                     pb::MemberListResponse* resp) {
  fill_header(m_, resp->mutable_header());
  auto info = m_.cluster();
  std::vector<const outpostpb::MemberInfo*> members;
  for (const auto& m : info.members()) members.push_back(&m);
  std::sort(members.begin(), members.end(), [](auto* a, auto* b) { return a->id() < b->id(); });
  for (const auto* m : members) {
    auto* out = resp->add_members();
    out->set_id(m->id());
    out->set_name(m->name());
    for (const auto& u : m->peer_urls()) out->add_peerurls(u);
    for (const auto& u : m->client_urls()) out->add_clienturls(u);
    out->set_islearner(m->is_learner());
  }
  auto* r = ctx->DefaultReactor();
  r->Finish(grpc::Status::OK);
  return r;
}

}  // namespace outpost::api
