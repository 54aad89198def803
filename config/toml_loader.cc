// TOML -> Config, with positioned errors for unknown keys, wrong types and
// bad values.
#include "config/toml_loader.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <tuple>
#include <vector>

#include "config/flags.h"
#include "config/values.h"

namespace outpost::config::detail {
namespace {

// How a key's TOML value is checked before it reaches the flag's setter.
enum class Kind {
  kString,       // a string
  kBool,         // a boolean
  kCount,        // an integer >= 0
  kPositive,     // an integer > 0
  kInteger,      // any integer
  kSize,         // an integer >= 0 (bytes) or a string such as "64MiB"
  kStringOrInt,  // a string or an integer >= 0
  kUrls,         // an array of URL strings, or one string "u1,u2"
  kStrings,      // an array of strings, or one string "a,b"
  kCluster,      // "n1=u1,n2=u2" or a table name -> URL string or array of URL strings
};

struct Key {
  std::string_view table;  // "" for the top level
  std::string_view key;
  std::string_view flag;
  Kind kind;
};

constexpr Key kKeys[] = {
    {"", "name", "name", Kind::kString},
    {"", "data_dir", "data-dir", Kind::kString},
    {"", "wal_dir", "wal-dir", Kind::kString},
    {"", "unsafe_no_fsync", "unsafe-no-fsync", Kind::kBool},
    {"", "cipher_suites", "cipher-suites", Kind::kStrings},
    {"", "tls_min_version", "tls-min-version", Kind::kString},
    {"client", "listen_urls", "listen-client-urls", Kind::kUrls},
    {"client", "advertise_urls", "advertise-client-urls", Kind::kUrls},
    {"client", "enable_grpc_gateway", "enable-grpc-gateway", Kind::kBool},
    {"metrics", "listen_urls", "listen-metrics-urls", Kind::kUrls},
    {"peer", "listen_urls", "listen-peer-urls", Kind::kUrls},
    {"peer", "advertise_urls", "initial-advertise-peer-urls", Kind::kUrls},
    {"cluster", "initial", "initial-cluster", Kind::kCluster},
    {"cluster", "state", "initial-cluster-state", Kind::kString},
    {"cluster", "token", "initial-cluster-token", Kind::kString},
    {"cluster", "strict_reconfig_check", "strict-reconfig-check", Kind::kBool},
    {"cluster", "force_new_cluster", "force-new-cluster", Kind::kBool},
    {"cluster", "max_learners", "max-learners", Kind::kCount},
    {"raft", "heartbeat_interval_ms", "heartbeat-interval", Kind::kPositive},
    {"raft", "election_timeout_ms", "election-timeout", Kind::kPositive},
    {"raft", "snapshot_count", "snapshot-count", Kind::kCount},
    {"raft", "snapshot_rate_limit", "snapshot-rate-limit", Kind::kSize},
    {"auth", "token", "auth-token", Kind::kString},
    {"auth", "bcrypt_cost", "bcrypt-cost", Kind::kCount},
    {"auth", "token_ttl", "auth-token-ttl", Kind::kCount},
    {"limits", "max_request_bytes", "max-request-bytes", Kind::kPositive},
    {"limits", "max_txn_ops", "max-txn-ops", Kind::kPositive},
    {"limits", "quota_backend_bytes", "quota-backend-bytes", Kind::kInteger},
    {"compaction", "mode", "auto-compaction-mode", Kind::kString},
    {"compaction", "retention", "auto-compaction-retention", Kind::kStringOrInt},
    {"log", "logger", "logger", Kind::kString},
    {"log", "outputs", "log-outputs", Kind::kStrings},
    {"log", "level", "log-level", Kind::kString},
    {"log", "warning_apply_duration", "warning-apply-duration", Kind::kString},
    {"peer_transport_security", "cert_file", "peer-cert-file", Kind::kString},
    {"peer_transport_security", "key_file", "peer-key-file", Kind::kString},
    {"peer_transport_security", "trusted_ca_file", "peer-trusted-ca-file", Kind::kString},
    {"peer_transport_security", "client_cert_auth", "peer-client-cert-auth", Kind::kBool},
    {"peer_transport_security", "auto_tls", "peer-auto-tls", Kind::kBool},
    {"peer_transport_security", "allowed_cn", "peer-cert-allowed-cn", Kind::kString},
    {"peer_transport_security", "crl_file", "peer-crl-file", Kind::kString},
    {"peer_transport_security", "skip_client_san_verify",
     "experimental-peer-skip-client-san-verification", Kind::kBool},
    {"replica", "role", "role", Kind::kString},
    {"replica", "read_policy", "replica-read-policy", Kind::kString},
    {"replica", "writes", "replica-writes", Kind::kString},
    {"replica", "promote", "replica-promote", Kind::kString},
    {"replica", "max_lag_ms", "replica-max-lag-ms", Kind::kCount},
    {"replica", "max_lag_revisions", "replica-max-lag-revisions", Kind::kCount},
    {"replica", "promote_after_s", "replica-promote-after-s", Kind::kPositive},
    {"replica", "failover_after_s", "replica-failover-after-s", Kind::kPositive},
    {"replica", "join", "replica-join", Kind::kUrls},
    {"replica", "join_timeout_s", "replica-join-timeout-s", Kind::kPositive},
    {"replica", "join_user", "replica-join-user", Kind::kString},
    {"replica", "join_password", "replica-join-password", Kind::kString},
    {"client_transport_security", "cert_file", "cert-file", Kind::kString},
    {"client_transport_security", "key_file", "key-file", Kind::kString},
    {"client_transport_security", "trusted_ca_file", "trusted-ca-file", Kind::kString},
    {"client_transport_security", "client_cert_auth", "client-cert-auth", Kind::kBool},
    {"client_transport_security", "auto_tls", "auto-tls", Kind::kBool},
    {"client_transport_security", "crl_file", "client-crl-file", Kind::kString},
    {"client_transport_security", "allowed_hostname", "client-cert-allowed-hostname",
     Kind::kString},
};

constexpr std::string_view kTables[] = {"client",
                                        "peer",
                                        "client_transport_security",
                                        "peer_transport_security",
                                        "cluster",
                                        "raft",
                                        "limits",
                                        "compaction",
                                        "log",
                                        "metrics",
                                        "replica"};

const char* type_name(toml::node_type t) {
  switch (t) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a floating-point number";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    default: return "nothing";
  }
}

struct Problem {
  uint32_t line, column;
  std::string text;
};

class Loader {
 public:
  Loader(std::string path, Config& config, std::set<std::string>* set_flags)
      : path_(std::move(path)), config_(config), set_flags_(set_flags) {}

