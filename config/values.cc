// Text -> typed value conversions; see values.h.
#include "config/values.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>

namespace outpost::config::detail {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split_commas(std::string_view s) {
  std::vector<std::string_view> parts;
  while (true) {
    const auto comma = s.find(',');
    parts.push_back(s.substr(0, comma));
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return parts;
}

bool set_why(std::string* why, std::string text) {
  if (why) *why = std::move(text);
  return false;
}

bool is_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c));
  });
}

}  // namespace

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

bool parse_bool(std::string_view s, bool* out, std::string* why) {
  // Go's strconv.ParseBool, which etcd's boolean flags use.
  static constexpr std::string_view kTrue[] = {"1", "t", "T", "true", "TRUE", "True"};
  static constexpr std::string_view kFalse[] = {"0", "f", "F", "false", "FALSE", "False"};
  for (auto t : kTrue) {
    if (s == t) return *out = true, true;
  }
  for (auto f : kFalse) {
    if (s == f) return *out = false, true;
  }
  return set_why(why, "expected true or false");
}

bool parse_uint64(std::string_view s, uint64_t* out, std::string* why) {
  uint64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (!is_digits(s) || ec != std::errc() || p != s.data() + s.size()) {
    return set_why(why, "expected a non-negative integer");
  }
  *out = v;
  return true;
}

bool parse_uint32(std::string_view s, uint32_t* out, std::string* why) {
  uint64_t v = 0;
  if (!parse_uint64(s, &v, why)) return false;
  if (v > std::numeric_limits<uint32_t>::max()) return set_why(why, "value is too large");
  *out = static_cast<uint32_t>(v);
  return true;
}

bool parse_positive(std::string_view s, uint64_t* out, std::string* why) {
  uint64_t v = 0;
  if (!parse_uint64(s, &v, why)) return false;
  if (v == 0) return set_why(why, "must be greater than 0");
  *out = v;
  return true;
}

bool parse_int64(std::string_view s, int64_t* out, std::string* why) {
  int64_t v = 0;
  const std::string_view digits = (!s.empty() && s[0] == '-') ? s.substr(1) : s;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (!is_digits(digits) || ec != std::errc() || p != s.data() + s.size()) {
    return set_why(why, "expected an integer");
  }
  *out = v;
  return true;
}

bool parse_byte_size(std::string_view input, uint64_t* out, std::string* why) {
  const std::string_view s = trim(input);
  size_t n = 0;
  while (n < s.size() && std::isdigit(static_cast<unsigned char>(s[n]))) ++n;
  std::string_view unit = trim(s.substr(n));
  uint64_t value = 0;
  const std::string bad = "expected a byte count such as 67108864, \"64MiB\" or \"100MB\"";
  if (n == 0 || !parse_uint64(s.substr(0, n), &value, nullptr)) return set_why(why, bad);
  if (!unit.empty() && (unit.back() == 'B' || unit.back() == 'b')) unit.remove_suffix(1);
  uint64_t mult = 1;
  if (!unit.empty()) {
    const bool binary = unit.size() == 2 && (unit[1] == 'i' || unit[1] == 'I');
    if (unit.size() != 1 && !binary) return set_why(why, bad);
    const uint64_t base = binary ? 1024 : 1000;
    int power = 0;
    switch (std::toupper(static_cast<unsigned char>(unit[0]))) {
      case 'K': power = 1; break;
      case 'M': power = 2; break;
      case 'G': power = 3; break;
      case 'T': power = 4; break;
      default: return set_why(why, bad);
    }
    for (int i = 0; i < power; ++i) mult *= base;
  }
  if (value > std::numeric_limits<uint64_t>::max() / mult)
    return set_why(why, "value is too large");
  *out = value * mult;
  return true;
}

void add_unique(std::vector<Url>* urls, Url u) {
  if (std::find(urls->begin(), urls->end(), u) == urls->end()) urls->push_back(std::move(u));
}

bool parse_url_list(std::string_view s, std::vector<Url>* out, std::string* why) {
  if (trim(s).empty()) return set_why(why, "no URLs given");
  std::vector<Url> urls;
  for (std::string_view part : split_commas(s)) {
    auto u = parse_url(part, why);
    if (!u) return false;
    add_unique(&urls, std::move(*u));
  }
  *out = std::move(urls);
  return true;
}

void add_member_url(Cluster* cluster, const std::string& name, Url u) {
  for (auto& [member, urls] : *cluster) {
    if (member == name) {
      urls.push_back(std::move(u));  // a duplicate URL is reported by validation
      return;
    }
  }
  cluster->emplace_back(name, std::vector<Url>{std::move(u)});
}

