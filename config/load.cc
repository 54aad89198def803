// load(): defaults < TOML < ETCD_* environment < command line, then
// validation. Also the enum names and the help text.
#include <set>

#include "config/config.h"
#include "config/flags.h"
#include "config/toml_loader.h"
#include "config/validate.h"
#include "config/values.h"

namespace outpost::config {

using detail::FlagSpec;

const char* to_string(ClusterState s) { return s == ClusterState::kNew ? "new" : "existing"; }
const char* to_string(Role r) { return r == Role::kVoter ? "voter" : "learner"; }
const char* to_string(Logger l) { return l == Logger::kZap ? "zap" : "capnslog"; }
const char* to_string(CompactionMode m) {
  return m == CompactionMode::kPeriodic ? "periodic" : "revision";
}
const char* to_string(ReadPolicy p) {
  switch (p) {
    case ReadPolicy::kRefuse: return "refuse";
    case ReadPolicy::kSerializable: return "serializable";
    case ReadPolicy::kLinearizable: return "linearizable";
    case ReadPolicy::kBounded: return "bounded";
  }
  return "refuse";
}
const char* to_string(WritePolicy p) { return p == WritePolicy::kForward ? "forward" : "refuse"; }
const char* to_string(PromoteMode m) {
  switch (m) {
    case PromoteMode::kManual: return "manual";
    case PromoteMode::kNever: return "never";
    case PromoteMode::kWhenCaughtUp: return "when-caught-up";
    case PromoteMode::kStandby: return "standby";
  }
  return "manual";
}
const char* to_string(TlsVersion v) { return v == TlsVersion::kTls13 ? "TLS1.3" : "TLS1.2"; }
const char* to_string(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
    case LogLevel::kPanic: return "panic";
    case LogLevel::kFatal: return "fatal";
  }
  return "info";
}

namespace {

LoadResult failure(LoadResult r, std::string error) {
  r.config.reset();
  r.error = std::move(error);
  return r;
}

const FlagSpec* flag_for_env(std::string_view key) {
  for (const auto& f : detail::flag_table()) {
    if (detail::env_name(f.name) == key) return &f;
  }
  return nullptr;
}

}  // namespace

LoadResult load(const std::vector<std::string>& args,
                const std::map<std::string, std::string>& env) {
  LoadResult result;
  const detail::CommandLine cl = detail::parse_command_line(args);
  if (!cl.error.empty()) return failure(std::move(result), cl.error);
  if (cl.help) {
    result.show_help = true;
    return result;
  }
  if (cl.version) {
    result.show_version = true;
    return result;
  }

  const auto env_value = [&](const char* key) -> std::string {
    auto it = env.find(key);
    return it == env.end() ? "" : it->second;
  };
  if (!env_value("ETCD_CONFIG_FILE").empty()) {
    return failure(std::move(result),
                   "ETCD_CONFIG_FILE (etcd's YAML configuration file) is not supported; "
                   "use --config FILE.toml or ETCD_CONFIG=FILE.toml (see config/README.md)");
  }

  Config config;
  std::set<std::string> set_flags;

  // 1. TOML.
  std::string toml_path = cl.has_config ? cl.config : env_value("ETCD_CONFIG");
  if (cl.has_config && toml_path.empty()) {
    return failure(std::move(result), "--config needs the path of a TOML file");
  }
  if (!toml_path.empty()) {
    if (auto err = detail::load_toml(toml_path, config, &set_flags); !err.empty()) {
      return failure(std::move(result), err);
    }
    config.config_file = toml_path;
  }

  // 2. Environment. A flag given on the command line wins over its variable.
  std::set<std::string_view> on_command_line;
  for (const auto& [spec, value] : cl.flags) on_command_line.insert(spec->name);
  for (const auto& [key, value] : env) {
    if (key.rfind("ETCD_", 0) != 0 || value.empty()) continue;
    if (key == "ETCD_CONFIG" || key == "ETCD_CONFIG_FILE" || key == "ETCD_VERSION") continue;
    const FlagSpec* spec = flag_for_env(key);
    if (!spec) {
      result.warnings.push_back("unrecognized environment variable " + key + "=" + value);
      continue;
    }
    if (on_command_line.count(spec->name)) {
      result.warnings.push_back("environment variable " + key +
                                " is shadowed by the command-line flag --" +
                                std::string(spec->name) + "; using the flag");
      continue;
    }
    std::string why;
    if (!detail::apply_flag(config, *spec, value, &why)) {
      return failure(std::move(result),
                     "invalid value " + detail::quote(value) + " for " + key + ": " + why);
    }
    set_flags.insert(std::string(spec->name));
  }

  // 3. Command line (values were checked while parsing).
  for (const auto& [spec, value] : cl.flags) {
    std::string why;
    if (!detail::apply_flag(config, *spec, value, &why)) {
      return failure(std::move(result), "invalid value " + detail::quote(value) + " for flag --" +
                                            std::string(spec->name) + ": " + why);
    }
    set_flags.insert(std::string(spec->name));
  }
  if (set_flags.count("log-output")) set_flags.insert("log-outputs");

  if (auto err = detail::finalize_and_validate(config, set_flags); !err.empty()) {
    return failure(std::move(result), err);
  }

  for (auto& w : detail::peer_security_warnings(config)) result.warnings.push_back(std::move(w));
  // etcd's warnings for TLS settings that a URL does not use.
  const ClientTransportSecurity& tls = config.client_tls;
  const bool certs_given = !tls.cert_file.empty() || !tls.key_file.empty();
  if (tls.auto_tls && certs_given)
    result.warnings.push_back("ignoring client auto TLS since certs given");
  for (const auto& u : config.listen_client_urls) {
    if (u.scheme != "http") continue;
    if (certs_given) {
      result.warnings.push_back(
          "scheme is HTTP while key and cert files are present; ignoring "
          "key and cert files for client URL " +
          u.str());
    }
    if (tls.client_cert_auth) {
      result.warnings.push_back(
          "scheme is HTTP while --client-cert-auth is enabled; ignoring "
          "client cert auth for client URL " +
          u.str());
    }
  }

  std::string ignored;
  for (const auto& [name, value] : config.ignored_flags)
    ignored += (ignored.empty() ? "--" : ", --") + name;
  if (config.enable_pprof)
    ignored += (ignored.empty() ? "--" : ", --") + std::string("enable-pprof");
  if (!ignored.empty())
    result.warnings.push_back("ignoring etcd flags that Outpost does not use: " + ignored);

  result.config = std::move(config);
  return result;
}

