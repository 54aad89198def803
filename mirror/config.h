#pragma once
// outpost-mirror's configuration: one MirrorConfig from a TOML file (`--config mirror.toml`) and
// command-line flags, flags winning. The flag names are `etcdctl make-mirror`'s where they mean the
// same (`--endpoints` for the source, the positional <destination>, `--prefix`, `--dest-prefix`,
// `--no-dest-prefix`, `--rev`, `--max-txn-ops`, `--dest-cacert`, ...), so a make-mirror command
// line works with the binary name changed. Every error names the key or flag and the file position.
//
// TLS: a side talks TLS when one of its endpoints is https:// or cacert/cert/key is set (or
// make-mirror's --insecure-transport=false); without cacert the system's roots are trusted.
// Authentication: user (and password, or make-mirror's "user:password") makes the mirror call
// Authenticate on that side and send the token with every call, asking again when it is refused.

#include <cstdint>
#include <string>
#include <vector>

namespace outpost::mirror {

// One side of the mirror: the [source] or [destination] table.
struct Endpoints {
  std::vector<std::string> endpoints;  // "http://host:port" or "host:port"; tried in order
  std::string cacert, cert, key;       // PEM files; cert and key go together
  std::string user, password;          // etcd authentication; none when user is ""
  bool tls = false;                    // set by validate(), or by --insecure-transport=false
};

enum class LeaseMode { kDrop, kMirror };

struct MirrorConfig {
  Endpoints source;       // Default: 127.0.0.1:2379, as etcdctl.
  Endpoints destination;  // Required.
  // Only keys under `prefix` are mirrored. Default: "" (the whole key space).
  std::string prefix;
  // Destination keys are dest_prefix + (key without prefix). Default: unset (keys unchanged).
  std::string dest_prefix;
  bool dest_prefix_set = false;
  // Mirror to the destination's root: the source prefix is stripped. Default: false.
  bool no_dest_prefix = false;
  // Start revision when the destination holds no checkpoint: watch from `rev` without an initial
  // copy. 0: copy everything first. Default: 0.
  int64_t rev = 0;
  // Largest number of operations in one destination Txn (the destination's --max-txn-ops).
  // Default: 128, as etcd.
  int64_t max_txn_ops = 128;
  // Name of this mirror; part of the default checkpoint key. Default: "default".
  std::string name = "default";
  // Destination key holding the last mirrored source revision (decimal).
  // Default: "\x00outpost-mirror/<name>" (a NUL byte first, so it sorts before user keys).
  std::string checkpoint_key;
  LeaseMode leases = LeaseMode::kDrop;  // Default: drop.
  // Compact the destination behind the checkpoint (every 60 s). Default: false.
  bool compact_dest = false;
  // compact_dest: seconds between compactions; each compacts at the destination revision the
  // mirror's txns had reached one interval before. Default: 60.
  int64_t compact_dest_interval_s = 60;
  // Pack consecutive whole source revisions into one destination txn while they fit in
  // max_txn_ops (plan.h: plan_revisions); false: one txn per source revision. Default: true.
  bool coalesce = true;
  // Exit 0 once caught up with the source's revision at start. Default: false.
  bool once = false;
  // host:port for GET /metrics (Prometheus text). Default: "" (no listener).
  std::string metrics_listen;
  // A watch that saw neither an event nor a progress notification for this long is restarted.
  // Default: 30 seconds.
  int64_t watch_idle_s = 30;
  // Seconds between JSON status log lines. Default: 10.
  int64_t log_interval_s = 10;
};

std::string default_checkpoint_key(const std::string& name);

// Parses argv (without argv[0]). Returns "" on success, else the error text. *help is set when
// --help was given (the caller prints usage() and exits 0).
std::string parse_command_line(const std::vector<std::string>& args, MirrorConfig* out, bool* help);

// Reads a TOML file into *out. Returns "" or the errors, one per line, each
// "<path>:<line>:<column>: <key>: <what>".
std::string load_toml_file(const std::string& path, MirrorConfig* out);
std::string load_toml_text(const std::string& text, const std::string& path, MirrorConfig* out);

// Checks the whole configuration (after TOML and flags). Returns "" or the error.
std::string validate(MirrorConfig* c);

std::string usage();

// "http://127.0.0.1:2379" -> "127.0.0.1:2379" (a gRPC target).
std::string grpc_target(const std::string& endpoint);

}  // namespace outpost::mirror
