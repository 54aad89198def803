// etcd's start-up checks (embed.Config.Validate and the bootstrap checks of
// etcdserver.ServerConfig), with etcd's wording where etcd has one.
#include "config/validate.h"

#include <algorithm>
#include <limits>

#include "config/values.h"

namespace outpost::config::detail {
namespace {

constexpr int64_t kMaxElectionMs = 50000;  // etcd's upper bound

std::vector<std::string> sorted_strings(const std::vector<Url>& urls) {
  std::vector<std::string> out;
  for (const auto& u : urls) out.push_back(u.str());
  std::sort(out.begin(), out.end());
  return out;
}

std::string join(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : std::string(sep)) + s;
  return out;
}

// Go's %q of a []string: ["a" "b"].
std::string go_quote_list(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? " " : "") + quote(v[i]);
  return out + "]";
}

std::string check_bind(const std::vector<Url>& urls) {
  for (const auto& u : urls) {
    if (!is_bindable_host(u.host)) return "expected IP in URL for binding (" + u.str() + ")";
  }
  return "";
}

std::string check_advertise(const char* flag, const std::vector<Url>& urls) {
  for (const auto& u : urls) {
    if (u.port == 0) {
      return std::string(flag) + " " + quote(u.str()) + " must name a port other than 0";
    }
  }
  return "";
}

// Peer TLS: an https peer URL needs a certificate (or auto TLS); the files
// that only make sense together come together.
std::string check_peer_security(const Config& c) {
  const PeerTransportSecurity& s = c.peer_security;
  if (s.cert_file.empty() != s.key_file.empty()) {
    return s.cert_file.empty() ? "--peer-key-file is set but --peer-cert-file is not: give both"
                               : "--peer-cert-file is set but --peer-key-file is not: give both";
  }
  for (const auto& u : c.listen_peer_urls) {
    if (u.scheme == "https" && s.empty() && !s.auto_tls) {
      return "TLS key/cert (--peer-cert-file, --peer-key-file) must be provided for peer url " +
             u.str() + " with HTTPS scheme (or use --peer-auto-tls)";
    }
  }
  if (!s.allowed_cn.empty() && !s.client_cert_auth) {
    return "--peer-cert-allowed-cn needs --peer-client-cert-auth: without it peers present no "
           "certificate to check";
  }
  if (!s.crl_file.empty() && !s.client_cert_auth) {
    return "--peer-crl-file needs --peer-client-cert-auth: without it peers present no "
           "certificate to check";
  }
  return "";
}

const std::vector<Url>* member_urls(const Config& c) {
  for (const auto& [name, urls] : c.initial_cluster) {
    if (name == c.name) return &urls;
  }
  return nullptr;
}

// etcd's advertiseMatchesCluster, comparing URL strings (Outpost does not
// resolve names to make differently spelled URLs match).
std::string check_advertise_matches_cluster(const Config& c, const std::vector<Url>& listed) {
  const std::vector<std::string> ap = sorted_strings(c.initial_advertise_peer_urls);
  const std::vector<std::string> init = sorted_strings(listed);
  if (ap == init) return "";

  std::string why;
  if (ap.size() != init.size()) {
    why = "len(" + go_quote_list(ap) + ") != len(" + go_quote_list(init) + ")";
  } else {
    for (size_t i = 0; i < ap.size(); ++i) {
      if (ap[i] != init[i]) {
        why = "resolved urls: " + quote(ap[i]) + " != " + quote(init[i]);
        break;
      }
    }
  }
  std::vector<std::string> missing;
  for (const auto& u : init) {
    if (std::find(ap.begin(), ap.end(), u) == ap.end()) missing.push_back(c.name + "=" + u);
  }
  if (!missing.empty()) {
    return "--initial-cluster has " + join(missing, ",") +
           " but missing from --initial-advertise-peer-urls=" + join(ap, ",") + " (" + why + ")";
  }
  for (const auto& u : ap) {
    if (std::find(init.begin(), init.end(), u) == init.end()) missing.push_back(u);
  }
  std::vector<std::string> mine;
  for (const auto& u : ap) mine.push_back(c.name + "=" + u);
  if (!missing.empty()) {
    return "--initial-advertise-peer-urls has " + join(missing, ",") +
           " but missing from --initial-cluster=" + join(mine, ",");
  }
  // Same URL sets spelled with different multiplicity, e.g. a URL twice.
  return "failed to resolve " + join(ap, ",") + " to match --initial-cluster=" + join(mine, ",") +
         " (" + why + ")";
}