  void run(const toml::table& root) {
    for (const auto& [k, node] : root) {
      const std::string_view key = k.str();
      if (std::find(std::begin(kTables), std::end(kTables), key) != std::end(kTables)) {
        if (!node.is_table()) {
          report(node, std::string(key) + ": expected a table, got " + type_name(node.type()));
          continue;
        }
        for (const auto& [k2, child] : *node.as_table()) {
          const Key* spec = find(key, k2.str());
          if (!spec) {
            report_unknown(k2, key, k2.str());
          } else {
            apply(*spec, child);
          }
        }
        continue;
      }
      const Key* spec = find("", key);
      if (!spec) {
        report_unknown(k, "", key);
      } else {
        apply(*spec, node);
      }
    }
  }

  std::string errors() {
    std::sort(problems_.begin(), problems_.end(), [](const Problem& a, const Problem& b) {
      return std::tie(a.line, a.column) < std::tie(b.line, b.column);
    });
    std::string out;
    for (const auto& p : problems_) {
      if (!out.empty()) out += "\n";
      out += p.text;
    }
    return out;
  }

 private:
  static const Key* find(std::string_view table, std::string_view key) {
    for (const auto& k : kKeys) {
      if (k.table == table && k.key == key) return &k;
    }
    return nullptr;
  }

  void report(const toml::node& at, const std::string& text) { report(at.source().begin, text); }

