// etcd's flag set, re-declared for Outpost, and Go's flag syntax.
#include "config/flags.h"

#include <cctype>

#include "config/values.h"

namespace outpost::config::detail {
namespace {

// ---- setters for implemented flags -------------------------------------------

bool set_name(Config& c, std::string_view v, std::string*) { return c.name = v, true; }
bool set_data_dir(Config& c, std::string_view v, std::string*) { return c.data_dir = v, true; }
bool set_wal_dir(Config& c, std::string_view v, std::string*) { return c.wal_dir = v, true; }
bool set_token(Config& c, std::string_view v, std::string*) {
  return c.initial_cluster_token = v, true;
}
bool set_retention(Config& c, std::string_view v, std::string*) {
  return c.auto_compaction_retention = v, true;  // checked against the mode in validate()
}

bool set_lcurls(Config& c, std::string_view v, std::string* w) {
  return parse_url_list(v, &c.listen_client_urls, w);
}
bool set_lmurls(Config& c, std::string_view v, std::string* w) {
  return parse_url_list(v, &c.listen_metrics_urls, w);
}
bool set_acurls(Config& c, std::string_view v, std::string* w) {
  return parse_url_list(v, &c.advertise_client_urls, w);
}
bool set_lpurls(Config& c, std::string_view v, std::string* w) {
  return parse_url_list(v, &c.listen_peer_urls, w);
}
bool set_apurls(Config& c, std::string_view v, std::string* w) {
  return parse_url_list(v, &c.initial_advertise_peer_urls, w);
}
bool set_peer_cert(Config& c, std::string_view v, std::string*) {
  return c.peer_security.cert_file = v, true;
}
bool set_peer_key(Config& c, std::string_view v, std::string*) {
  return c.peer_security.key_file = v, true;
}
bool set_peer_ca(Config& c, std::string_view v, std::string*) {
  return c.peer_security.trusted_ca_file = v, true;
}
bool set_peer_client_auth(Config& c, std::string_view v, std::string* w) {
  return parse_bool(v, &c.peer_security.client_cert_auth, w);
}
bool set_peer_auto_tls(Config& c, std::string_view v, std::string* w) {
  return parse_bool(v, &c.peer_security.auto_tls, w);
}
bool set_warning_apply(Config& c, std::string_view v, std::string* w) {
  return parse_go_duration(v, &c.warning_apply_duration_ns, w);
}
bool set_unsafe_no_fsync(Config& c, std::string_view v, std::string* w) {
  return parse_bool(v, &c.unsafe_no_fsync, w);
}
bool set_peer_skip_san(Config& c, std::string_view v, std::string* w) {
  return parse_bool(v, &c.peer_security.skip_client_san_verify, w);
}
bool set_peer_cn(Config& c, std::string_view v, std::string*) {
  return c.peer_security.allowed_cn = v, true;
}
bool set_peer_crl(Config& c, std::string_view v, std::string*) {
  return c.peer_security.crl_file = v, true;
}
bool set_cluster(Config& c, std::string_view v, std::string* w) {
  return parse_initial_cluster(v, &c.initial_cluster, w);
}
bool set_state(Config& c, std::string_view v, std::string* w) {
  return parse_cluster_state(v, &c.initial_cluster_state, w);
}

bool set_ms(std::chrono::milliseconds* out, std::string_view v, std::string* w) {
  uint64_t ms = 0;
  if (!parse_uint64(v, &ms, w)) return false;
  if (ms > 0xffffffffull) return *w = "value is too large", false;
  *out = std::chrono::milliseconds(ms);
  return true;
}
bool set_heartbeat(Config& c, std::string_view v, std::string* w) {
  return set_ms(&c.heartbeat_interval, v, w);
}
bool set_election(Config& c, std::string_view v, std::string* w) {
  return set_ms(&c.election_timeout, v, w);
}
bool set_snapshot_count(Config& c, std::string_view v, std::string* w) {
  return parse_uint64(v, &c.snapshot_count, w);
}
bool set_max_request_bytes(Config& c, std::string_view v, std::string* w) {
  return parse_uint64(v, &c.max_request_bytes, w);
}
bool set_max_txn_ops(Config& c, std::string_view v, std::string* w) {
  return parse_uint64(v, &c.max_txn_ops, w);
}
bool set_quota(Config& c, std::string_view v, std::string* w) {
  return parse_int64(v, &c.quota_backend_bytes, w);
}
bool set_max_learners(Config& c, std::string_view v, std::string* w) {
  return parse_uint32(v, &c.max_learners, w);
}
bool set_rate_limit(Config& c, std::string_view v, std::string* w) {
  return parse_byte_size(v, &c.snapshot_rate_limit, w);
}
bool set_auth_token(Config& c, std::string_view v, std::string* w) {
  const std::string_view type = v.substr(0, v.find(','));
  if (type == "simple") {
    c.auth_token = std::string(v);
    return true;
  }
  if (type == "jwt") {
    *w = "JWT tokens are not supported yet; use --auth-token simple";
    return false;
  }
  *w = "unknown token type (expected simple)";
  return false;
}
bool set_bcrypt_cost(Config& c, std::string_view v, std::string* w) {
  return parse_uint32(v, &c.bcrypt_cost, w);
}
bool set_auth_token_ttl(Config& c, std::string_view v, std::string* w) {
  return parse_uint32(v, &c.auth_token_ttl, w);
}
bool set_strict(Config& c, std::string_view v, std::string* w) {
  return parse_bool(v, &c.strict_reconfig_check, w);
}
bool set_force_new(Config& c, std::string_view v, std::string* w) {
  return parse_bool(v, &c.force_new_cluster, w);
}
bool set_debug(Config& c, std::string_view v, std::string* w) { return parse_bool(v, &c.debug, w); }
bool set_grpc_gateway(Config& c, std::string_view v, std::string* w) {
  return parse_bool(v, &c.enable_grpc_gateway, w);
}
bool set_pprof(Config& c, std::string_view v, std::string* w) {
  return parse_bool(v, &c.enable_pprof, w);
}
bool set_logger(Config& c, std::string_view v, std::string* w) {
  return parse_logger(v, &c.logger, w);
}
bool set_log_outputs(Config& c, std::string_view v, std::string* w) {
  return parse_log_outputs(v, &c.log_outputs, w);
}
bool set_log_level(Config& c, std::string_view v, std::string* w) {
  return parse_log_level(v, &c.log_level, w);
}
bool set_compaction_mode(Config& c, std::string_view v, std::string* w) {
  return parse_compaction_mode(v, &c.auto_compaction_mode, w);
}
bool set_role(Config& c, std::string_view v, std::string* w) { return parse_role(v, &c.role, w); }

bool set_read_policy(Config& c, std::string_view v, std::string* w) {
  return parse_read_policy(v, &c.replica.read_policy, w);
}
bool set_writes(Config& c, std::string_view v, std::string* w) {
  return parse_write_policy(v, &c.replica.writes, w);
}
bool set_promote(Config& c, std::string_view v, std::string* w) {
  return parse_promote_mode(v, &c.replica.promote, w);
}
bool set_max_lag_ms(Config& c, std::string_view v, std::string* w) {
  return parse_uint64(v, &c.replica.max_lag_ms, w);
}
bool set_max_lag_revisions(Config& c, std::string_view v, std::string* w) {
  return parse_uint64(v, &c.replica.max_lag_revisions, w);
}
bool set_promote_after(Config& c, std::string_view v, std::string* w) {
  return parse_positive(v, &c.replica.promote_after_s, w);
}
bool set_failover_after(Config& c, std::string_view v, std::string* w) {
  return parse_positive(v, &c.replica.failover_after_s, w);
}
bool set_join(Config& c, std::string_view v, std::string* w) {
  return parse_url_list(v, &c.replica.join, w);
}
bool set_join_timeout(Config& c, std::string_view v, std::string* w) {
  return parse_positive(v, &c.replica.join_timeout_s, w);
}
// A security flag Outpost does not implement is refused, never ignored.
bool refuse_peer_allowed_hostname(Config&, std::string_view, std::string* why) {
  *why = "not supported by Outpost (use --peer-cert-allowed-cn)";
  return false;
}
bool set_join_user(Config& c, std::string_view v, std::string*) {
  c.replica.join_user = std::string(v);
  return true;
}
bool set_join_password(Config& c, std::string_view v, std::string*) {
  c.replica.join_password = std::string(v);
  return true;
}

bool set_cert_file(Config& c, std::string_view v, std::string*) {
  return c.client_tls.cert_file = v, true;
}
bool set_key_file(Config& c, std::string_view v, std::string*) {
  return c.client_tls.key_file = v, true;
}
bool set_trusted_ca_file(Config& c, std::string_view v, std::string*) {
  return c.client_tls.trusted_ca_file = v, true;
}
bool set_client_cert_auth(Config& c, std::string_view v, std::string* w) {
  return parse_bool(v, &c.client_tls.client_cert_auth, w);
}
bool set_auto_tls(Config& c, std::string_view v, std::string* w) {
  return parse_bool(v, &c.client_tls.auto_tls, w);
}
bool set_client_crl_file(Config& c, std::string_view v, std::string*) {
  return c.client_tls.crl_file = v, true;
}
bool set_client_allowed_hostname(Config& c, std::string_view v, std::string*) {
  return c.client_tls.allowed_hostname = v, true;
}
bool set_cipher_suites(Config& c, std::string_view v, std::string* w) {
  return parse_cipher_suites(v, &c.cipher_suites, w);
}
bool set_tls_min_version(Config& c, std::string_view v, std::string* w) {
  return parse_tls_version(v, &c.tls_min_version, w);
}

constexpr bool kBool = true;
constexpr bool kValue = false;

constexpr FlagSpec kFlags[] = {
    // Implemented (etcd's meaning).
    {"name", kValue, set_name},
    {"data-dir", kValue, set_data_dir},
    {"wal-dir", kValue, set_wal_dir},
    {"listen-client-urls", kValue, set_lcurls},
    {"listen-metrics-urls", kValue, set_lmurls},
    {"advertise-client-urls", kValue, set_acurls},
    {"listen-peer-urls", kValue, set_lpurls},
    {"initial-advertise-peer-urls", kValue, set_apurls},
    {"initial-cluster", kValue, set_cluster},
    {"initial-cluster-state", kValue, set_state},
    {"initial-cluster-token", kValue, set_token},
    {"heartbeat-interval", kValue, set_heartbeat},
    {"election-timeout", kValue, set_election},
    {"snapshot-count", kValue, set_snapshot_count},
    {"max-request-bytes", kValue, set_max_request_bytes},
    {"max-txn-ops", kValue, set_max_txn_ops},
    {"quota-backend-bytes", kValue, set_quota},
    {"unsafe-no-fsync", kBool, set_unsafe_no_fsync},
    {"experimental-warning-apply-duration", kValue, set_warning_apply},
    {"warning-apply-duration", kValue, set_warning_apply},
    {"strict-reconfig-check", kBool, set_strict},
    {"force-new-cluster", kBool, set_force_new},
    {"logger", kValue, set_logger},
    {"log-outputs", kValue, set_log_outputs},
    {"log-output", kValue, set_log_outputs},  // etcd 3.4's deprecated spelling
    {"log-level", kValue, set_log_level},
    {"debug", kBool, set_debug},
    {"enable-pprof", kBool, set_pprof},
    {"enable-grpc-gateway", kBool, set_grpc_gateway},
    {"auto-compaction-mode", kValue, set_compaction_mode},
    {"auto-compaction-retention", kValue, set_retention},
    {"peer-cert-file", kValue, set_peer_cert},
    {"peer-key-file", kValue, set_peer_key},
    {"peer-client-cert-auth", kBool, set_peer_client_auth},
    {"peer-trusted-ca-file", kValue, set_peer_ca},
    {"peer-cert-allowed-cn", kValue, set_peer_cn},
    {"peer-auto-tls", kBool, set_peer_auto_tls},
    {"peer-crl-file", kValue, set_peer_crl},
    {"experimental-peer-skip-client-san-verification", kBool, set_peer_skip_san},
    // Client TLS ([client_transport_security]).
    {"cert-file", kValue, set_cert_file},
    {"key-file", kValue, set_key_file},
    {"trusted-ca-file", kValue, set_trusted_ca_file},
    {"client-cert-auth", kBool, set_client_cert_auth},
    {"auto-tls", kBool, set_auto_tls},
    {"client-crl-file", kValue, set_client_crl_file},
    {"client-cert-allowed-hostname", kValue, set_client_allowed_hostname},
    {"cipher-suites", kValue, set_cipher_suites},
    {"tls-min-version", kValue, set_tls_min_version},  // etcd 3.5+
    // Outpost extensions.
    {"max-learners", kValue, set_max_learners},
    {"snapshot-rate-limit", kValue, set_rate_limit},
    {"role", kValue, set_role},
    {"replica-read-policy", kValue, set_read_policy},
    {"replica-writes", kValue, set_writes},
    {"replica-promote", kValue, set_promote},
    {"replica-max-lag-ms", kValue, set_max_lag_ms},
    {"replica-max-lag-revisions", kValue, set_max_lag_revisions},
    {"replica-promote-after-s", kValue, set_promote_after},
    {"replica-failover-after-s", kValue, set_failover_after},
    {"replica-join", kValue, set_join},
    {"replica-join-timeout-s", kValue, set_join_timeout},
    {"replica-join-user", kValue, set_join_user},
    {"replica-join-password", kValue, set_join_password},
    // etcd flags accepted and ignored: member / gRPC tuning.
    {"initial-election-tick-advance", kBool, nullptr},
    {"max-snapshots", kValue, nullptr},
    {"max-wals", kValue, nullptr},
    {"backend-batch-interval", kValue, nullptr},
    {"backend-batch-limit", kValue, nullptr},
    {"max-concurrent-streams", kValue, nullptr},
    {"grpc-keepalive-min-time", kValue, nullptr},
    {"grpc-keepalive-interval", kValue, nullptr},
    {"grpc-keepalive-timeout", kValue, nullptr},
    // clustering
    {"discovery", kValue, nullptr},
    {"discovery-fallback", kValue, nullptr},
    {"discovery-proxy", kValue, nullptr},
    {"discovery-srv", kValue, nullptr},
    {"discovery-srv-name", kValue, nullptr},
    {"pre-vote", kBool, nullptr},
    {"enable-v2", kBool, nullptr},
    // security
    {"peer-cert-allowed-hostname", kValue, refuse_peer_allowed_hostname},
    {"cors", kValue, nullptr},
    {"host-whitelist", kValue, nullptr},
    // auth
    {"auth-token", kValue, set_auth_token},
    {"bcrypt-cost", kValue, set_bcrypt_cost},
    {"auth-token-ttl", kValue, set_auth_token_ttl},
    // monitoring, logging
    {"metrics", kValue, nullptr},
    {"log-package-levels", kValue, nullptr},
    // v2 proxy
    {"proxy", kValue, nullptr},
    {"proxy-failure-wait", kValue, nullptr},
    {"proxy-refresh-interval", kValue, nullptr},
    {"proxy-dial-timeout", kValue, nullptr},
    {"proxy-write-timeout", kValue, nullptr},
    {"proxy-read-timeout", kValue, nullptr},
    // experimental / unsafe
    {"experimental-initial-corrupt-check", kBool, nullptr},
    {"experimental-corrupt-check-time", kValue, nullptr},
    {"experimental-enable-v2v3", kValue, nullptr},
    {"experimental-backend-bbolt-freelist-type", kValue, nullptr},
    {"experimental-enable-lease-checkpoint", kBool, nullptr},
    {"experimental-enable-lease-checkpoint-persist", kBool, nullptr},
    {"experimental-compaction-batch-limit", kValue, nullptr},
    {"experimental-watch-progress-notify-interval", kValue, nullptr},
    // Flags etcd itself already ignores (v0.4/v2 leftovers); boolean-style.
    {"cluster-active-size", kBool, nullptr},
    {"cluster-remove-delay", kBool, nullptr},
    {"cluster-sync-interval", kBool, nullptr},
    {"force", kBool, nullptr},
    {"max-result-buffer", kBool, nullptr},
    {"max-retry-attempts", kBool, nullptr},
    {"peer-heartbeat-interval", kBool, nullptr},
    {"peer-election-timeout", kBool, nullptr},
    {"retry-interval", kBool, nullptr},
    {"snapshot", kBool, nullptr},
    {"v", kBool, nullptr},
    {"vv", kBool, nullptr},
    {"test.coverprofile", kBool, nullptr},
    {"test.outputdir", kBool, nullptr},
};

std::string invalid_value(std::string_view value, std::string_view flag, const std::string& why) {
  return "invalid value " + quote(value) + " for flag --" + std::string(flag) + ": " + why;
}

}  // namespace

std::span<const FlagSpec> flag_table() { return kFlags; }

const FlagSpec* find_flag(std::string_view name) {
  for (const auto& f : kFlags) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

bool apply_flag(Config& config, const FlagSpec& flag, std::string_view value, std::string* why) {
  if (flag.set) return flag.set(config, value, why);
  if (flag.is_bool) {
    bool ignored = false;
    if (!parse_bool(value, &ignored, why)) return false;
  }
  config.ignored_flags[std::string(flag.name)] = std::string(value);
  return true;
}

std::string env_name(std::string_view flag) {
  std::string out = "ETCD_";
  for (char c : flag) {
    out += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

CommandLine parse_command_line(const std::vector<std::string>& args) {
  CommandLine cl;
  Config scratch;  // values are checked here; load() applies them for real later
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      if (i + 1 < args.size()) cl.error = "'" + args[i + 1] + "' is not a valid flag";
      return cl;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      cl.error = "'" + arg + "' is not a valid flag";
      return cl;
    }
    std::string_view body(arg);
    body.remove_prefix(arg[1] == '-' ? 2 : 1);
    if (body.empty() || body[0] == '-' || body[0] == '=') {
      cl.error = "bad flag syntax: " + arg;
      return cl;
    }
    const auto eq = body.find('=');
    const bool has_value = eq != std::string_view::npos;
    const std::string name(body.substr(0, eq));
    std::string value = has_value ? std::string(body.substr(eq + 1)) : "";

    if (name == "h" || name == "help") {
      cl.help = true;
      return cl;
    }
    const bool is_version = name == "version";
    const FlagSpec* spec = find_flag(name);
    const bool is_config = name == "config" || name == "config-file";
    if (!spec && !is_version && !is_config) {
      cl.error = "flag provided but not defined: -" + name;
      return cl;
    }
    const bool is_bool = is_version || (spec && spec->is_bool);
    if (!has_value) {
      if (is_bool) {
        value = "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        cl.error = "flag needs an argument: -" + name;
        return cl;
      }
    }
    std::string why;
    if (is_version) {
      bool on = false;
      if (!parse_bool(value, &on, &why)) {
        cl.error = invalid_value(value, name, why);
        return cl;
      }
      cl.version = cl.version || on;
    } else if (name == "config-file") {
      cl.error =
          "--config-file (etcd's YAML configuration file) is not supported; "
          "use --config FILE.toml (see config/README.md)";
      return cl;
    } else if (name == "config") {
      cl.has_config = true;
      cl.config = value;
    } else {
      if (!apply_flag(scratch, *spec, value, &why)) {
        cl.error = invalid_value(value, name, why);
        return cl;
      }
      cl.flags.emplace_back(spec, std::move(value));
    }
  }
  return cl;
}

}  // namespace outpost::config::detail