bool has_duplicate_url(const Cluster& cluster) {
  std::vector<std::string> all;
  for (const auto& [name, urls] : cluster) {
    for (const auto& u : urls) all.push_back(u.str());
  }
  std::sort(all.begin(), all.end());
  return std::adjacent_find(all.begin(), all.end()) != all.end();
}

// [client_transport_security], --cipher-suites, --tls-min-version.
std::string check_client_tls(const Config& c) {
  const ClientTransportSecurity& t = c.client_tls;
  if (!t.crl_file.empty() && t.trusted_ca_file.empty()) {
    return "--client-crl-file (client_transport_security.crl_file) needs --trusted-ca-file: "
           "revocation is checked on the client certificates that CA signs";
  }
  if (!t.allowed_hostname.empty() && t.trusted_ca_file.empty()) {
    return "--client-cert-allowed-hostname (client_transport_security.allowed_hostname) needs "
           "--trusted-ca-file: the host is checked on the client certificates that CA signs";
  }
  if (t.cert_file.empty() != t.key_file.empty()) {
    return "KeyFile and CertFile must both be present[key: " + t.key_file +
           ", cert: " + t.cert_file + "] (--key-file, --cert-file)";
  }
  const bool certs = !t.cert_file.empty();
  if (t.client_cert_auth && t.trusted_ca_file.empty() && certs) {
    return "--client-cert-auth needs --trusted-ca-file "
           "(client_transport_security.trusted_ca_file): "
           "Outpost verifies client certificates against that CA bundle only";
  }
  if (!c.cipher_suites.empty() && c.tls_min_version == TlsVersion::kTls13) {
    return "cipher suites cannot be configured when only TLS1.3 is enabled (--cipher-suites with "
           "--tls-min-version=TLS1.3)";
  }
  for (const auto& u : c.listen_client_urls) {
    if (u.scheme != "https") continue;
    if (!certs && !t.auto_tls) {
      return "TLS key/cert (--cert-file, --key-file) must be provided for client url " + u.str() +
             " with HTTPS scheme";
    }
  }
  return "";
}

}  // namespace

