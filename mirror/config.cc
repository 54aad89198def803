#include "mirror/config.h"

#include <toml++/toml.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace outpost::mirror {
namespace {

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '\0') {
      out += "\\x00";
    } else if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

bool parse_int(const std::string& s, int64_t* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool parse_bool(const std::string& s, bool* out) {
  if (s == "true" || s == "1") {
    *out = true;
  } else if (s == "false" || s == "0") {
    *out = false;
  } else {
    return false;
  }
  return true;
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, ',')) {
    if (!cur.empty()) out.push_back(cur);
  }
  return out;
}

// Sets one scalar key (shared by TOML and flags). Returns "" or what is wrong with the value.
std::string set_leases(const std::string& v, MirrorConfig* c) {
  if (v == "drop") {
    c->leases = LeaseMode::kDrop;
  } else if (v == "mirror") {
    c->leases = LeaseMode::kMirror;
  } else {
    return "must be \"drop\" or \"mirror\"";
  }
  return "";
}

const char* type_name(toml::node_type t) {
  switch (t) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    default: return "a date or time";
  }
}

class Loader {
 public:
  Loader(std::string path, MirrorConfig* c) : path_(std::move(path)), c_(c) {}

  void run(const toml::table& root) {
    for (const auto& [k, node] : root) {
      const std::string key(k.str());
      key_pos_ = k.source().begin;
      if (key == "source" || key == "destination") {
        const auto* t = node.as_table();
        if (!t) {
          report(node, key + ": expected a table, got " + type_name(node.type()));
          continue;
        }
        side(key, *t, key == "source" ? &c_->source : &c_->destination);
      } else if (key == "prefix") {
        str(key, node, &c_->prefix);
      } else if (key == "dest_prefix") {
        if (str(key, node, &c_->dest_prefix)) c_->dest_prefix_set = true;
      } else if (key == "no_dest_prefix") {
        boolean(key, node, &c_->no_dest_prefix);
      } else if (key == "rev") {
        integer(key, node, &c_->rev, 0);
      } else if (key == "max_txn_ops") {
        integer(key, node, &c_->max_txn_ops, 2);
      } else if (key == "name") {
        str(key, node, &c_->name);
      } else if (key == "checkpoint_key") {
        str(key, node, &c_->checkpoint_key);
        if (c_->checkpoint_key.empty()) report(node, key + ": must not be empty");
      } else if (key == "leases") {
        std::string v;
        if (str(key, node, &v)) {
          std::string why = set_leases(v, c_);
          if (!why.empty()) report(node, key + ": " + why);
        }
      } else if (key == "compact_dest") {
        boolean(key, node, &c_->compact_dest);
      } else if (key == "once") {
        boolean(key, node, &c_->once);
      } else if (key == "coalesce") {
        boolean(key, node, &c_->coalesce);
      } else if (key == "metrics_listen") {
        str(key, node, &c_->metrics_listen);
      } else if (key == "watch_idle_s") {
        integer(key, node, &c_->watch_idle_s, 1);
      } else if (key == "compact_dest_interval_s") {
        integer(key, node, &c_->compact_dest_interval_s, 1);
      } else if (key == "log_interval_s") {
        integer(key, node, &c_->log_interval_s, 1);
      } else {
        report(k.source().begin,
               "unknown key " + quote(key) +
                   " (valid top-level keys: prefix, dest_prefix, no_dest_prefix, rev, max_txn_ops, "
                   "name, checkpoint_key, leases, compact_dest, compact_dest_interval_s, once, "
                   "coalesce, "
                   "metrics_listen, "
                   "watch_idle_s, log_interval_s, [source], [destination])");
      }
    }
  }

  std::string errors() const { return errors_; }

 private:
  void side(const std::string& table, const toml::table& t, Endpoints* e) {
    for (const auto& [k, node] : t) {
      const std::string key = table + "." + std::string(k.str());
      key_pos_ = k.source().begin;
      const std::string_view name = k.str();
      if (name == "endpoints") {
        const auto* arr = node.as_array();
        if (!arr) {
          report(node, key + ": expected an array of strings, got " + type_name(node.type()));
          continue;
        }
        e->endpoints.clear();
        size_t i = 0;
        for (const auto& item : *arr) {
          const auto* s = item.as_string();
          if (!s || s->get().empty()) {
            report(item, key + "[" + std::to_string(i) + "]: expected a non-empty string");
          } else {
            e->endpoints.push_back(s->get());
          }
          ++i;
        }
        if (arr->empty()) report(node, key + ": must list at least one endpoint");
      } else if (name == "cacert") {
        str(key, node, &e->cacert);
      } else if (name == "cert") {
        str(key, node, &e->cert);
      } else if (name == "key") {
        str(key, node, &e->key);
      } else if (name == "user") {
        str(key, node, &e->user);
      } else if (name == "password") {
        str(key, node, &e->password);
      } else {
        report(k.source().begin, "unknown key " + quote(key) + " (valid keys in [" + table +
                                     "]: endpoints, cacert, cert, key, user, password)");
      }
    }
  }