std::string usage() {
  return R"(Usage:
  outpost [flags]          run one Outpost member (etcd v3 API, Raft replicated)
  outpost --config FILE    read settings from a TOML file first (see config/README.md)
  outpost --version        print the version and exit
  outpost -h | --help      print this help and exit
  outpost snapshot status|restore FILE ...
                           etcdctl's snapshot status / restore for Outpost's
                           snapshot files (`outpost snapshot` for their flags)

Flags take "--flag=value" or "--flag value" (one dash works too); booleans take
"--flag" or "--flag=true|false". Each flag can also come from the environment as
ETCD_<FLAG> (upper case, '-' -> '_'). Precedence: defaults < TOML < environment
< command line.

Member:
  --name NAME                       this member's name (default "default")
  --data-dir DIR                    where data lives (default "<name>.etcd")
  --wal-dir DIR                     separate directory for the raft log (default: inside data-dir)
  --snapshot-count N                applied entries between snapshots (default 100000)
  --heartbeat-interval MS           leader heartbeat period in ms (default 100)
  --election-timeout MS             election timeout in ms, at least 5 heartbeats (default 1000)
  --listen-client-urls URLS         comma list of http(s)://ip:port to serve clients on
                                    (default http://localhost:2379)
  --advertise-client-urls URLS      client URLs other members and clients should use
                                    (default http://localhost:2379; required when
                                    --listen-client-urls is given)
  --enable-grpc-gateway[=BOOL]      etcd's gRPC JSON gateway (POST /v3/...) on http:// client
                                    URLs (default true)
  --listen-peer-urls URLS           URLs to serve peer traffic on (default http://localhost:2380)
  --listen-metrics-urls URLS        extra http://ip:port URLs serving only /metrics (and /health,
                                    /version, ...), no gRPC (default none)
  --max-request-bytes N             largest client request accepted (default 1572864)
  --max-txn-ops N                   most operations in one transaction (default 128)
  --quota-backend-bytes N           alarm when the store grows past N bytes (0 = 2 GiB,
                                    negative = no quota; default 0)
  --warning-apply-duration D        log an applied entry slower than D as "apply request took
                                    too long" (Go duration; default 100ms)
  --experimental-warning-apply-duration D
                                    etcd 3.4's name of --warning-apply-duration
  --unsafe-no-fsync[=BOOL]          Raft log writes are not fsynced: unsafe, a machine crash
                                    loses acknowledged writes (default false)

Cluster:
  --initial-advertise-peer-urls URLS
                                    peer URLs announced to the cluster
                                    (default http://localhost:2380)
  --initial-cluster LIST            bootstrap members, name=peer-url,... (default
                                    <name>=<initial-advertise-peer-urls>)
  --initial-cluster-state STATE     "new" to bootstrap, "existing" to join (default new)
  --initial-cluster-token TOKEN     token that keeps separate clusters apart (default etcd-cluster)
  --strict-reconfig-check[=BOOL]    refuse membership changes that could lose quorum (default true)
  --force-new-cluster[=BOOL]        restart as a one-member cluster from local data; unsafe
                                    (default false)
  --max-learners N                  most learners the cluster admits (Outpost; default 1)
  --role ROLE                       "voter" or "learner" (Outpost; default voter)
  --snapshot-rate-limit SIZE        snapshot streaming speed per peer, bytes per second or
                                    "64MiB"; 0 = unlimited (Outpost; default 64MiB)

Peer security (TLS between members; on for https peer URLs):
  --peer-cert-file FILE             this member's certificate for peer connections (PEM)
  --peer-key-file FILE              its private key (PEM)
  --peer-trusted-ca-file FILE       CA bundle peer certificates are verified against
  --peer-client-cert-auth[=BOOL]    require and verify a certificate from dialling peers
                                    (default false)
  --peer-cert-allowed-cn CN         accept only peer certificates with this Common Name
  --peer-cert-allowed-hostname H    refused: not supported (use --peer-cert-allowed-cn)
  --peer-crl-file FILE              refuse peer certificates listed in this CRL (PEM)
  --experimental-peer-skip-client-san-verification[=BOOL]
                                    do not check an inbound peer certificate's IP/DNS SANs
                                    against the address it connects from (default false)
  --peer-auto-tls[=BOOL]            self-signed peer certificate, peers not verified
                                    (default false)

Replica (Outpost; the policies apply while the member is a learner):
  --replica-read-policy POLICY      how a linearizable read is answered: "refuse" (etcd's),
                                    "serializable" (local), "linearizable" (read index from
                                    the leader) or "bounded" (local while within the max lag,
                                    else linearizable) (default refuse)
  --replica-writes POLICY           "refuse" writes or "forward" them to the leader
                                    (default refuse)
  --replica-promote MODE            "manual" (MemberPromote by an operator), "never",
                                    "when-caught-up" or "standby" (default manual)
  --replica-max-lag-ms MS           bounded: most lag in ms served locally; 0 = no time bound
                                    (default 1000)
  --replica-max-lag-revisions N     bounded: most lag in revisions served locally; 0 = no
                                    revision bound (default 0)
  --replica-promote-after-s S       when-caught-up: seconds caught up before asking for
                                    promotion, > 0 (default 10)
  --replica-failover-after-s S      standby: seconds a voter is unreachable before the leader
                                    promotes this member, > 0 (default 10)
  --replica-join URLS               client URLs of core members to ask to add this member; makes
                                    it a learner joining an existing cluster (default: no join)
  --replica-join-timeout-s S        seconds to keep trying to join before removing its own entry
                                    and exiting non-zero, > 0 (default 60)
  --replica-join-user NAME[:PW]     user to join as when the core has auth on (root)
  --replica-join-password PW        its password (when not given with the user)

Client TLS (etcd's flags; TOML [client_transport_security]):
  --cert-file FILE                  client server TLS certificate (PEM), for https:// client URLs
  --key-file FILE                   its private key (PEM)
  --trusted-ca-file FILE            CA bundle client certificates must be signed by; once set,
                                    every https client must present one (as etcd 3.4)
  --client-cert-auth[=BOOL]         require a client certificate signed by --trusted-ca-file
                                    (default false)
  --auto-tls[=BOOL]                 client TLS with a self-signed certificate under
                                    <data-dir>/fixtures/client (default false)
  --cipher-suites LIST              comma list of Go TLS 1.2 cipher suite names (default: the
                                    TLS library's)
  --tls-min-version VER             TLS1.2 or TLS1.3 (default TLS1.2; etcd 3.5's flag)
  --client-crl-file FILE            PEM CRLs: a client certificate they revoke fails the handshake
                                    (needs --trusted-ca-file)
  --client-cert-allowed-hostname NAME
                                    client certificates must be valid for this host name or IP
                                    (needs --trusted-ca-file)

Compaction:
  --auto-compaction-mode MODE       "periodic" or "revision" (default periodic)
  --auto-compaction-retention VAL   periodic: hours or a duration like "30m"; revision: a
                                    revision count; "0" turns it off (default 0)

Logging:
  --logger NAME                     "zap" or "capnslog"; both accepted (default capnslog)
  --log-outputs LIST                comma list of stderr, stdout, default or file paths
                                    (default stderr)
  --log-level LEVEL                 debug, info, warn, error, panic or fatal (default info)
  --debug[=BOOL]                    same as --log-level=debug (default false)

Authentication ([auth] in TOML):
  --auth-token TYPE                 "simple" (default); "jwt,..." is not supported yet
  --bcrypt-cost N                   bcrypt cost of password hashes, 4..31 (default 10)
  --auth-token-ttl S                seconds a simple token lives after its last use (default 300)

Accepted for etcd compatibility and ignored (a warning names the ones given):
  --enable-pprof,
  discovery and v2 proxy flags, gRPC and backend tuning, --experimental-*,
  and every other flag etcd 3.4.23 lists in its help.
  --config-file (etcd's YAML file) is refused: use --config FILE.toml.
)";
}

}  // namespace outpost::config