bool parse_initial_cluster(std::string_view s, Cluster* out, std::string* why) {
  Cluster cluster;
  for (std::string_view entry : split_commas(s)) {
    entry = trim(entry);
    if (entry.empty()) continue;  // etcd skips empty entries ("a=u,,b=v")
    const auto eq = entry.find('=');
    if (eq == std::string_view::npos) {
      return set_why(why, "entry " + quote(entry) + " is not of the form name=peer-url");
    }
    const std::string name(trim(entry.substr(0, eq)));
    if (name.empty()) {
      return set_why(why, "entry " + quote(entry) + " has an empty member name");
    }
    std::string url_why;
    auto u = parse_url(entry.substr(eq + 1), &url_why);
    if (!u) return set_why(why, "member " + quote(name) + ": " + url_why);
    add_member_url(&cluster, name, std::move(*u));
  }
  if (cluster.empty()) return set_why(why, "no members given (expected name=peer-url,...)");
  *out = std::move(cluster);
  return true;
}

std::string cluster_string(const Cluster& cluster) {
  std::vector<std::string> pairs;
  for (const auto& [name, urls] : cluster) {
    for (const auto& u : urls) pairs.push_back(name + "=" + u.str());
  }
  std::sort(pairs.begin(), pairs.end());
  std::string out;
  for (const auto& p : pairs) out += (out.empty() ? "" : ",") + p;
  return out;
}

bool parse_cluster_state(std::string_view s, ClusterState* out, std::string* why) {
  if (s == "new") return *out = ClusterState::kNew, true;
  if (s == "existing") return *out = ClusterState::kExisting, true;
  return set_why(why, "expected \"new\" or \"existing\"");
}

bool parse_role(std::string_view s, Role* out, std::string* why) {
  if (s == "voter") return *out = Role::kVoter, true;
  if (s == "learner") return *out = Role::kLearner, true;
  return set_why(why, "expected \"voter\" or \"learner\"");
}

namespace {

// Looks s up among the enum's names; the reason lists them all.
template <typename E, size_t N>
bool parse_enum(std::string_view s, const std::pair<std::string_view, E> (&names)[N], E* out,
                std::string* why) {
  std::string all;
  for (const auto& [text, value] : names) {
    if (s == text) return *out = value, true;
    all += (all.empty() ? "" : ", ") + std::string(text);
  }
  return set_why(why, "expected one of " + all);
}

}  // namespace

bool parse_read_policy(std::string_view s, ReadPolicy* out, std::string* why) {
  static constexpr std::pair<std::string_view, ReadPolicy> kNames[] = {
      {"refuse", ReadPolicy::kRefuse},
      {"serializable", ReadPolicy::kSerializable},
      {"linearizable", ReadPolicy::kLinearizable},
      {"bounded", ReadPolicy::kBounded}};
  return parse_enum(s, kNames, out, why);
}

bool parse_write_policy(std::string_view s, WritePolicy* out, std::string* why) {
  static constexpr std::pair<std::string_view, WritePolicy> kNames[] = {
      {"refuse", WritePolicy::kRefuse}, {"forward", WritePolicy::kForward}};
  return parse_enum(s, kNames, out, why);
}

bool parse_promote_mode(std::string_view s, PromoteMode* out, std::string* why) {
  static constexpr std::pair<std::string_view, PromoteMode> kNames[] = {
      {"manual", PromoteMode::kManual},
      {"never", PromoteMode::kNever},
      {"when-caught-up", PromoteMode::kWhenCaughtUp},
      {"standby", PromoteMode::kStandby}};
  return parse_enum(s, kNames, out, why);
}

bool parse_logger(std::string_view s, Logger* out, std::string* why) {
  if (s == "zap") return *out = Logger::kZap, true;
  if (s == "capnslog") return *out = Logger::kCapnslog, true;
  return set_why(why, "unknown logger option " + quote(s) + " (expected \"zap\" or \"capnslog\")");
}

bool parse_log_level(std::string_view s, LogLevel* out, std::string* why) {
  static constexpr std::pair<std::string_view, LogLevel> kLevels[] = {
      {"debug", LogLevel::kDebug}, {"info", LogLevel::kInfo},   {"warn", LogLevel::kWarn},
      {"error", LogLevel::kError}, {"panic", LogLevel::kPanic}, {"fatal", LogLevel::kFatal}};
  for (const auto& [text, level] : kLevels) {
    if (s == text) return *out = level, true;
  }
  return set_why(why, "expected one of debug, info, warn, error, panic, fatal");
}

bool parse_compaction_mode(std::string_view s, CompactionMode* out, std::string* why) {
  if (s == "periodic") return *out = CompactionMode::kPeriodic, true;
  if (s == "revision") return *out = CompactionMode::kRevision, true;
  return set_why(
      why, "unknown auto-compaction-mode " + quote(s) + " (expected \"periodic\" or \"revision\")");
}

bool parse_log_outputs(std::string_view s, std::vector<std::string>* out, std::string* why) {
  std::vector<std::string> outputs;
  for (std::string_view part : split_commas(s)) {
    part = trim(part);
    if (part.empty())
      return set_why(why, "empty log output (expected stderr, stdout, default or a file path)");
    if (std::find(outputs.begin(), outputs.end(), part) == outputs.end())
      outputs.emplace_back(part);
  }
  *out = std::move(outputs);
  return true;
}