  bool str(const std::string& key, const toml::node& node, std::string* out) {
    const auto* s = node.as_string();
    if (!s) {
      report(node, key + ": expected a string, got " + type_name(node.type()));
      return false;
    }
    *out = s->get();
    return true;
  }

  void boolean(const std::string& key, const toml::node& node, bool* out) {
    const auto* b = node.as_boolean();
    if (!b) {
      report(node, key + ": expected a boolean (true or false), got " + type_name(node.type()));
      return;
    }
    *out = b->get();
  }

  void integer(const std::string& key, const toml::node& node, int64_t* out, int64_t min) {
    const auto* i = node.as_integer();
    if (!i) {
      report(node, key + ": expected an integer, got " + type_name(node.type()));
      return;
    }
    if (i->get() < min) {
      report(node, key + ": must be at least " + std::to_string(min) + ", got " +
                       std::to_string(i->get()));
      return;
    }
    *out = i->get();
  }

  // Errors about a value are reported at its key, where the reader looks (etcd's words: the key).
  void report(const toml::node&, const std::string& text) { report(key_pos_, text); }
  void report(const toml::source_position& pos, const std::string& text) {
    if (!errors_.empty()) errors_ += "\n";
    errors_ +=
        path_ + ":" + std::to_string(pos.line) + ":" + std::to_string(pos.column) + ": " + text;
  }

  std::string path_;
  MirrorConfig* c_;
  std::string errors_;
  toml::source_position key_pos_{};
};

struct Flag {
  const char* name;
  bool boolean;
};

// Accepted flags. make-mirror's global flags that only tune etcdctl itself (timeouts, output) are
// accepted and ignored, so a make-mirror command line keeps working.
constexpr Flag kFlags[] = {
    {"config", false},
    {"endpoints", false},
    {"prefix", false},
    {"dest-prefix", false},
    {"no-dest-prefix", true},
    {"rev", false},
    {"max-txn-ops", false},
    {"name", false},
    {"checkpoint-key", false},
    {"leases", false},
    {"compact-dest", true},
    {"once", true},
    {"coalesce", true},
    {"metrics-listen", false},
    {"watch-idle-s", false},
    {"compact-dest-interval-s", false},
    {"log-interval-s", false},
    {"cacert", false},
    {"cert", false},
    {"key", false},
    {"user", false},
    {"password", false},
    {"dest-cacert", false},
    {"dest-cert", false},
    {"dest-key", false},
    {"dest-user", false},
    {"dest-password", false},
    {"insecure-transport", true},
    {"dest-insecure-transport", true},
    {"dial-timeout", false},
    {"command-timeout", false},
    {"help", true},
};

const Flag* find_flag(const std::string& name) {
  for (const auto& f : kFlags) {
    if (name == f.name) return &f;
  }
  return nullptr;
}

