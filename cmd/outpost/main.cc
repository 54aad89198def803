// outpost: one member of an Outpost cluster. Takes etcd's flags (and ETCD_* variables, and
// --config FILE.toml), so an etcd Procfile runs with the binary name swapped. A member whose
// [replica] table says so joins by itself, and serves as an edge replica (replica/).
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/api/server.h"
#include "core/auth/bcrypt.h"
#include "core/common/log.h"
#include "core/server/member.h"
#include "core/transport/transport.h"
#include "replica/join.h"
#include "replica/replica.h"

extern char** environ;

namespace {

constexpr const char* kVersion = "0.1.0";

std::map<std::string, std::string> environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    const char* eq = std::strchr(*e, '=');
    if (eq) env.emplace(std::string(*e, size_t(eq - *e)), std::string(eq + 1));
  }
  return env;
}

int fail(const std::string& msg) {
  std::fprintf(stderr, "outpost: %s\n", msg.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace outpost;
  std::vector<std::string> args(argv + 1, argv + argc);
  auto loaded = config::load(args, environment());
  if (loaded.show_help) {
    std::fputs(config::usage().c_str(), stdout);
    return 0;
  }
  if (loaded.show_version) {
    std::printf("outpost Version: %s\nAPI version: 3.4 (etcd %s compatible)\n", kVersion,
                config::kEtcdCompatVersion);
    return 0;
  }
  if (!loaded.error.empty()) return fail(loaded.error);
  for (const auto& w : loaded.warnings) std::fprintf(stderr, "outpost: warning: %s\n", w.c_str());
  const config::Config& cfg = *loaded.config;

  log::Level level = log::Level::kInfo;
  log::parse_level(config::to_string(cfg.debug ? config::LogLevel::kDebug : cfg.log_level), &level);
  std::string err;
  if (!log::configure(cfg.log_outputs, level, &err)) return fail(err);

  for (const auto& u : cfg.listen_client_urls)
    if (u.scheme != "http")
      return fail("--listen-client-urls " + u.str() + ": TLS is not supported yet; use http://");

  server::MemberOptions mo;
  mo.name = cfg.name;
  mo.data_dir = cfg.data_dir;
  mo.cluster_token = cfg.initial_cluster_token;
  for (const auto& [name, urls] : cfg.initial_cluster) {
    std::vector<std::string> s;
    for (const auto& u : urls) s.push_back(u.str());
    mo.initial_cluster.emplace_back(name, std::move(s));
  }
  for (const auto& u : cfg.advertise_client_urls) mo.advertise_client_urls.push_back(u.str());
  mo.max_request_bytes = cfg.max_request_bytes;
  mo.snapshot_count = cfg.snapshot_count;
  mo.election_timeout_ms = uint64_t(cfg.election_timeout.count());
  mo.heartbeat_ms = uint64_t(cfg.heartbeat_interval.count());
  mo.snapshot_rate_limit = cfg.snapshot_rate_limit;
  mo.join_existing = cfg.initial_cluster_state == config::ClusterState::kExisting;
  for (const auto& u : cfg.initial_advertise_peer_urls) mo.advertise_peer_urls.push_back(u.str());
  mo.max_learners = cfg.max_learners;
  mo.auth_token_ttl = std::chrono::seconds(cfg.auth_token_ttl ? cfg.auth_token_ttl : 300);
  mo.strict_reconfig_check = cfg.strict_reconfig_check;
  mo.force_new_cluster = cfg.force_new_cluster;
  // A removed member stops, as etcd's does: through the signal path below.
  mo.on_removed = [] { kill(getpid(), SIGTERM); };
  if (!cfg.listen_peer_urls.empty()) {
    mo.listen_peer_host = cfg.listen_peer_urls[0].host;
    mo.listen_peer_port = cfg.listen_peer_urls[0].port;
  }
  mo.promote = replica::promote_mode(cfg.replica.promote);
  mo.failover_after_s = uint32_t(cfg.replica.failover_after_s);

  // Self-join: ask the core to add this member as a learner, holding the peer port meanwhile
  // so the member that adds it can dial it. A restart (data on disk) skips this.
  const auto join_deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(cfg.replica.join_timeout_s);
  std::vector<std::string> join_urls;
  for (const auto& u : cfg.replica.join) join_urls.push_back(u.str());
  std::optional<replica::Joined> joined;
  if (!join_urls.empty() && !replica::has_member_data(cfg.data_dir)) {
    auto hold = transport::Transport::PortHold::listen(mo.listen_peer_host, mo.listen_peer_port);
    if (!hold) {
      OUTPOST_LOG(kFatal, "cannot join the cluster", log::kv("error", hold.status().message()));
      std::fprintf(stderr, "outpost: %s\n", hold.status().message().c_str());
      return 1;
    }
    auto j = replica::ask_to_join(join_urls, cfg.name, mo.advertise_peer_urls, join_deadline);
    if (!j) {
      OUTPOST_LOG(kFatal, "cannot join the cluster", log::kv("error", j.status().message()));
      std::fprintf(stderr, "outpost: %s\n", j.status().message().c_str());
      return 1;
    }
    joined = std::move(j.value());
    OUTPOST_LOG(kInfo, "added to the cluster as a learner", log::kv("via", joined->via),
                log::kv_hex("member-id", joined->id));
    mo.initial_cluster = joined->initial_cluster;
    mo.join_existing = true;
  }
  // A replica that cannot get in removes its own entry, then exits non-zero with the cause.
  auto give_up = [&](const std::string& cause) {
    OUTPOST_LOG(kFatal, "self-join failed; removing this member's entry", log::kv("error", cause));
    std::fprintf(stderr, "outpost: self-join failed: %s\n", cause.c_str());
    if (Status s = replica::leave(join_urls, joined->id, std::chrono::seconds(10)); !s) {
      OUTPOST_LOG(kError, "cannot remove this member's entry", log::kv("error", s.message()));
      std::fprintf(stderr, "outpost: %s\n", s.message().c_str());
    }
    return 1;
  };

  // Signals are taken by a waiting thread, not a handler: block them before threads start.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  OUTPOST_LOG(kInfo, "starting outpost", log::kv("version", kVersion), log::kv("name", cfg.name),
              log::kv("data-dir", cfg.data_dir));
  auto member = server::Member::open(mo);
  if (!member && joined) return give_up(member.status().message());
  if (!member) {
    OUTPOST_LOG(kFatal, "cannot start member", log::kv("error", member.status().message()));
    return 1;
  }

  // As etcd: clients are served once this member has published itself to the cluster (which
  // takes a leader), so a member that answers is always listed by name.
  while (!member.value()->published()) {
    timespec wait{0, 50 * 1000 * 1000};
    const int sig = sigtimedwait(&sigs, nullptr, &wait);
    if (sig > 0) {
      OUTPOST_LOG(kInfo, "received signal before serving clients; shutting down",
                  log::kv("signal", strsignal(sig)));
      member.value()->stop();
      if (joined) return give_up("stopped by signal before serving");
      return 0;
    }
    if (joined && std::chrono::steady_clock::now() > join_deadline) {
      const auto lag = member.value()->replica_lag();
      const std::string cause = "not caught up within replica.join_timeout_s (" +
                                std::to_string(cfg.replica.join_timeout_s) + " s): " +
                                (member.value()->leader_id() == 0
                                     ? std::string("no leader heard")
                                     : "applied " + std::to_string(lag.applied_index) +
                                           " of the leader's " + std::to_string(lag.leader_commit));
      member.value()->stop();
      return give_up(cause);
    }
  }
  replica::Replica edge(*member.value(), cfg.replica);
  api::ApiOptions ao;
  ao.max_txn_ops = int64_t(cfg.max_txn_ops);
  ao.learner = replica::learner_options(cfg.replica);
  ao.bcrypt_cost = int(cfg.bcrypt_cost);
  if (ao.bcrypt_cost < auth::kBcryptMinCost || ao.bcrypt_cost > auth::kBcryptMaxCost) {
    OUTPOST_LOG(
        kWarn, "use default bcrypt cost instead of the invalid given cost",
        log::kv("min-cost", auth::kBcryptMinCost), log::kv("max-cost", auth::kBcryptMaxCost),
        log::kv("default-cost", auth::kBcryptDefaultCost), log::kv("given-cost", ao.bcrypt_cost));
    ao.bcrypt_cost = auth::kBcryptDefaultCost;
  }
  api::ApiServer api(*member.value(), ao, cfg.max_request_bytes);
  api.add_http_route(
      "/replica", [&edge](const std::string& method, const std::string&, const std::string&) {
        if (method != "GET" && method != "HEAD")
          return api::HttpResponse{405, "text/plain; charset=utf-8", "Method Not Allowed\n"};
        return api::HttpResponse{200, "application/json", edge.status_json()};
      });
  std::vector<std::string> addrs;
  for (const auto& u : cfg.listen_client_urls)
    addrs.push_back((u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host) + ":" +
                    std::to_string(u.port));
  if (!api.start(addrs, &err)) {
    OUTPOST_LOG(kFatal, "cannot serve clients", log::kv("error", err));
    member.value()->stop();
    return 1;
  }
  std::vector<std::string> urls;
  for (const auto& u : cfg.listen_client_urls) urls.push_back(u.str());
  OUTPOST_LOG(kInfo, "serving client traffic", log::kv_strings("listen-client-urls", urls));

  int sig = 0;
  sigwait(&sigs, &sig);
  OUTPOST_LOG(kInfo, "received signal; shutting down", log::kv("signal", strsignal(sig)));
  api.shutdown();
  member.value()->stop();
  return 0;
}
