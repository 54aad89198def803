// Outpost server configuration.
//
// One Config value describes one `outpost` member. It is filled, in this
// order of increasing precedence, from
//   1. built-in defaults (etcd 3.4.23's defaults, plus Outpost extensions),
//   2. a TOML file named by --config FILE.toml (or ETCD_CONFIG),
//   3. ETCD_* environment variables (flag name upper-cased, '-' -> '_'),
//   4. command-line flags (etcd's flags; "--f=v", "--f v", "-f=v", "-f v").
// and then validated as a whole (etcd's checks and messages where etcd has
// them). The result is either a complete, valid Config or one error message.
//
// The library never reads the process environment, never prints and never
// exits: the caller passes argv and the environment in, and decides what to
// print (usage(), an error, the warnings) and which exit code to use (2 for
// any error, like Go's flag package).
//
// Every flag etcd 3.4.23 knows is accepted so that an etcd Procfile runs with
// the binary name swapped; flags Outpost does not implement land in
// Config::ignored_flags and are named in one warning. A flag etcd does not
// know is an error ("flag provided but not defined: -bogus").
//
// config/README.md lists every TOML key with its flag and default.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/url.h"

namespace outpost::config {

enum class ClusterState { kNew, kExisting };
enum class Role { kVoter, kLearner };
enum class Logger { kCapnslog, kZap };
enum class LogLevel { kDebug, kInfo, kWarn, kError, kPanic, kFatal };
enum class CompactionMode { kPeriodic, kRevision };

// Lower-case names as written in flags and TOML ("new", "learner", "zap",
// "warn", "periodic").
const char* to_string(ClusterState s);
const char* to_string(Role r);
const char* to_string(Logger l);
const char* to_string(LogLevel l);
const char* to_string(CompactionMode m);

// ---- [replica] ---------------------------------------------------------------
// How a learner (a replica) serves clients. The policies matter only while
// the member is a learner: a voter, including a promoted learner, serves as
// every voter does, so setting them on a voter is allowed and has no effect.

// How a learner answers a linearizable Range (serializable = false).
//   kRefuse        etcd 3.4's answer: "rpc not supported for learner".
//   kSerializable  answer from local state, however far behind it is.
//   kLinearizable  get a read index from the leader (one round trip serves
//                  every read waiting at that moment), wait until applied
//                  locally, then answer.
//   kBounded       local while the lag is within max_lag_ms and
//                  max_lag_revisions, else as kLinearizable.
enum class ReadPolicy { kRefuse, kSerializable, kLinearizable, kBounded };
// What a learner does with a write: refuse it (etcd's behaviour) or forward
// it over the peer connection to the leader and answer as the leader answers.
enum class WritePolicy { kRefuse, kForward };
// How a learner becomes a voter.
//   kManual        only by an operator's MemberPromote (etcd's behaviour).
//   kNever         never: a read-only replica, MemberPromote is refused.
//   kWhenCaughtUp  asks for promotion after being caught up for promote_after_s.
//   kStandby       the leader promotes it once a voter has been unreachable
//                  for failover_after_s, then removes the lost voter.
enum class PromoteMode { kManual, kNever, kWhenCaughtUp, kStandby };

// "refuse" "serializable" "linearizable" "bounded"; "refuse" "forward";
// "manual" "never" "when-caught-up" "standby".
const char* to_string(ReadPolicy p);
const char* to_string(WritePolicy p);
const char* to_string(PromoteMode m);

// The [replica] TOML table; each key is also a --replica-KEY flag (dashes for
// underscores) and so an ETCD_REPLICA_KEY variable. Every duration is a whole
// number of the unit in its name.
struct ReplicaConfig {
  ReadPolicy read_policy = ReadPolicy::kRefuse;  // --replica-read-policy
  WritePolicy writes = WritePolicy::kRefuse;     // --replica-writes
  PromoteMode promote = PromoteMode::kManual;    // --replica-promote
  // bounded: answer locally while the learner is at most this many ms behind
  // the leader; 0 = no time bound. --replica-max-lag-ms
  uint64_t max_lag_ms = 1000;
  // bounded: answer locally while at most this many revisions behind;
  // 0 = no revision bound. At least one of the two bounds must be > 0 when
  // read_policy is bounded. --replica-max-lag-revisions
  uint64_t max_lag_revisions = 0;
  // when-caught-up: how long the learner stays caught up before asking for
  // promotion, > 0. --replica-promote-after-s
  uint64_t promote_after_s = 10;
  // standby: how long a voter must be unreachable before the leader promotes
  // the standby, > 0. --replica-failover-after-s
  uint64_t failover_after_s = 10;
  // Self-join: client URLs of core members to ask to add this member as a
  // learner; empty = no self-join. When non-empty the member is a learner
  // joining an existing cluster (load() sets role = learner and
  // initial_cluster_state = existing). --replica-join
  std::vector<Url> join;
  // Self-join: after this many seconds without getting in, remove our own
  // member entry and exit non-zero, > 0. --replica-join-timeout-s
  uint64_t join_timeout_s = 60;
  // Self-join into a core with auth enabled: the user (etcdctl's "name[:password]") and password
  // MemberAdd / MemberRemove are called as (root, as etcd requires). "" = no authentication.
  // --replica-join-user, --replica-join-password
  std::string join_user;
  std::string join_password;
};

// ---- [peer_transport_security] ------------------------------------------------
// TLS between members (etcd's --peer-* security flags; etcd's config file calls
// the table peer-transport-security). TLS is on for a listen peer URL with the
// https scheme, and for dialling a peer whose peer URL is https; an https listen
// URL needs cert_file + key_file or auto_tls. Paths are PEM files.
struct PeerTransportSecurity {
  std::string cert_file;        // --peer-cert-file: this member's certificate (both directions)
  std::string key_file;         // --peer-key-file: its private key
  std::string trusted_ca_file;  // --peer-trusted-ca-file: CA bundle peers are verified against;
                                // "" = the system's roots
  // --peer-client-cert-auth: inbound peers must present a certificate that
  // verifies against trusted_ca_file. Default: false.
  bool client_cert_auth = false;
  // --peer-auto-tls: a self-signed certificate under <data-dir>/fixtures/peer
  // for the listen peer hosts, and peers' certificates are not verified
  // (etcd's behaviour). Ignored (with a warning) when cert_file is set.
  bool auto_tls = false;
  // --peer-cert-allowed-cn: an inbound peer's certificate must have this
  // Common Name; "" = any. Needs client_cert_auth.
  std::string allowed_cn;
  // --peer-crl-file: inbound peer certificates whose serial this PEM CRL
  // lists are refused. Needs client_cert_auth.
  std::string crl_file;
  // --experimental-peer-skip-client-san-verification: an inbound peer's
  // certificate is not checked against the address it connects from. By
  // default, as in etcd, a certificate with IP or DNS SANs must name the
  // connecting IP (or a name it reverse-resolves to).
  bool skip_client_san_verify = false;

