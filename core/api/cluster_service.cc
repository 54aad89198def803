// etcd's Cluster service: member list and membership changes (each a committed conf change,
// see Member::add_member and friends). Headers carry no revision, as etcd's.
#include <algorithm>
#include <thread>

#include "core/api/errors.h"
#include "core/api/learner.h"
#include "core/api/services.h"
#include "core/api/unary.h"
#include "core/common/log.h"
#include "core/server/membership.h"
#include "core/transport/transport.h"

namespace outpost::api {
namespace {

// Every member, by id (etcd lists them sorted by id).
void fill_members(const outpostpb::ClusterInfo& info,
                  google::protobuf::RepeatedPtrField<pb::Member>* out) {
  std::vector<const outpostpb::MemberInfo*> members;
  for (const auto& m : info.members()) members.push_back(&m);
  std::sort(members.begin(), members.end(), [](auto* a, auto* b) { return a->id() < b->id(); });
  for (const auto* m : members) {
    auto* o = out->Add();
    o->set_id(m->id());
    o->set_name(m->name());
    for (const auto& u : m->peer_urls()) o->add_peerurls(u);
    for (const auto& u : m->client_urls()) o->add_clienturls(u);
    o->set_islearner(m->is_learner());
  }
}

// The end of every change: on success, the header and the members as this member now knows them.
template <class Call>
auto finish_change(server::Member& m, Call* call) {
  return [&m, call](const Status& s) {
    if (s) {
      fill_header(m, call->resp.mutable_header(), /*with_revision=*/false);
      fill_members(m.cluster(), call->resp.mutable_members());
    }
    call->finish(to_grpc(s));
  };
}

}  // namespace

namespace {

// MemberList: run here (a voter, or the leader for a learner that forwarded it).
auto member_list_handler(server::Member& m, const ApiOptions&) {
  return [&m](auto* call) {
    fill_header(m, call->resp.mutable_header(), /*with_revision=*/false);
    fill_members(m.cluster(), call->resp.mutable_members());
    call->finish(grpc::Status::OK);
  };
}

// MemberAdd: run here (a voter, or the leader for a learner that forwarded it).
auto member_add_handler(server::Member& m, const ApiOptions&) {
  return [&m](auto* call) {
    std::vector<std::string> urls(call->req.peerurls().begin(), call->req.peerurls().end());
    m.add_member(urls, call->req.islearner(), [&m, call](const Status& s, uint64_t id) {
      if (s) {
        auto* added = call->resp.mutable_member();
        added->set_id(id);
        *added->mutable_peerurls() = call->req.peerurls();
        added->set_islearner(call->req.islearner());
      }
      finish_change(m, call)(s);
    });
  };
}

// A self-joining member's MemberAdd, on the leader: dial each peer URL first (on a thread of
// its own: a dial may take seconds, and forwarded calls arrive on the raft thread), then add.
auto self_join_add_handler(server::Member& m, const ApiOptions& o) {
  return [&m, &o](auto* call) {
    std::thread([&m, &o, call] {
      for (const auto& url : call->req.peerurls()) {
        std::string host;
        int port = 0;
        if (!server::split_url(url, &host, &port))
          return call->finish(to_grpc(Status::of(ErrorCode::kMemberBadUrls)));
        Status s = transport::Transport::probe(host, port, 2000);
        if (!s) {
          OUTPOST_LOG(kWarn, "refusing to add a self-joining member: peer URL unreachable",
                      log::kv("peer-url", url), log::kv("error", s.message()));
          return call->finish(to_grpc(Status(ErrorCode::kPeerUnreachable,
                                             Status::of(ErrorCode::kPeerUnreachable).message() +
                                                 " (" + url + "): " + s.message())));
        }
      }
      member_add_handler(m, o)(call);
    }).detach();
  };
}

// MemberRemove: run here (a voter, or the leader for a learner that forwarded it).
auto member_remove_handler(server::Member& m, const ApiOptions&) {
  return [&m](auto* call) { m.remove_member(call->req.id(), finish_change(m, call)); };
}

// MemberUpdate: run here (a voter, or the leader for a learner that forwarded it).
auto member_update_handler(server::Member& m, const ApiOptions&) {
  return [&m](auto* call) {
    std::vector<std::string> urls(call->req.peerurls().begin(), call->req.peerurls().end());
    m.update_member(call->req.id(), urls, finish_change(m, call));
  };
}

// MemberPromote: run here (a voter, or the leader for a learner that forwarded it).
auto member_promote_handler(server::Member& m, const ApiOptions&) {
  return [&m](auto* call) { m.promote_member(call->req.id(), finish_change(m, call)); };
}

}  // namespace

grpc::ServerUnaryReactor* ClusterService::MemberList(RawCtx* ctx, const Raw* in, Raw* out) {
  return serve_unary<pb::MemberListRequest, pb::MemberListResponse>(
      ctx, in, out,
      leader_side(m_, o_.learner, "/etcdserverpb.Cluster/MemberList", member_list_handler(m_, o_)));
}

grpc::ServerUnaryReactor* ClusterService::MemberAdd(RawCtx* ctx, const Raw* in, Raw* out) {
  // A replica joining by itself (replica/join.h) says so: the leader dials its peer URL before
  // adding it, so a misconfigured replica never leaves a member behind that nobody can reach.
  const bool self_join = ctx->client_metadata().count(kSelfJoinHeader) > 0;
  return serve_unary<pb::MemberAddRequest, pb::MemberAddResponse>(
      ctx, in, out, with_caller(m_, o_.client_cert_auth, [this, self_join](auto* call) {
        if (!self_join || m_.is_learner()) {
          return leader_side(m_, o_.learner, "/etcdserverpb.Cluster/MemberAdd",
                             member_add_handler(m_, o_))(call);
        }
        // A self-join is a membership change like any other: root only while auth is on.
        Status allowed = authorize(m_, call->caller, call->req);
        if (!allowed) return call->finish(to_grpc(allowed));
        if (m_.is_leader()) return self_join_add_handler(m_, o_)(call);
        forward_to_leader(m_, kSelfJoinMethod, call);
      }));
}

grpc::ServerUnaryReactor* ClusterService::MemberRemove(RawCtx* ctx, const Raw* in, Raw* out) {
  return serve_unary<pb::MemberRemoveRequest, pb::MemberRemoveResponse>(
      ctx, in, out,
      with_caller(m_, o_.client_cert_auth,
                  leader_side(m_, o_.learner, "/etcdserverpb.Cluster/MemberRemove",
                              member_remove_handler(m_, o_))));
}

grpc::ServerUnaryReactor* ClusterService::MemberUpdate(RawCtx* ctx, const Raw* in, Raw* out) {
  return serve_unary<pb::MemberUpdateRequest, pb::MemberUpdateResponse>(
      ctx, in, out,
      with_caller(m_, o_.client_cert_auth,
                  leader_side(m_, o_.learner, "/etcdserverpb.Cluster/MemberUpdate",
                              member_update_handler(m_, o_))));
}

grpc::ServerUnaryReactor* ClusterService::MemberPromote(RawCtx* ctx, const Raw* in, Raw* out) {
  return serve_unary<pb::MemberPromoteRequest, pb::MemberPromoteResponse>(
      ctx, in, out,
      with_caller(m_, o_.client_cert_auth,
                  leader_side(m_, o_.learner, "/etcdserverpb.Cluster/MemberPromote",
                              member_promote_handler(m_, o_))));
}

void ClusterService::register_forwarded(ForwardRegistry& r) {
  r.add<pb::MemberAddRequest, pb::MemberAddResponse>(kSelfJoinMethod,
                                                     self_join_add_handler(m_, o_));
  r.add<pb::MemberListRequest, pb::MemberListResponse>("/etcdserverpb.Cluster/MemberList",
                                                       member_list_handler(m_, o_));
  r.add<pb::MemberAddRequest, pb::MemberAddResponse>("/etcdserverpb.Cluster/MemberAdd",
                                                     member_add_handler(m_, o_));
  r.add<pb::MemberRemoveRequest, pb::MemberRemoveResponse>("/etcdserverpb.Cluster/MemberRemove",
                                                           member_remove_handler(m_, o_));
  r.add<pb::MemberUpdateRequest, pb::MemberUpdateResponse>("/etcdserverpb.Cluster/MemberUpdate",
                                                           member_update_handler(m_, o_));
  r.add<pb::MemberPromoteRequest, pb::MemberPromoteResponse>("/etcdserverpb.Cluster/MemberPromote",
                                                             member_promote_handler(m_, o_));
}

}  // namespace outpost::api