std::string finalize_and_validate(Config& c, const std::set<std::string>& set_flags) {
  const auto is_set = [&](const char* flag) { return set_flags.count(flag) > 0; };

  if (c.data_dir.empty()) c.data_dir = c.name + ".etcd";
  if (c.snapshot_count == 0) c.snapshot_count = 100000;
  if (c.debug) c.log_level = LogLevel::kDebug;
  if (!is_set("initial-cluster")) {
    c.initial_cluster.clear();
    for (const auto& u : c.initial_advertise_peer_urls)
      add_member_url(&c.initial_cluster, c.name, u);
  }
  // Self-join: a member with replica.join joins an existing cluster as a
  // learner. Contradicting values given explicitly are errors further down.
  const bool self_join = !c.replica.join.empty();
  const bool said_voter = is_set("role") && c.role == Role::kVoter;
  const bool said_new =
      is_set("initial-cluster-state") && c.initial_cluster_state == ClusterState::kNew;
  if (self_join) {
    c.role = Role::kLearner;
    c.initial_cluster_state = ClusterState::kExisting;
  }

  if (c.name.empty()) return "--name must not be empty";
  if (auto e = check_bind(c.listen_peer_urls); !e.empty()) return e;
  if (auto e = check_bind(c.listen_client_urls); !e.empty()) return e;
  if (auto e = check_bind(c.listen_metrics_urls); !e.empty()) return e;
  for (const auto& u : c.listen_metrics_urls) {
    if (u.scheme == "https")
      return "--listen-metrics-urls " + u.str() +
             ": Outpost does not serve HTTP over TLS; give an http:// URL (metrics are also "
             "served on every http:// client URL)";
  }
  if (auto e = check_advertise("--initial-advertise-peer-urls", c.initial_advertise_peer_urls);
      !e.empty()) {
    return e;
  }
  if (auto e = check_advertise("--advertise-client-urls", c.advertise_client_urls); !e.empty())
    return e;

  if (auto e = check_peer_security(c); !e.empty()) return e;

  const int64_t tick = c.heartbeat_interval.count();
  const int64_t election = c.election_timeout.count();
  if (tick <= 0) return "--heartbeat-interval must be >0 (set to " + std::to_string(tick) + "ms)";
  if (election <= 0)
    return "--election-timeout must be >0 (set to " + std::to_string(election) + "ms)";
  if (5 * tick > election) {
    return "--election-timeout[" + std::to_string(election) +
           "ms] should be at least as 5 times as --heartbeat-interval[" + std::to_string(tick) +
           "ms]";
  }
  if (election > kMaxElectionMs) {
    return "--election-timeout[" + std::to_string(election) +
           "ms] is too long, and should be set less than " + std::to_string(kMaxElectionMs) + "ms";
  }

  if (is_set("listen-client-urls") && !is_set("advertise-client-urls")) {
    return "--advertise-client-urls is required when --listen-client-urls is set explicitly";
  }
  if (c.max_request_bytes == 0) return "--max-request-bytes must be >0";
  if (c.max_txn_ops == 0) return "--max-txn-ops must be >0";
  if (std::string why;
      !check_compaction_retention(c.auto_compaction_mode, c.auto_compaction_retention, &why)) {
    return why;
  }
  {
    uint64_t n = 0;
    const bool count = parse_uint64(c.auto_compaction_retention, &n, nullptr);
    // Retentions past int64 (revisions, or hours as nanoseconds) saturate: never, in practice.
    constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
    constexpr int64_t kHourNs = 3'600'000'000'000;
    if (c.auto_compaction_mode == CompactionMode::kRevision) {
      c.auto_compaction_revisions = n > uint64_t(kMax) ? kMax : int64_t(n);
    } else if (count) {
      // A bare number is hours.
      c.auto_compaction_period_ns = n > uint64_t(kMax / kHourNs) ? kMax : int64_t(n) * kHourNs;
    } else if (!parse_go_duration(c.auto_compaction_retention, &c.auto_compaction_period_ns,
                                  nullptr)) {
      c.auto_compaction_period_ns = 0;
    }
  }
  if (auto e = check_client_tls(c); !e.empty()) return e;
  if (self_join) {
    if (c.force_new_cluster) {
      return "--replica-join (replica.join) cannot be used with --force-new-cluster: a member "
             "that joins an existing cluster cannot start a new one";
    }
    if (said_voter) {
      return "--replica-join (replica.join) makes this member a learner, but --role (replica.role) "
             "is voter: drop --role or set it to learner";
    }
    if (said_new) {
      return "--replica-join (replica.join) joins an existing cluster, but "
             "--initial-cluster-state (cluster.state) is new: drop it or set it to existing";
    }
  }
  if (c.replica.read_policy == ReadPolicy::kBounded && c.replica.max_lag_ms == 0 &&
      c.replica.max_lag_revisions == 0) {
    return "--replica-read-policy (replica.read_policy) bounded needs a bound, but "
           "--replica-max-lag-ms (replica.max_lag_ms) and --replica-max-lag-revisions "
           "(replica.max_lag_revisions) are both 0: set one of them above 0";
  }
  if (c.role == Role::kLearner && c.force_new_cluster) {
    return "--force-new-cluster cannot be used by a learner (role = learner): "
           "a new cluster needs a voting member";
  }

  // Bootstrap checks (etcd: VerifyBootstrap / VerifyJoinExisting).
  const std::vector<Url>* mine = member_urls(c);
  if (!mine)
    return "couldn't find local name " + quote(c.name) + " in the initial cluster configuration";
  if (c.initial_cluster_state == ClusterState::kNew) {
    if (auto e = check_advertise_matches_cluster(c, *mine); !e.empty()) return e;
  }
  if (has_duplicate_url(c.initial_cluster)) {
    return "initial cluster " + cluster_string(c.initial_cluster) + " has duplicate url";
  }
  return "";
}

std::vector<std::string> peer_security_warnings(const Config& c) {
  std::vector<std::string> out;
  const PeerTransportSecurity& s = c.peer_security;
  if (s.auto_tls && !s.empty()) out.push_back("ignoring peer auto TLS since certs given");
  for (const auto& u : c.listen_peer_urls) {
    if (u.scheme != "http") continue;
    if (!s.empty())
      out.push_back(
          "scheme is HTTP while key and cert files are present; ignoring key and cert "
          "files for peer url " +
          u.str());
    if (s.client_cert_auth)
      out.push_back(
          "scheme is HTTP while --peer-client-cert-auth is enabled; ignoring client "
          "cert auth for peer url " +
          u.str());
  }
  return out;
}

}  // namespace outpost::config::detail