  bool empty() const { return cert_file.empty() && key_file.empty(); }
};

// ---- [client_transport_security] -----------------------------------------
// TLS on the client URLs, with etcd's flags and meaning. Used by every
// https:// URL in listen_client_urls; http:// URLs stay plain text (a warning
// says so when certificates are given). Outpost's own outgoing connections to
// https:// client URLs (self-join) use the same files as a client.
struct ClientTransportSecurity {
  std::string cert_file;  // --cert-file: the server's PEM certificate (chain)
  std::string key_file;   // --key-file: its PEM private key
  // --trusted-ca-file: PEM CA bundle. As in etcd 3.4, once it is set every
  // client of an https URL must present a certificate signed by it (the TLS
  // handshake fails otherwise), whether or not client_cert_auth is set.
  std::string trusted_ca_file;
  // --client-cert-auth: require a client certificate signed by
  // trusted_ca_file (which must then be set); its CN names the user.
  bool client_cert_auth = false;
  // --auto-tls: a self-signed certificate under <data-dir>/fixtures/client
  // for the client URLs' hosts, no client verification. Ignored (with a
  // warning) when cert_file/key_file are given, as in etcd.
  bool auto_tls = false;
  // --client-crl-file: PEM CRLs; a client certificate they revoke fails the
  // handshake. Needs trusted_ca_file, and a CRL from every CA that signs
  // client certificates (OpenSSL refuses a certificate whose issuer has none).
  std::string crl_file;
  // --client-cert-allowed-hostname: a client certificate must also be valid
  // for this host (IP SANs for an IP, DNS SANs for a name). Needs
  // trusted_ca_file.
  std::string allowed_hostname;
};

// --tls-min-version (etcd 3.5+; etcd 3.4 has no such flag).
enum class TlsVersion { kTls12, kTls13 };
const char* to_string(TlsVersion v);  // "TLS1.2" "TLS1.3"
// OpenSSL's name of a cipher suite --cipher-suites accepts, by Go's name
// ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" -> "ECDHE-RSA-AES128-GCM-SHA256");
// "" for a name it does not accept.
std::string openssl_cipher_name(std::string_view go_name);

// The etcd release whose flags, defaults and messages we follow.
inline constexpr const char* kEtcdCompatVersion = "3.4.23";

struct Config {
  // ---- member -------------------------------------------------------------
  std::string name = "default";  // --name
  std::string data_dir;          // --data-dir; "" in, "<name>.etcd" out
  std::string wal_dir;           // --wal-dir; "" = inside data_dir