std::string apply_flag(const std::string& name, const std::string& v, MirrorConfig* c) {
  auto bad = [&](const std::string& why) {
    return "--" + name + ": invalid value " + quote(v) + ": " + why;
  };
  int64_t n = 0;
  bool b = false;
  if (name == "endpoints") {
    c->source.endpoints = split_commas(v);
    if (c->source.endpoints.empty()) return bad("expected a comma-separated list of endpoints");
  } else if (name == "prefix") {
    c->prefix = v;
  } else if (name == "dest-prefix") {
    c->dest_prefix = v;
    c->dest_prefix_set = true;
  } else if (name == "no-dest-prefix" || name == "compact-dest" || name == "once" ||
             name == "coalesce" || name == "insecure-transport" ||
             name == "dest-insecure-transport") {
    if (!parse_bool(v, &b)) return bad("expected true or false");
    if (name == "no-dest-prefix") c->no_dest_prefix = b;
    if (name == "compact-dest") c->compact_dest = b;
    if (name == "once") c->once = b;
    if (name == "coalesce") c->coalesce = b;
    if (name == "insecure-transport" && !b) c->source.tls = true;
    if (name == "dest-insecure-transport" && !b) c->destination.tls = true;
  } else if (name == "rev" || name == "max-txn-ops" || name == "watch-idle-s" ||
             name == "log-interval-s" || name == "compact-dest-interval-s") {
    const int64_t min = name == "rev" ? 0 : name == "max-txn-ops" ? 2 : 1;
    if (!parse_int(v, &n)) return bad("expected an integer");
    if (n < min) return bad("must be at least " + std::to_string(min));
    if (name == "rev") c->rev = n;
    if (name == "max-txn-ops") c->max_txn_ops = n;
    if (name == "watch-idle-s") c->watch_idle_s = n;
    if (name == "log-interval-s") c->log_interval_s = n;
    if (name == "compact-dest-interval-s") c->compact_dest_interval_s = n;
  } else if (name == "name") {
    c->name = v;
  } else if (name == "checkpoint-key") {
    if (v.empty()) return bad("must not be empty");
    c->checkpoint_key = v;
  } else if (name == "leases") {
    std::string why = set_leases(v, c);
    if (!why.empty()) return bad(why);
  } else if (name == "metrics-listen") {
    c->metrics_listen = v;
  } else if (name == "cacert") {
    c->source.cacert = v;
  } else if (name == "cert") {
    c->source.cert = v;
  } else if (name == "key") {
    c->source.key = v;
  } else if (name == "user") {
    c->source.user = v;
  } else if (name == "password") {
    c->source.password = v;
  } else if (name == "dest-cacert") {
    c->destination.cacert = v;
  } else if (name == "dest-cert") {
    c->destination.cert = v;
  } else if (name == "dest-key") {
    c->destination.key = v;
  } else if (name == "dest-user") {
    c->destination.user = v;
  } else if (name == "dest-password") {
    c->destination.password = v;
  }
  return "";
}

// Completes one side's security settings; "" or the error, naming the key.
std::string check_security(const std::string& side, Endpoints* e) {
  // etcdctl's --user takes "name[:password]".
  if (const auto colon = e->user.find(':'); colon != std::string::npos && e->password.empty()) {
    e->password = e->user.substr(colon + 1);
    e->user.resize(colon);
  }
  if (e->user.empty() && !e->password.empty()) return side + ".password: set without a user";
  if (!e->user.empty() && e->password.empty()) return side + ".user: no password given";
  if (e->cert.empty() != e->key.empty()) {
    return side + (e->cert.empty() ? ".key" : ".cert") + ": cert and key must be given together";
  }
  for (const auto& [what, path] : {std::pair<const char*, const std::string&>{"cacert", e->cacert},
                                   {"cert", e->cert},
                                   {"key", e->key}}) {
    if (path.empty()) continue;
    std::FILE* f = std::fopen(path.c_str(), "r");
    if (!f) return side + "." + what + ": cannot read " + quote(path);
    std::fclose(f);
  }
  for (const auto& ep : e->endpoints) {
    if (ep.rfind("https://", 0) == 0) e->tls = true;
  }
  if (!e->cacert.empty() || !e->cert.empty()) e->tls = true;
  return "";
}

}  // namespace

std::string default_checkpoint_key(const std::string& name) {
  return std::string(1, '\0') + "outpost-mirror/" + name;
}

std::string grpc_target(const std::string& endpoint) {
  const auto p = endpoint.find("://");
  std::string t = p == std::string::npos ? endpoint : endpoint.substr(p + 3);
  while (!t.empty() && t.back() == '/') t.pop_back();
  return t;
}

std::string load_toml_text(const std::string& text, const std::string& path, MirrorConfig* out) {
  toml::table root;
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    const auto& pos = e.source().begin;
    return path + ":" + std::to_string(pos.line) + ":" + std::to_string(pos.column) +
           ": TOML syntax error: " + std::string(e.description());
  }
  Loader loader(path, out);
  loader.run(root);
  return loader.errors();
}

std::string load_toml_file(const std::string& path, MirrorConfig* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "cannot read config file " + quote(path) + ": " + std::strerror(errno);
  std::ostringstream text;
  text << in.rdbuf();
  return load_toml_text(text.str(), path, out);
}