namespace {

// Go's names (crypto/tls, plus etcd's CHACHA20 aliases) of the TLS 1.2 suites
// OpenSSL 3 offers, with OpenSSL's names. Go's RC4 and 3DES suites and its
// TLS 1.3 names are left out: OpenSSL's default security level refuses the
// former, and TLS 1.3 suites are not configurable in Go either.
struct CipherName {
  std::string_view go, openssl;
};
constexpr CipherName kCiphers[] = {
    {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"},
    {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"},
    {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384"},
    {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"},
    {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", "ECDHE-ECDSA-CHACHA20-POLY1305"},
    {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305"},
    {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", "ECDHE-RSA-CHACHA20-POLY1305"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA"},
    {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA"},
    {"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "ECDHE-ECDSA-AES128-SHA256"},
    {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE-RSA-AES128-SHA256"},
    {"TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256"},
    {"TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384"},
    {"TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA"},
    {"TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA"},
    {"TLS_RSA_WITH_AES_128_CBC_SHA256", "AES128-SHA256"},
};

}  // namespace

bool parse_cipher_suites(std::string_view s, std::vector<std::string>* out, std::string* why) {
  std::vector<std::string> names;
  for (std::string_view part : split_commas(s)) {
    part = trim(part);
    if (part.empty()) continue;
    if (openssl_cipher_name(part).empty())
      return set_why(why, "unexpected TLS cipher suite " + quote(part));
    if (std::find(names.begin(), names.end(), part) == names.end()) names.emplace_back(part);
  }
  *out = std::move(names);
  return true;
}

bool parse_tls_version(std::string_view s, TlsVersion* out, std::string* why) {
  if (s == "TLS1.2" || s.empty()) return *out = TlsVersion::kTls12, true;
  if (s == "TLS1.3") return *out = TlsVersion::kTls13, true;
  return set_why(why, "unexpected TLS version " + quote(s) + " (must be one of: TLS1.2, TLS1.3)");
}

}  // namespace outpost::config::detail

namespace outpost::config {

std::string openssl_cipher_name(std::string_view go_name) {
  for (const auto& c : detail::kCiphers) {
    if (c.go == go_name) return std::string(c.openssl);
  }
  return "";
}

}  // namespace outpost::config

namespace outpost::config::detail {

namespace {

// Go's time.ParseDuration grammar without a sign: ([0-9]*(\.[0-9]*)?unit)+ or "0".
bool is_go_duration(std::string_view s) {
  int64_t ns = 0;
  return parse_go_duration(s, &ns, nullptr);
}

}  // namespace

bool parse_go_duration(std::string_view s, int64_t* ns, std::string* why) {
  const std::string_view orig = s;
  auto bad = [&] { return set_why(why, "time: invalid duration " + quote(orig)); };
  if (s == "0") return *ns = 0, true;
  if (s.empty()) return bad();
  struct Unit {
    std::string_view name;
    double ns;
  };
  static constexpr Unit kUnits[] = {{"ns", 1},   {"us", 1e3}, {"µs", 1e3}, {"μs", 1e3},
                                    {"ms", 1e6}, {"s", 1e9},  {"m", 60e9}, {"h", 3600e9}};
  double total = 0;
  while (!s.empty()) {
    size_t n = 0, digits = 0;
    while (n < s.size() && std::isdigit(static_cast<unsigned char>(s[n]))) ++n, ++digits;
    if (n < s.size() && s[n] == '.') {
      ++n;
      while (n < s.size() && std::isdigit(static_cast<unsigned char>(s[n]))) ++n, ++digits;
    }
    if (digits == 0) return bad();
    const double value = std::stod(std::string(s.substr(0, n)));
    s.remove_prefix(n);
    const Unit* best = nullptr;
    for (const auto& u : kUnits)
      if (s.substr(0, u.name.size()) == u.name && (!best || u.name.size() > best->name.size()))
        best = &u;
    if (!best) return set_why(why, "time: missing unit in duration " + quote(orig));
    s.remove_prefix(best->name.size());
    total += value * best->ns;
  }
  if (total > 9.2e18) return bad();
  *ns = int64_t(total);
  return true;
}

bool check_compaction_retention(CompactionMode mode, std::string_view s, std::string* why) {
  uint64_t n = 0;
  if (mode == CompactionMode::kRevision) {
    if (parse_uint64(s, &n, nullptr)) return true;
    return set_why(why, "invalid auto-compaction-retention " + quote(s) +
                            " for revision mode (expected a number of revisions)");
  }
  if (parse_uint64(s, &n, nullptr) || is_go_duration(s)) return true;
  return set_why(
      why, "invalid auto-compaction-retention " + quote(s) +
               " for periodic mode (expected hours such as \"1\" or a duration such as \"30m\")");
}

}  // namespace outpost::config::detail
