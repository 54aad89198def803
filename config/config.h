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
  Role role = Role::kVoter;   // --role (Outpost): voter | learner

  // ---- raft ----------------------------------------------------------------
  std::chrono::milliseconds heartbeat_interval{100};  // --heartbeat-interval
  std::chrono::milliseconds election_timeout{1000};   // --election-timeout
  uint64_t snapshot_count = 100000;                   // --snapshot-count (0 -> 100000)
  // --snapshot-rate-limit (Outpost): bytes per second when streaming a
  // snapshot to a peer; 0 = unlimited.
  uint64_t snapshot_rate_limit = 64ull * 1024 * 1024;

  // ---- limits --------------------------------------------------------------
  uint64_t max_request_bytes = 1572864;  // --max-request-bytes
  uint64_t max_txn_ops = 128;            // --max-txn-ops
  // --quota-backend-bytes: 0 = the default quota (2 GiB), < 0 = no quota.
  int64_t quota_backend_bytes = 0;

  // ---- compaction ----------------------------------------------------------
  CompactionMode auto_compaction_mode = CompactionMode::kPeriodic;  // --auto-compaction-mode
  // --auto-compaction-retention, as given: periodic mode takes hours ("1") or
  // a Go duration ("30m", "1h30m"); revision mode a revision count. "0" = off.
  std::string auto_compaction_retention = "0";

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
