// outpost: one member of an Outpost cluster. Takes etcd's flags (and ETCD_* variables, and
// --config FILE.toml), so an etcd Procfile runs with the binary name swapped. A member whose
// [replica] table says so joins by itself, and serves as an edge replica (replica/).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cmd/outpost/snapshot_cmd.h"
#include "config/config.h"
#include "core/api/server.h"
#include "core/api/tls.h"
#include "core/auth/bcrypt.h"
#include "core/common/log.h"
#include "core/server/member.h"
#include "core/transport/crl.h"
#include "core/transport/self_signed.h"
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

// The contents of a file a TLS flag names; the error names the flag and the path.
bool read_pem(const char* flag, const std::string& path, std::string* out, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = "cannot read " + std::string(flag) + " \"" + path + "\": " + std::strerror(errno);
    return false;
  }
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (out->find("-----BEGIN") == std::string::npos) {
    *error = std::string(flag) + " \"" + path + "\" holds no PEM data";
    return false;
  }
  return true;
}

// Client TLS as configured: what the https:// client URLs serve with, and what Outpost's own
// connections to https:// client URLs present and trust (etcd's ClientTLSInfo).
struct ClientTls {
  outpost::api::TlsPem pem;
  bool require_client_cert = false;  // etcd 3.4: a trusted CA or --client-cert-auth
  std::string crl_directory;         // --client-crl-file, hashed for OpenSSL; "" = none
  std::string allowed_hostname;      // --client-cert-allowed-hostname
};

bool load_client_tls(const outpost::config::Config& cfg, ClientTls* tls, std::string* error) {
  const auto& t = cfg.client_tls;
  bool serves_https = false;
  for (const auto& u : cfg.listen_client_urls) serves_https = serves_https || u.scheme == "https";
  bool dials_https = false;
  for (const auto& u : cfg.replica.join) dials_https = dials_https || u.scheme == "https";
  if (!serves_https && !dials_https) return true;

  std::string cert_file = t.cert_file, key_file = t.key_file;
  if (cert_file.empty() && t.auto_tls && serves_https) {
    // etcd's --auto-tls: a self-signed certificate for the client URLs' hosts; no client
    // verification (--client-cert-auth, a CRL and an allowed hostname do not apply to it).
    std::vector<std::string> hosts;
    for (const auto* urls : {&cfg.listen_client_urls, &cfg.advertise_client_urls})
      for (const auto& u : *urls)
        if (std::find(hosts.begin(), hosts.end(), u.host) == hosts.end()) hosts.push_back(u.host);
    auto made = outpost::transport::make_self_signed(cfg.data_dir + "/fixtures/client", hosts);
    if (!made) {
      *error = "--auto-tls: cannot make a self-signed certificate: " + made.status().message();
      return false;
    }
    // The trusted CA still serves this member's own connections to https:// URLs (self-join).
    return read_pem("--cert-file", made.value().cert_file, &tls->pem.cert_chain, error) &&
           read_pem("--key-file", made.value().key_file, &tls->pem.private_key, error) &&
           (t.trusted_ca_file.empty() ||
            read_pem("--trusted-ca-file", t.trusted_ca_file, &tls->pem.root_certs, error));
  }
  if (!cert_file.empty()) {
    if (!read_pem("--cert-file", cert_file, &tls->pem.cert_chain, error) ||
        !read_pem("--key-file", key_file, &tls->pem.private_key, error))
      return false;
  }
  if (!t.trusted_ca_file.empty() &&
      !read_pem("--trusted-ca-file", t.trusted_ca_file, &tls->pem.root_certs, error))
    return false;
  tls->require_client_cert = !t.trusted_ca_file.empty() || t.client_cert_auth;
  tls->allowed_hostname = t.allowed_hostname;
  if (!t.crl_file.empty() && serves_https) {
    tls->crl_directory = cfg.data_dir + "/fixtures/client-crl";
    if (outpost::Status s = outpost::transport::make_crl_directory(t.crl_file, tls->crl_directory);
        !s) {
      *error = "--client-crl-file \"" + t.crl_file + "\": " + s.message();
      return false;
    }
  }
  return true;
}

}  // namespace