std::string parse_command_line(const std::vector<std::string>& args, MirrorConfig* out,
                               bool* help) {
  *help = false;
  struct Given {
    std::string name, value;
  };
  std::vector<Given> flags;
  std::vector<std::string> positional;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) != 0 && !(a.size() > 1 && a[0] == '-' && a != "-")) {
      positional.push_back(a);
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
    if (name == "h") name = "help";
    const Flag* f = find_flag(name);
    if (!f) return "unknown flag --" + name + " (see --help)";
    if (!has_value) {
      if (f->boolean) {
        value = "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return "--" + name + ": needs a value";
      }
    }
    if (name == "help") {
      *help = true;
      return "";
    }
    flags.push_back({name, value});
  }
  for (const auto& f : flags) {
    if (f.name != "config") continue;
    std::string err = load_toml_file(f.value, out);
    if (!err.empty()) return err;
  }
  for (const auto& f : flags) {
    if (f.name == "config") continue;
    std::string err = apply_flag(f.name, f.value, out);
    if (!err.empty()) return err;
  }
  // `etcdctl [global flags] make-mirror [flags] <destination>`: the word make-mirror is allowed.
  if (!positional.empty() && positional[0] == "make-mirror") positional.erase(positional.begin());
  if (positional.size() > 1) {
    return "too many arguments: expected one <destination> (comma-separated endpoints), got " +
           std::to_string(positional.size());
  }
  if (positional.size() == 1) {
    out->destination.endpoints = split_commas(positional[0]);
    if (out->destination.endpoints.empty()) return "<destination>: no endpoint given";
  }
  return "";
}

std::string validate(MirrorConfig* c) {
  if (c->destination.endpoints.empty()) {
    return "no destination: give it as the argument (outpost-mirror [flags] <destination>) or as "
           "[destination] endpoints in the config file";
  }
  if (c->source.endpoints.empty()) c->source.endpoints = {"127.0.0.1:2379"};
  if (c->no_dest_prefix && c->dest_prefix_set) {
    return "dest_prefix and no_dest_prefix cannot both be set (etcdctl: \"--dest-prefix and "
           "--no-dest-prefix cannot be set at the same time, choose one.\")";
  }
  if (std::string e = check_security("source", &c->source); !e.empty()) return e;
  if (std::string e = check_security("destination", &c->destination); !e.empty()) return e;
  if (c->checkpoint_key.empty()) c->checkpoint_key = default_checkpoint_key(c->name);
  return "";
}

std::string usage() {
  return R"(usage: outpost-mirror [--config mirror.toml] [flags] [<destination>]

Copies the keys under --prefix from the source cluster (--endpoints) to the destination cluster,
one destination Txn per source revision, with a checkpoint (last mirrored source revision) in the
destination. Either side may be Outpost or etcd (v3 API). Flags override the config file.

  --config PATH             TOML file: [source] / [destination] tables (endpoints = [...]) and the
                            keys below with '_' for '-'
  --endpoints LIST          source endpoints, comma-separated (default 127.0.0.1:2379)
  <destination>             destination endpoints, comma-separated (failover in order)
  --prefix P                mirror only keys under P (default: everything)
  --dest-prefix D           destination key = D + key without P
  --no-dest-prefix          mirror to the destination root (strip P)
  --rev N                   start at revision N without an initial copy (default 0: copy first)
  --max-txn-ops N           most operations in one destination txn (default 128)
  --name NAME               mirror name (default "default")
  --checkpoint-key K        destination key holding the checkpoint
                            (default "\x00outpost-mirror/<name>", a NUL byte first)
  --leases drop|mirror      write keys without leases (default) or mirror the source leases
  --compact-dest            compact the destination behind the checkpoint
  --compact-dest-interval-s N  seconds between those compactions (default 60)
  --once                    exit 0 once caught up with the source
  --coalesce=false          one destination txn per source revision, even when catching up
                            (default: pack whole revisions into txns of up to --max-txn-ops)
  --metrics-listen H:P      serve GET /metrics (Prometheus text)
  --watch-idle-s N          restart a watch silent for N seconds (default 30)
  --log-interval-s N        seconds between status log lines (default 10)
  --cacert/--cert/--key     source TLS: CA bundle, client certificate and key (PEM)
  --user NAME[:PW] --password PW   source authentication
  --insecure-transport=false       source TLS with the system's roots
  --dest-cacert/--dest-cert/--dest-key/--dest-user/--dest-password/--dest-insecure-transport
                            the same for the destination
  An https:// endpoint or a cacert/cert/key turns TLS on for that side.
)";
}

}  // namespace outpost::mirror
