// Table-driven flag parsing: each flag names the commands that accept it ("*" = global), its kind
// and where the value goes.
#include "flags.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <set>

namespace outpost::bench {
namespace {

const std::set<std::string> kCommands = {"put", "range", "txn-put", "watch-latency",
                                         "lease-keepalive"};

enum class Kind { kBool, kInt, kInt64, kUint, kDouble, kDuration, kString, kList };

struct Flag {
  const char* name;
  const char* commands;  // space separated, "*" = global
  Kind kind;
  const char* help;
  std::function<void*(Options&)> target;
};

const std::vector<Flag>& flags() {
  static const std::vector<Flag> table = {
      {"endpoints", "*", Kind::kList,
       "comma separated host:port list (http:// or https:// prefix allowed), spread round-robin "
       "over --conns (default 127.0.0.1:2379)",
       [](Options& o) -> void* { return &o.endpoints; }},
      {"conns", "*", Kind::kInt, "number of gRPC connections (default 1)",
       [](Options& o) -> void* { return &o.conns; }},
      {"clients", "*", Kind::kInt,
       "number of concurrent clients, multiplexed over --conns (default 1)",
       [](Options& o) -> void* { return &o.clients; }},
      {"precise", "*", Kind::kBool, "print latencies with full precision",
       [](Options& o) -> void* { return &o.precise; }},
      {"json", "*", Kind::kBool, "print one JSON object instead of the report",
       [](Options& o) -> void* { return &o.json; }},
      {"timeout", "*", Kind::kDuration, "stop the whole run after this long (default 120s)",
       [](Options& o) -> void* { return &o.timeout_s; }},
      {"dial-timeout", "*", Kind::kDuration,
       "time for every connection to become ready (default 5s)",
       [](Options& o) -> void* { return &o.dial_timeout_s; }},
      {"user", "*", Kind::kString,
       "name[:password]: authenticate (etcd auth) once and send the token with every call",
       [](Options& o) -> void* { return &o.user; }},
      {"password", "*", Kind::kString, "password for --user (when not given there)",
       [](Options& o) -> void* { return &o.password; }},
      {"cacert", "*", Kind::kString, "verify the server's TLS certificate with this CA bundle",
       [](Options& o) -> void* { return &o.cacert; }},
      {"cert", "*", Kind::kString, "TLS client certificate (with --key)",
       [](Options& o) -> void* { return &o.cert; }},
      {"key", "*", Kind::kString, "TLS client key (with --cert)",
       [](Options& o) -> void* { return &o.key; }},
      {"total", "put range txn-put lease-keepalive", Kind::kUint,
       "total number of requests (default 10000)", [](Options& o) -> void* { return &o.total; }},
      {"rate", "put range txn-put", Kind::kDouble,
       "maximum requests per second, 0 = no limit (default 0)",
       [](Options& o) -> void* { return &o.rate; }},
      {"key-size", "put txn-put watch-latency", Kind::kInt,
       "key size in bytes (default 8; watch-latency 32)",
       [](Options& o) -> void* { return &o.key_size; }},
      {"val-size", "put txn-put watch-latency", Kind::kInt,
       "value size in bytes (default 8; watch-latency 32)",
       [](Options& o) -> void* { return &o.val_size; }},
      {"key-space-size", "put txn-put", Kind::kInt64, "maximum number of distinct keys (default 1)",
       [](Options& o) -> void* { return &o.key_space_size; }},
      {"sequential-keys", "put", Kind::kBool, "use sequential keys instead of random ones",
       [](Options& o) -> void* { return &o.sequential_keys; }},
      {"txn-ops", "txn-put", Kind::kInt, "number of puts per txn (default 1)",
       [](Options& o) -> void* { return &o.txn_ops; }},
      {"consistency", "range", Kind::kString, "l (linearizable) or s (serializable) (default l)",
       [](Options& o) -> void* { return &o.consistency; }},
      {"put-total", "watch-latency", Kind::kUint,
       "number of puts to the watched key (default 1000)",
       [](Options& o) -> void* { return &o.put_total; }},
      {"put-rate", "watch-latency", Kind::kDouble, "puts per second (default 100)",
       [](Options& o) -> void* { return &o.put_rate; }},
      {"watchers", "watch-latency", Kind::kInt, "number of watchers on the key (default 100)",
       [](Options& o) -> void* { return &o.watchers; }},
      {"streams", "watch-latency", Kind::kInt,
       "number of watch streams the watchers share (default 10)",
       [](Options& o) -> void* { return &o.streams; }},
  };
  return table;
}

bool accepts(const Flag& f, const std::string& command) {
  std::string list = std::string(" ") + f.commands + " ";
  return list == " * " || list.find(" " + command + " ") != std::string::npos;
}

// "1.5", "250ms", "2s", "3m", "1h" -> seconds.
bool parse_duration(const std::string& s, double* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  if (errno != 0 || end == s.c_str() || !std::isfinite(v) || v < 0) return false;
  std::string unit(end);
  double scale = 0;
  if (unit.empty() || unit == "s")
    scale = 1;
  else if (unit == "ms")
    scale = 1e-3;
  else if (unit == "us")
    scale = 1e-6;
  else if (unit == "m")
    scale = 60;
  else if (unit == "h")
    scale = 3600;
  else
    return false;
  *out = v * scale;
  return true;
}

std::string set_value(const Flag& f, Options& o, const std::string& value) {
  void* p = f.target(o);
  std::string bad = "invalid value \"" + value + "\" for --" + f.name;
  char* end = nullptr;
  errno = 0;
  switch (f.kind) {
    case Kind::kBool:
      if (value == "true" || value == "1")
        *static_cast<bool*>(p) = true;
      else if (value == "false" || value == "0")
        *static_cast<bool*>(p) = false;
      else
        return bad + " (want true or false)";
      return "";
    case Kind::kInt: {
      long long v = std::strtoll(value.c_str(), &end, 10);
      if (errno != 0 || value.empty() || *end != '\0') return bad + " (want an integer)";
      if (v < -2147483647LL || v > 2147483647LL) return bad + " (out of range)";
      *static_cast<int*>(p) = static_cast<int>(v);
      return "";
    }
    case Kind::kInt64: {
      long long v = std::strtoll(value.c_str(), &end, 10);
      if (errno != 0 || value.empty() || *end != '\0') return bad + " (want an integer)";
      *static_cast<int64_t*>(p) = v;
      return "";
    }
    case Kind::kUint: {
      if (!value.empty() && value[0] == '-') return bad + " (want a non-negative integer)";
      unsigned long long v = std::strtoull(value.c_str(), &end, 10);
      if (errno != 0 || value.empty() || *end != '\0')
        return bad + " (want a non-negative integer)";
      *static_cast<uint64_t*>(p) = v;
      return "";
    }
    case Kind::kDouble: {
      double v = std::strtod(value.c_str(), &end);
      if (errno != 0 || value.empty() || *end != '\0' || !std::isfinite(v) || v < 0)
        return bad + " (want a non-negative number)";
      *static_cast<double*>(p) = v;
      return "";
    }
    case Kind::kDuration:
      if (!parse_duration(value, static_cast<double*>(p)))
        return bad + " (want a duration such as 30s, 500ms, 2m)";
      return "";
    case Kind::kString: *static_cast<std::string*>(p) = value; return "";
    case Kind::kList: {
      auto* list = static_cast<std::vector<std::string>*>(p);
      list->clear();
      size_t start = 0;
      while (start <= value.size()) {
        size_t comma = value.find(',', start);
        if (comma == std::string::npos) comma = value.size();
        std::string item = value.substr(start, comma - start);
        while (!item.empty() && item.front() == ' ') item.erase(item.begin());
        while (!item.empty() && item.back() == ' ') item.pop_back();
        if (!item.empty()) list->push_back(item);
        start = comma + 1;
      }
      if (list->empty()) return bad + " (want a comma separated list)";
      return "";
    }
  }
  return "";
}

std::string validate(Options& o) {
  if (o.conns < 1) return "--conns must be at least 1";
  if (o.clients < 1) return "--clients must be at least 1";
  if (o.timeout_s <= 0) return "--timeout must be positive";
  if (o.dial_timeout_s <= 0) return "--dial-timeout must be positive";
  if (o.cert.empty() != o.key.empty()) return "--cert and --key go together";
  int default_size = o.command == "watch-latency" ? 32 : 8;
  if (o.key_size < 0) o.key_size = default_size;
  if (o.val_size < 0) o.val_size = default_size;
  if (o.key_size < 1) return "--key-size must be at least 1";
  if (o.key_space_size < 1)
    return "expected positive --key-space-size, got (" + std::to_string(o.key_space_size) + ")";
  if (o.command == "range") {
    if (o.args.empty()) return "range command needs arguments: range KEY [END]";
    if (o.args.size() > 2) return "range takes KEY and an optional END, got more arguments";
    if (o.consistency != "l" && o.consistency != "s")
      return "unknown consistency flag \"" + o.consistency + "\" (want l or s)";
  } else if (!o.args.empty()) {
    return o.command + " takes no positional arguments, got \"" + o.args[0] + "\"";
  }
  if (o.command == "txn-put") {
    if (o.txn_ops < 1)
      return "expected positive --txn-ops, got (" + std::to_string(o.txn_ops) + ")";
    if (o.txn_ops > o.key_space_size)
      return "expected --txn-ops no larger than --key-space-size, got txn-ops(" +
             std::to_string(o.txn_ops) + ") key-space-size(" + std::to_string(o.key_space_size) +
             ") (a txn may not put the same key twice)";
  }
  if (o.command == "watch-latency") {
    if (o.watchers < 1) return "--watchers must be at least 1";
    if (o.streams < 1) return "--streams must be at least 1";
    if (o.streams > o.watchers) o.streams = o.watchers;
    if (o.put_rate <= 0) return "--put-rate must be positive";
  }
  for (const auto& e : o.endpoints) {
    if (e.rfind("unix", 0) == 0)
      return "endpoint " + e + ": only http(s) host:port endpoints are supported";
  }
  return "";
}

}  // namespace

ParseResult parse_options(const std::vector<std::string>& argv) {
  ParseResult r;
  Options& o = r.options;
  std::vector<std::pair<const Flag*, std::string>> given;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a == "-h" || a == "--help" || a == "help") {
      r.help = true;
      return r;
    }
    if (a.size() < 2 || a[0] != '-') {
      if (o.command.empty())
        o.command = a;
      else
        o.args.push_back(a);
      continue;
    }
    std::string body = a.substr(a[1] == '-' ? 2 : 1);
    std::string name = body, value;
    bool has_value = false;
    if (auto eq = body.find('='); eq != std::string::npos) {
      name = body.substr(0, eq);
      value = body.substr(eq + 1);
      has_value = true;
    }
    const Flag* flag = nullptr;
    for (const auto& f : flags())
      if (name == f.name) flag = &f;
    if (!flag) {
      r.error = "unknown flag: --" + name;
      return r;
    }
    if (!has_value && flag->kind != Kind::kBool) {
      if (i + 1 >= argv.size()) {
        r.error = "flag needs an argument: --" + name;
        return r;
      }
      value = argv[++i];
      has_value = true;
    }
    if (!has_value) value = "true";
    given.emplace_back(flag, value);
  }
  if (o.command.empty()) {
    r.error = "no command given";
    return r;
  }
  if (!kCommands.count(o.command)) {
    r.error = "unknown command \"" + o.command + "\"";
    return r;
  }
  for (const auto& [flag, value] : given) {
    if (!accepts(*flag, o.command)) {
      r.error = "unknown flag: --" + std::string(flag->name) + " (not a flag of " + o.command + ")";
      return r;
    }
    r.error = set_value(*flag, o, value);
    if (!r.error.empty()) return r;
  }
  r.error = validate(o);
  return r;
}

std::string usage() {
  std::string s =
      "outpost-bench: load generator for the etcd v3 gRPC API (Outpost or etcd)\n\n"
      "Usage:\n"
      "  outpost-bench [global flags] COMMAND [flags]\n\n"
      "Commands:\n"
      "  put               benchmark Put\n"
      "  range KEY [END]   benchmark Range\n"
      "  txn-put           benchmark Txn with --txn-ops puts per txn\n"
      "  watch-latency     latency from a Put to the event at each of --watchers watchers\n"
      "  lease-keepalive   LeaseGrant once per client, then LeaseKeepAlive round trips\n\n"
      "Flags:\n";
  for (const auto& f : flags()) {
    std::string line = "  --" + std::string(f.name);
    line.resize(22, ' ');
    line += f.help;
    if (std::string(f.commands) != "*") line += " [" + std::string(f.commands) + "]";
    s += line + "\n";
  }
  s += "\nExit status: 0 every request succeeded; 1 errors, a timeout or no connection;\n"
       "2 bad command line; 3 the server does not support the API (UNIMPLEMENTED).\n";
  return s;
}

}  // namespace outpost::bench