// Peer TLS from the --peer-* flags: the certificates (with --peer-auto-tls, a self-signed one under
// <data-dir>/fixtures/peer, as etcd) and whether the listener speaks TLS (an https listen URL).
static std::string set_peer_tls(const outpost::config::Config& cfg,
                                outpost::server::MemberOptions* mo) {
  using namespace outpost;
  const config::PeerTransportSecurity& sec = cfg.peer_security;
  mo->peer_listen_tls = !cfg.listen_peer_urls.empty() && cfg.listen_peer_urls[0].scheme == "https";
  transport::TlsOptions t;
  if (!sec.empty()) {
    t.cert_file = sec.cert_file;
    t.key_file = sec.key_file;
    t.trusted_ca_file = sec.trusted_ca_file;
    t.client_cert_auth = sec.client_cert_auth;
    t.allowed_cn = sec.allowed_cn;
    t.crl_file = sec.crl_file;
    t.skip_client_san_verify = sec.skip_client_san_verify;
  } else if (sec.auto_tls) {
    std::vector<std::string> hosts;
    for (const auto& u : cfg.listen_peer_urls) hosts.push_back(u.host);
    auto files = transport::make_self_signed(cfg.data_dir + "/fixtures/peer", hosts);
    if (!files) return "--peer-auto-tls: " + files.status().message();
    t.cert_file = files.value().cert_file;
    t.key_file = files.value().key_file;
    t.skip_verify = true;  // etcd: peers' certificates are not verified with auto TLS
  } else {
    return "";
  }
  if (!mo->peer_listen_tls) t.client_cert_auth = false;  // etcd: ignored on an http listen URL
  // --cipher-suites and --tls-min-version cover peer connections too, as in etcd.
  for (const auto& c : cfg.cipher_suites) {
    const std::string name = config::openssl_cipher_name(c);
    if (name.empty() || name.rfind("TLS_", 0) == 0) continue;  // TLS 1.3 suites: not restricted
    t.cipher_list += (t.cipher_list.empty() ? "" : ":") + name;
  }
  t.tls13_only = cfg.tls_min_version == config::TlsVersion::kTls13;
  mo->peer_tls = t;
  return "";
}

