// outpost: one member of an Outpost cluster. Takes etcd's flags (and ETCD_* variables, and
// --config FILE.toml), so an etcd Procfile runs with the binary name swapped.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/api/server.h"
#include "core/common/log.h"
#include "core/server/member.h"

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
  mo.strict_reconfig_check = cfg.strict_reconfig_check;
  mo.force_new_cluster = cfg.force_new_cluster;
  // A removed member stops, as etcd's does: through the signal path below.
  mo.on_removed = [] { kill(getpid(), SIGTERM); };
  if (!cfg.listen_peer_urls.empty()) {
    mo.listen_peer_host = cfg.listen_peer_urls[0].host;
    mo.listen_peer_port = cfg.listen_peer_urls[0].port;
  }

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
      return 0;
    }
  }
  api::ApiOptions ao;
  ao.max_txn_ops = int64_t(cfg.max_txn_ops);
  api::ApiServer api(*member.value(), ao, cfg.max_request_bytes);
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
