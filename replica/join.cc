#include "replica/join.h"

#include <grpcpp/grpcpp.h>
#include <sys/stat.h>

#include <optional>
#include <thread>

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

// A Cluster stub for one core member, and the auth token to call it with (none without a user).
struct Core {
  std::unique_ptr<etcdserverpb::Cluster::Stub> cluster;
  std::unique_ptr<etcdserverpb::Auth::Stub> auth;
  std::string token;
};

Core core_for(const std::string& url,
              const std::shared_ptr<grpc::ChannelCredentials>& https_credentials) {
  const bool https = url.rfind("https://", 0) == 0;
  auto ch = grpc::CreateChannel(target_of(url), https && https_credentials ? https_credentials
                                                : https ? grpc::SslCredentials({})
                                                        : grpc::InsecureChannelCredentials());
  return Core{etcdserverpb::Cluster::NewStub(ch), etcdserverpb::Auth::NewStub(ch), ""};
}

// With a user: authenticates at the member (once per Core) and puts the token on ctx.
grpc::Status authorize(Core& core, const JoinAuth& auth, grpc::ClientContext* ctx) {
  if (auth.user.empty()) return grpc::Status::OK;
  if (core.token.empty()) {
    std::string name = auth.user, password = auth.password;
    if (const auto colon = name.find(':'); colon != std::string::npos && password.empty()) {
      password = name.substr(colon + 1);
      name.resize(colon);
    }
    grpc::ClientContext actx;
    actx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    etcdserverpb::AuthenticateRequest req;
    req.set_name(name);
    req.set_password(password);
    etcdserverpb::AuthenticateResponse resp;
    grpc::Status s = core.auth->Authenticate(&actx, req, &resp);
    if (!s.ok()) return s;
    core.token = resp.token();
  }
  ctx->AddMetadata("token", core.token);
  return grpc::Status::OK;
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

// The core is not ready yet (starting, electing): worth asking again.
bool not_ready(const grpc::Status& s) {
  const std::string& m = s.error_message();
  return unreachable(s) || s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
         m == "etcdserver: no leader" || m.rfind("etcdserver: request timed out", 0) == 0 ||
         m == "etcdserver: leader changed" || m == "etcdserver: unhealthy cluster" ||
         m == "etcdserver: re-configuration failed due to not enough started members";
}

// An entry an earlier attempt added for peer_url that never started (no name yet), if any.
std::optional<Joined> take_over(Core& core, const JoinAuth& auth, const std::string& url,
                                const std::string& name, const std::string& peer_url) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  etcdserverpb::MemberListResponse list;
  if (!authorize(core, auth, &ctx).ok()) return std::nullopt;
  if (!core.cluster->MemberList(&ctx, etcdserverpb::MemberListRequest(), &list).ok())
    return std::nullopt;
  for (const auto& m : list.members()) {
    if (m.peerurls_size() == 0 || m.peerurls(0) != peer_url) continue;
    if (!m.name().empty() || !m.islearner()) return std::nullopt;
    Joined j;
    j.via = url;
    etcdserverpb::MemberAddResponse as_added;
    *as_added.mutable_members() = list.members();
    fill(as_added, m.id(), name, &j);
    return j;
  }
  return std::nullopt;
}

}  // namespace

Result<Joined> ask_to_join(const std::vector<std::string>& client_urls, const std::string& name,
                           const std::vector<std::string>& peer_urls,
                           std::chrono::steady_clock::time_point until,
                           const std::shared_ptr<grpc::ChannelCredentials>& https_credentials,
                           const JoinAuth& auth) {
  std::string tried;
  for (;;) {
    tried.clear();
    for (const auto& url : client_urls) {
      Core core = core_for(url, https_credentials);
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      ctx.AddMetadata(api::kSelfJoinHeader, "1");
      etcdserverpb::MemberAddRequest req;
      for (const auto& u : peer_urls) req.add_peerurls(u);
      req.set_islearner(true);
      etcdserverpb::MemberAddResponse resp;
      grpc::Status s = authorize(core, auth, &ctx);
      if (s.ok()) s = core.cluster->MemberAdd(&ctx, req, &resp);
      if (s.ok()) {
        Joined j;
        j.via = url;
        fill(resp, resp.member().id(), name, &j);
        return j;
      }
      if (not_ready(s)) {
        tried += (tried.empty() ? "" : "; ") + url + ": " + s.error_message();
        continue;
      }
      if (s.error_message() == "etcdserver: Peer URLs already exists" && !peer_urls.empty()) {
        if (auto j = take_over(core, auth, url, name, peer_urls[0])) return std::move(*j);
      }
      return Status(ErrorCode::kInternal,
                    "cannot join the cluster: " + url +
                        " refused to add this member as a learner: " + s.error_message());
    }
    if (std::chrono::steady_clock::now() + std::chrono::milliseconds(500) >= until) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  return Status(ErrorCode::kNoLeader,
                "cannot join the cluster within replica.join_timeout_s: no member listed in "
                "replica.join took the request (" +
                    tried + ")");
}

Status leave(const std::vector<std::string>& client_urls, uint64_t id,
             std::chrono::milliseconds timeout,
             const std::shared_ptr<grpc::ChannelCredentials>& https_credentials,
             const JoinAuth& auth) {
  std::string last = "no URL given";
  for (const auto& url : client_urls) {
    Core core = core_for(url, https_credentials);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + timeout);
    etcdserverpb::MemberRemoveRequest req;
    req.set_id(id);
    etcdserverpb::MemberRemoveResponse resp;
    grpc::Status s = authorize(core, auth, &ctx);
    if (s.ok()) s = core.cluster->MemberRemove(&ctx, req, &resp);
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