int main(int argc, char** argv) {
  using namespace outpost;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "snapshot")
    return snapshot_command(std::vector<std::string>(args.begin() + 1, args.end()));
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

  std::vector<std::string> ciphers;
  for (const auto& c : cfg.cipher_suites) ciphers.push_back(config::openssl_cipher_name(c));
  if (Status s =
          api::configure_grpc_tls(ciphers, cfg.tls_min_version == config::TlsVersion::kTls13);
      !s)
    return fail(s.message());
  ClientTls client_tls;
  if (!load_client_tls(cfg, &client_tls, &err)) {
    OUTPOST_LOG(kFatal, "cannot set up client TLS", log::kv("error", err));
    std::fprintf(stderr, "outpost: %s\n", err.c_str());
    return 1;
  }
  std::shared_ptr<grpc::ChannelCredentials> join_credentials;
  replica::JoinAuth join_auth;  // set when this member self-joins
  for (const auto& u : cfg.replica.join)
    if (u.scheme == "https") join_credentials = api::channel_credentials(client_tls.pem);

  server::MemberOptions mo;
  mo.name = cfg.name;
  mo.data_dir = cfg.data_dir;
  mo.unsafe_no_fsync = cfg.unsafe_no_fsync;
  mo.auto_compaction_period = std::chrono::nanoseconds(cfg.auto_compaction_period_ns);
  mo.auto_compaction_revisions = cfg.auto_compaction_revisions;
  mo.warning_apply_duration = std::chrono::nanoseconds(cfg.warning_apply_duration_ns);
  if (cfg.unsafe_no_fsync)
    OUTPOST_LOG(kWarn,
                "--unsafe-no-fsync: Raft log writes are not fsynced; a crash of the machine "
                "can lose acknowledged writes");
  mo.cluster_token = cfg.initial_cluster_token;
  for (const auto& [name, urls] : cfg.initial_cluster) {
    std::vector<std::string> s;
    for (const auto& u : urls) s.push_back(u.str());
    mo.initial_cluster.emplace_back(name, std::move(s));
  }
  for (const auto& u : cfg.advertise_client_urls) mo.advertise_client_urls.push_back(u.str());
  mo.max_request_bytes = cfg.max_request_bytes;
  mo.quota_backend_bytes = cfg.quota_backend_bytes;
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
  if (std::string e = set_peer_tls(cfg, &mo); !e.empty()) return fail(e);
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
    join_auth = {cfg.replica.join_user, cfg.replica.join_password};
    auto hold = transport::Transport::PortHold::listen(mo.listen_peer_host, mo.listen_peer_port);
    if (!hold) {
      OUTPOST_LOG(kFatal, "cannot join the cluster", log::kv("error", hold.status().message()));
      std::fprintf(stderr, "outpost: %s\n", hold.status().message().c_str());
      return 1;
    }
    auto j = replica::ask_to_join(join_urls, cfg.name, mo.advertise_peer_urls, join_deadline,
                                  join_credentials, join_auth);
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
    if (Status s = replica::leave(join_urls, joined->id, std::chrono::seconds(10), join_credentials,
                                  join_auth);
        !s) {
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
  ao.outpost_version = kVersion;
  // etcd: under --client-cert-auth, a call without a token is the user its certificate's CN names.
  ao.client_cert_auth = cfg.client_tls.client_cert_auth;
  ao.grpc_gateway = cfg.enable_grpc_gateway;
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
  // https:// URLs: gRPC's own TLS port, gRPC API only (no /version, /replica, ...; see
  // core/api/tls.h). http:// URLs: gRPC and the HTTP/1.1 routes on one port.
  std::shared_ptr<grpc::ServerCredentials> server_tls;
  std::vector<api::ClientAddr> addrs;
  for (const auto& u : cfg.listen_client_urls) {
    api::ClientAddr a;
    a.host_port = (u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host) + ":" +
                  std::to_string(u.port);
    if (u.scheme == "https") {
      if (!server_tls)
        server_tls = api::server_credentials(
            client_tls.pem, {client_tls.require_client_cert, client_tls.crl_directory,
                             client_tls.allowed_hostname});
      a.tls = server_tls;
    }
    addrs.push_back(std::move(a));
  }
  if (!api.start(addrs, &err)) {
    OUTPOST_LOG(kFatal, "cannot serve clients", log::kv("error", err));
    member.value()->stop();
    return 1;
  }
  std::vector<std::string> urls;
  for (const auto& u : cfg.listen_client_urls) urls.push_back(u.str());
  OUTPOST_LOG(kInfo, "serving client traffic", log::kv_strings("listen-client-urls", urls));
  // --listen-metrics-urls: HTTP only (/metrics, /health, ...), no gRPC.
  std::vector<std::string> metrics_addrs, metrics_urls;
  for (const auto& u : cfg.listen_metrics_urls) {
    metrics_addrs.push_back((u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host) +
                            ":" + std::to_string(u.port));
    metrics_urls.push_back(u.str());
  }
  if (!api.start_metrics(metrics_addrs, &err)) {
    OUTPOST_LOG(kFatal, "cannot serve metrics", log::kv("error", err));
    std::fprintf(stderr, "outpost: --listen-metrics-urls: %s\n", err.c_str());
    api.shutdown();
    member.value()->stop();
    return 1;
  }
  if (!metrics_urls.empty())
    OUTPOST_LOG(kInfo, "serving metrics", log::kv_strings("listen-metrics-urls", metrics_urls));

  int sig = 0;
  sigwait(&sigs, &sig);
  OUTPOST_LOG(kInfo, "received signal; shutting down", log::kv("signal", strsignal(sig)));
  api.shutdown();
  member.value()->stop();
  return 0;
}