  void report(const toml::source_position& pos, const std::string& text) {
    problems_.push_back(
        {pos.line, pos.column,
         path_ + ":" + std::to_string(pos.line) + ":" + std::to_string(pos.column) + ": " + text});
  }

  // Reported at the key, which is where the typo is.
  void report_unknown(const toml::key& at, std::string_view table, std::string_view key) {
    std::string full =
        table.empty() ? std::string(key) : std::string(table) + "." + std::string(key);
    std::string valid;
    for (const auto& k : kKeys) {
      if (k.table == table) valid += (valid.empty() ? "" : ", ") + std::string(k.key);
    }
    if (table.empty()) {
      for (auto t : kTables) valid += ", [" + std::string(t) + "]";
      report(at.source().begin,
             "unknown key " + quote(full) + " (valid top-level keys: " + valid + ")");
    } else {
      report(at.source().begin, "unknown key " + quote(full) + " (valid keys in [" +
                                    std::string(table) + "]: " + valid + ")");
    }
  }

  // Gives the flag's setter a value; reports a setter failure at `at`.
  void set(const Key& spec, const std::string& dotted, const toml::node& at,
           const std::string& value, bool quote_value = true) {
    std::string why;
    const FlagSpec* flag = find_flag(spec.flag);
    if (!apply_flag(config_, *flag, value, &why)) {
      report(at, dotted + ": " + (quote_value ? "invalid value " + quote(value) + ": " : "") + why);
      return;
    }
    set_flags_->insert(std::string(spec.flag));
  }

  void wrong_type(const std::string& dotted, const toml::node& at, const char* expected) {
    report(at, dotted + ": expected " + std::string(expected) + ", got " + type_name(at.type()));
  }

  // Validates each URL of an array on its own, so the error names its index.
  bool join_urls(const std::string& dotted, const toml::array& arr, std::string* out) {
    if (arr.empty()) {
      report(arr, dotted + ": no URLs given");
      return false;
    }
    bool ok = true;
    for (size_t i = 0; i < arr.size(); ++i) {
      const toml::node& el = arr[i];
      const std::string at = dotted + "[" + std::to_string(i) + "]";
      if (!el.is_string()) {
        wrong_type(at, el, "a URL string");
        ok = false;
        continue;
      }
      std::string why;
      const std::string& s = el.as_string()->get();
      if (!parse_url(s, &why)) {
        report(el, at + ": " + why);
        ok = false;
        continue;
      }
      *out += (out->empty() ? "" : ",") + s;
    }
    return ok;
  }

  void apply(const Key& spec, const toml::node& node) {
    const std::string dotted = spec.table.empty()
                                   ? std::string(spec.key)
                                   : std::string(spec.table) + "." + std::string(spec.key);
    switch (spec.kind) {
      case Kind::kString:
        if (!node.is_string()) return wrong_type(dotted, node, "a string");
        return set(spec, dotted, node, node.as_string()->get());
      case Kind::kBool:
        if (!node.is_boolean()) return wrong_type(dotted, node, "a boolean");
        return set(spec, dotted, node, node.as_boolean()->get() ? "true" : "false");
      case Kind::kCount:
      case Kind::kPositive:
      case Kind::kInteger: {
        if (!node.is_integer()) return wrong_type(dotted, node, "an integer");
        const int64_t v = node.as_integer()->get();
        if (spec.kind != Kind::kInteger && v < 0) {
          return report(node, dotted + ": must not be negative (got " + std::to_string(v) + ")");
        }
        if (spec.kind == Kind::kPositive && v == 0) {
          return report(node, dotted + ": must be greater than 0");
        }
        return set(spec, dotted, node, std::to_string(v));
      }
      case Kind::kSize:
      case Kind::kStringOrInt:
        if (node.is_integer()) {
          const int64_t v = node.as_integer()->get();
          if (v < 0)
            return report(node, dotted + ": must not be negative (got " + std::to_string(v) + ")");
          return set(spec, dotted, node, std::to_string(v));
        }
        if (!node.is_string()) {
          return wrong_type(dotted, node,
                            spec.kind == Kind::kSize ? "an integer or a string such as \"64MiB\""
                                                     : "a string or an integer");
        }
        return set(spec, dotted, node, node.as_string()->get());
      case Kind::kUrls:
        if (node.is_string()) return set(spec, dotted, node, node.as_string()->get(), false);
        if (node.is_array()) {
          std::string joined;
          if (join_urls(dotted, *node.as_array(), &joined)) set(spec, dotted, node, joined, false);
          return;
        }
        return wrong_type(dotted, node, "an array of URL strings");
      case Kind::kStrings:
        if (node.is_string()) return set(spec, dotted, node, node.as_string()->get());
        if (node.is_array()) {
          std::string joined;
          const toml::array& arr = *node.as_array();
          for (size_t i = 0; i < arr.size(); ++i) {
            if (!arr[i].is_string()) {
              return wrong_type(dotted + "[" + std::to_string(i) + "]", arr[i], "a string");
            }
            joined += (i ? "," : "") + arr[i].as_string()->get();
          }
          if (arr.empty()) return report(node, dotted + ": must not be empty");
          return set(spec, dotted, node, joined);
        }
        return wrong_type(dotted, node, "an array of strings");
      case Kind::kCluster:
        if (node.is_string()) return set(spec, dotted, node, node.as_string()->get(), false);
        if (node.is_table()) return apply_cluster_table(spec, dotted, *node.as_table());
        return wrong_type(dotted, node, "a string \"name=url,...\" or a table of name = url");
    }
  }