  // ---- URLs (order as given, duplicates dropped) ---------------------------
  std::vector<Url> listen_client_urls{{"http", "localhost", 2379}};     // --listen-client-urls
  std::vector<Url> advertise_client_urls{{"http", "localhost", 2379}};  // --advertise-client-urls
  std::vector<Url> listen_peer_urls{{"http", "localhost", 2380}};       // --listen-peer-urls
  std::vector<Url> initial_advertise_peer_urls{
      {"http", "localhost", 2380}};  // --initial-advertise-peer-urls
  // --enable-grpc-gateway: etcd's gRPC JSON gateway (POST /v3/kv/range, ...) on the http://
  // client URLs. Default: true, as etcd.
  bool enable_grpc_gateway = true;
  // Extra URLs serving only HTTP: GET /metrics, and /health, /livez, /readyz, /version where the
  // member has them; no gRPC. http:// only (HTTP over TLS is not served). Empty: none (/metrics
  // is served on every http:// client URL anyway).
  std::vector<Url> listen_metrics_urls;  // --listen-metrics-urls; [metrics] listen_urls

  // ---- peer TLS --------------------------------------------------------------
  PeerTransportSecurity peer_security;  // [peer_transport_security] / --peer-* flags

  // ---- cluster bootstrap ---------------------------------------------------
  // --initial-cluster "n1=url,n2=url,n1=url2": member name -> peer URLs, in
  // the order names first appear. A name given twice gets both URLs (etcd's
  // way of giving a member several peer URLs). When unset by every source it
  // is <name>=<each initial advertise peer URL>, as etcd derives it.
  std::vector<std::pair<std::string, std::vector<Url>>> initial_cluster{
      {"default", {{"http", "localhost", 2380}}}};
  ClusterState initial_cluster_state = ClusterState::kNew;  // --initial-cluster-state
  std::string initial_cluster_token = "etcd-cluster";       // --initial-cluster-token
  bool strict_reconfig_check = true;                        // --strict-reconfig-check
  bool force_new_cluster = false;                           // --force-new-cluster
  uint32_t max_learners = 1;  // --max-learners (Outpost; etcd hard-codes 1)
  // --role (Outpost): voter | learner; learner whenever replica.join is set.
  Role role = Role::kVoter;

  // ---- replica (Outpost) ---------------------------------------------------
  ReplicaConfig replica;  // [replica] table / --replica-* flags

  // ---- TLS -----------------------------------------------------------------
  ClientTransportSecurity client_tls;  // [client_transport_security] / --cert-file ...
  // --cipher-suites: Go's names of the TLS 1.2 cipher suites to allow
  // ("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", ...); empty = the TLS
  // library's defaults. TLS 1.3 suites are not configurable (as in Go).
  std::vector<std::string> cipher_suites;
  TlsVersion tls_min_version = TlsVersion::kTls12;  // --tls-min-version

