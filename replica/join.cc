#include "replica/join.h"

#include <grpcpp/grpcpp.h>
#include <sys/stat.h>

#include "core/api/learner.h"
#include "etcdserverpb/rpc.grpc.pb.h"

namespace outpost::replica {
namespace {

std::string target_of(const std::string& url) {
  const auto p = url.find("://");
  std::string t = p == std::string::npos ? url : url.substr(p + 3);
  while (!t.empty() && t.back() == '/') t.pop_back();
  return t;
}

// A failure to reach the member at all (try the next one), not the member's own refusal.
bool unreachable(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::UNAVAILABLE &&
         s.error_message().rfind("etcdserver:", 0) != 0;
}

std::unique_ptr<etcdserverpb::Cluster::Stub> stub_for(const std::string& url) {
  return etcdserverpb::Cluster::NewStub(
      grpc::CreateChannel(target_of(url), grpc::InsecureChannelCredentials()));
}

void fill(const etcdserverpb::MemberAddResponse& r, uint64_t id, const std::string& name,
          Joined* j) {
  j->id = id;
  for (const auto& m : r.members()) {
    std::vector<std::string> urls(m.peerurls().begin(), m.peerurls().end());
    // The new member has no name until it starts; it is known by the one it starts with.
    j->initial_cluster.emplace_back(m.id() == id ? name : m.name(), std::move(urls));
  }
}

}  // namespace

Result<Joined> ask_to_join(const std::vector<std::string>& client_urls, const std::string& name,
                           const std::vector<std::string>& peer_urls,
                           std::chrono::milliseconds timeout) {
  std::string tried;
  for (const auto& url : client_urls) {
    auto stub = stub_for(url);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + timeout);
    ctx.AddMetadata(api::kSelfJoinHeader, "1");
    etcdserverpb::MemberAddRequest req;
    for (const auto& u : peer_urls) req.add_peerurls(u);
    req.set_islearner(true);
    etcdserverpb::MemberAddResponse resp;
    grpc::Status s = stub->MemberAdd(&ctx, req, &resp);
    if (s.ok()) {
      Joined j;
      j.via = url;
      fill(resp, resp.member().id(), name, &j);
      return j;
    }
    if (unreachable(s) || s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      tried += (tried.empty() ? "" : "; ") + url + ": " + s.error_message();
      continue;
    }
    if (s.error_message() == "etcdserver: Peer URLs already exists") {
      // Added by an earlier attempt that stopped before it started: take that entry over, if
      // it never started (it has no name yet).
      grpc::ClientContext lctx;
      lctx.set_deadline(std::chrono::system_clock::now() + timeout);
      etcdserverpb::MemberListResponse list;
      if (stub->MemberList(&lctx, etcdserverpb::MemberListRequest(), &list).ok()) {
        for (const auto& m : list.members()) {
          if (m.peerurls_size() == 0 || m.peerurls(0) != peer_urls.at(0)) continue;
          if (!m.name().empty() || !m.islearner()) break;
          Joined j;
          j.via = url;
          etcdserverpb::MemberAddResponse as_added;
          *as_added.mutable_members() = list.members();
          fill(as_added, m.id(), name, &j);
          return j;
        }
      }
    }
    return Status(ErrorCode::kInternal,
                  "cannot join the cluster: " + url +
                      " refused to add this member as a learner: " + s.error_message());
  }
  return Status(
      ErrorCode::kNoLeader,
      "cannot join the cluster: no member listed in replica.join answered (" + tried + ")");
}

Status leave(const std::vector<std::string>& client_urls, uint64_t id,
             std::chrono::milliseconds timeout) {
  std::string last = "no URL given";
  for (const auto& url : client_urls) {
    auto stub = stub_for(url);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + timeout);
    etcdserverpb::MemberRemoveRequest req;
    req.set_id(id);
    etcdserverpb::MemberRemoveResponse resp;
    grpc::Status s = stub->MemberRemove(&ctx, req, &resp);
    if (s.ok() || s.error_message() == "etcdserver: member not found") return Status::ok();
    last = url + ": " + s.error_message();
  }
  return Status(ErrorCode::kInternal, "cannot remove this member's entry: " + last);
}

bool has_member_data(const std::string& data_dir) {
  struct stat st;
  return ::stat((data_dir + "/member").c_str(), &st) == 0;
}

}  // namespace outpost::replica