  // [cluster.initial] name = "url" | ["url", ...]; members keep file order.
  void apply_cluster_table(const Key& spec, const std::string& dotted, const toml::table& table) {
    std::vector<std::pair<const toml::node*, std::string>> members;
    for (const auto& [name, node] : table) members.emplace_back(&node, std::string(name.str()));
    std::sort(members.begin(), members.end(), [](const auto& a, const auto& b) {
      const auto& pa = a.first->source().begin;
      const auto& pb = b.first->source().begin;
      return std::tie(pa.line, pa.column) < std::tie(pb.line, pb.column);
    });
    if (members.empty()) return report(table, dotted + ": no members given");
    std::string joined;
    bool ok = true;
    for (const auto& [node, name] : members) {
      const std::string at = dotted + "." + name;
      if (name.empty() || name.find_first_of(",=") != std::string::npos) {
        report(*node, at + ": a member name must be non-empty and must not contain ',' or '='");
        ok = false;
        continue;
      }
      std::string urls;
      if (node->is_string()) {
        std::string why;
        if (!parse_url(node->as_string()->get(), &why)) {
          report(*node, at + ": " + why);
          ok = false;
          continue;
        }
        urls = node->as_string()->get();
        joined += (joined.empty() ? "" : ",") + name + "=" + urls;
      } else if (node->is_array()) {
        if (!join_urls(at, *node->as_array(), &urls)) {
          ok = false;
          continue;
        }
        for (const auto& el : *node->as_array()) {
          joined += (joined.empty() ? "" : ",") + name + "=" + el.as_string()->get();
        }
      } else {
        wrong_type(at, *node, "a URL string or an array of URL strings");
        ok = false;
      }
    }
    if (ok) set(spec, dotted, table, joined, false);
  }

  std::string path_;
  Config& config_;
  std::set<std::string>* set_flags_;
  std::vector<Problem> problems_;
};

}  // namespace

std::string load_toml(const std::string& path, Config& config, std::set<std::string>* set_flags) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return "cannot read config file " + quote(path) + ": it is a directory";
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return "cannot read config file " + quote(path) + ": " + std::strerror(errno);
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return "cannot read config file " + quote(path) + ": read error";
  return load_toml_text(text.str(), path, config, set_flags);
}

std::string load_toml_text(const std::string& text, const std::string& path, Config& config,
                           std::set<std::string>* set_flags) {
  toml::table root;
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    const auto& pos = e.source().begin;
    return path + ":" + std::to_string(pos.line) + ":" + std::to_string(pos.column) +
           ": TOML syntax error: " + std::string(e.description());
  }
  Loader loader(path, config, set_flags);
  loader.run(root);
  return loader.errors();
}

}  // namespace outpost::config::detail