  // ---- raft ----------------------------------------------------------------
  std::chrono::milliseconds heartbeat_interval{100};  // --heartbeat-interval
  std::chrono::milliseconds election_timeout{1000};   // --election-timeout
  uint64_t snapshot_count = 100000;                   // --snapshot-count (0 -> 100000)
  // --snapshot-rate-limit (Outpost): bytes per second when streaming a
  // snapshot to a peer; 0 = unlimited.
  uint64_t snapshot_rate_limit = 64ull * 1024 * 1024;

  // ---- auth ([auth] table) ---------------------------------------------------
  // --auth-token: "simple" (etcd's default: random tokens every member knows, assigned through
  // the log). etcd's "jwt,..." is refused with an error: not supported yet.
  std::string auth_token = "simple";
  // --bcrypt-cost: cost of the bcrypt hashes of passwords; outside 4..31 the default (10) is
  // used with a warning, as etcd does.
  uint32_t bcrypt_cost = 10;
  // --auth-token-ttl: seconds a simple token lives after its last use. Default: 300.
  uint32_t auth_token_ttl = 300;

  // ---- limits --------------------------------------------------------------
  uint64_t max_request_bytes = 1572864;  // --max-request-bytes
  uint64_t max_txn_ops = 128;            // --max-txn-ops
  // --quota-backend-bytes: 0 = the default quota (2 GiB), < 0 = no quota.
  int64_t quota_backend_bytes = 0;
  // --unsafe-no-fsync: Raft log writes are not fsynced (etcd: "Disables fsync, unsafe, will cause
  // data loss."); a power loss can then lose acknowledged writes. For tests and benchmarks.
  bool unsafe_no_fsync = false;
  // --experimental-warning-apply-duration (etcd 3.4's name) or --warning-apply-duration (3.5's):
  // an applied entry that takes longer is logged as "apply request took too long". Nanoseconds.
  int64_t warning_apply_duration_ns = 100'000'000;

  // ---- compaction ----------------------------------------------------------
  CompactionMode auto_compaction_mode = CompactionMode::kPeriodic;  // --auto-compaction-mode
  // --auto-compaction-retention, as given: periodic mode takes hours ("1") or
  // a Go duration ("30m", "1h30m"); revision mode a revision count. "0" = off.
  std::string auto_compaction_retention = "0";
  // The retention as a value, set by validation: periodic mode's period in nanoseconds, revision
  // mode's count (the other is 0; both 0: no automatic compaction).
  int64_t auto_compaction_period_ns = 0;
  int64_t auto_compaction_revisions = 0;

  // ---- logging -------------------------------------------------------------
  Logger logger = Logger::kCapnslog;               // --logger
  std::vector<std::string> log_outputs{"stderr"};  // --log-outputs
  LogLevel log_level = LogLevel::kInfo;            // --log-level; --debug forces kDebug
  bool debug = false;                              // --debug (deprecated in etcd)

  // ---- accepted for compatibility ------------------------------------------
  bool enable_pprof = false;  // --enable-pprof: accepted, Outpost has no pprof

  // etcd flags that Outpost accepts but does not use, flag name (without
  // dashes) -> raw value as given ("true" for a bare boolean flag).
  std::map<std::string, std::string> ignored_flags;

  // The TOML file that was loaded ("" if none).
  std::string config_file;
};

struct LoadResult {
  std::optional<Config> config;       // set exactly when error is empty and no help/version
  bool show_help = false;             // -h / --help: print usage(), exit 0
  bool show_version = false;          // --version: print the version, exit 0
  std::string error;                  // one line (maybe more for TOML), no trailing '\n'
  std::vector<std::string> warnings;  // print them, then carry on
};

// args: argv without argv[0]. env: the process environment (only ETCD_*
// entries are looked at). Reads the TOML file named by --config / ETCD_CONFIG.
LoadResult load(const std::vector<std::string>& args,
                const std::map<std::string, std::string>& env);

// Help text for `outpost -h`, ending in '\n'.
std::string usage();

}  // namespace outpost::config
