// The TOML front end: schema, types, positions in errors.
#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "config/toml_loader.h"
#include "helpers.h"

using namespace outpost::config;
using namespace outpost::config::testing;
using namespace std::chrono_literals;

namespace {

// Loads a TOML text and returns the error (requires failure).
std::string toml_err(const std::string& text, std::vector<std::string> extra = {}) {
  TempFile f(text);
  std::vector<std::string> args = {"--config", f.path()};
  args.insert(args.end(), extra.begin(), extra.end());
  std::string e = err(args);
  // Make the message independent of the temporary directory.
  const auto at = e.find(f.path());
  if (at == 0) e.replace(0, f.path().size(), "F");
  for (size_t p = e.find("\n" + f.path()); p != std::string::npos; p = e.find("\n" + f.path())) {
    e.replace(p + 1, f.path().size(), "F");
  }
  return e;
}

Config toml_ok(const std::string& text, std::vector<std::string> extra = {}) {
  TempFile f(text);
  std::vector<std::string> args = {"--config", f.path()};
  args.insert(args.end(), extra.begin(), extra.end());
  return ok(args);
}

}  // namespace

TEST_CASE("the full TOML example loads into every field", "[toml]") {
  const Config c = toml_ok(R"(
name = "infra1"
data_dir = "/var/lib/outpost/infra1"
wal_dir = "/fast/wal"

[client]
listen_urls = ["http://127.0.0.1:2379", "http://10.0.0.1:2379"]
advertise_urls = ["http://10.0.0.1:2379"]

[peer]
listen_urls = ["http://127.0.0.1:12380"]
advertise_urls = ["http://127.0.0.1:12380"]

[cluster]
initial = "infra1=http://127.0.0.1:12380,infra2=http://127.0.0.1:22380,infra3=http://127.0.0.1:32380"
state = "new"
token = "etcd-cluster-1"
strict_reconfig_check = false
force_new_cluster = false
max_learners = 2

[raft]
heartbeat_interval_ms = 50
election_timeout_ms = 500
snapshot_count = 20000
snapshot_rate_limit = "16MiB"

[limits]
max_request_bytes = 2097152
max_txn_ops = 64
quota_backend_bytes = 4294967296

[compaction]
mode = "periodic"
retention = "30m"

[log]
logger = "zap"
outputs = ["stderr", "/var/log/outpost.log"]
level = "debug"

[replica]
role = "voter"
)");
  CHECK(c.name == "infra1");
  CHECK(c.data_dir == "/var/lib/outpost/infra1");
  CHECK(c.wal_dir == "/fast/wal");
  CHECK(url_strings(c.listen_client_urls) ==
        std::vector<std::string>{"http://127.0.0.1:2379", "http://10.0.0.1:2379"});
  CHECK(url_strings(c.advertise_client_urls) == std::vector<std::string>{"http://10.0.0.1:2379"});
  CHECK(url_strings(c.listen_peer_urls) == std::vector<std::string>{"http://127.0.0.1:12380"});
  CHECK(url_strings(c.initial_advertise_peer_urls) ==
        std::vector<std::string>{"http://127.0.0.1:12380"});
  REQUIRE(c.initial_cluster.size() == 3);
  CHECK(c.initial_cluster[1].first == "infra2");
  CHECK(c.initial_cluster_state == ClusterState::kNew);
  CHECK(c.initial_cluster_token == "etcd-cluster-1");
  CHECK_FALSE(c.strict_reconfig_check);
  CHECK_FALSE(c.force_new_cluster);
  CHECK(c.max_learners == 2);
  CHECK(c.heartbeat_interval == 50ms);
  CHECK(c.election_timeout == 500ms);
  CHECK(c.snapshot_count == 20000);
  CHECK(c.snapshot_rate_limit == 16ull << 20);
  CHECK(c.max_request_bytes == 2097152);
  CHECK(c.max_txn_ops == 64);
  CHECK(c.quota_backend_bytes == 4294967296LL);
  CHECK(c.auto_compaction_mode == CompactionMode::kPeriodic);
  CHECK(c.auto_compaction_retention == "30m");
  CHECK(c.logger == Logger::kZap);
  CHECK(c.log_outputs == std::vector<std::string>{"stderr", "/var/log/outpost.log"});
  CHECK(c.log_level == LogLevel::kDebug);
  CHECK(c.role == Role::kVoter);
}

TEST_CASE("an empty TOML file gives the defaults", "[toml]") {
  const Config c = toml_ok("");
  CHECK(c.name == "default");
  CHECK(c.heartbeat_interval == 100ms);
  CHECK_FALSE(c.config_file.empty());
}

TEST_CASE("cluster.initial as a table keeps the file's member order", "[toml]") {
  const Config c = toml_ok(R"(
name = "zeta"
[peer]
advertise_urls = ["http://127.0.0.1:12380", "http://10.0.0.9:12380"]
[cluster.initial]
zeta = ["http://127.0.0.1:12380", "http://10.0.0.9:12380"]
alpha = "http://127.0.0.1:22380"
mid = "http://127.0.0.1:32380"
)");
  REQUIRE(c.initial_cluster.size() == 3);
  CHECK(c.initial_cluster[0].first == "zeta");
  CHECK(c.initial_cluster[0].second.size() == 2);
  CHECK(c.initial_cluster[1].first == "alpha");
  CHECK(c.initial_cluster[2].first == "mid");
  CHECK(url_strings(c.initial_cluster[2].second) ==
        std::vector<std::string>{"http://127.0.0.1:32380"});
}

TEST_CASE("URL lists may also be one comma-separated string, sizes an integer", "[toml]") {
  const Config c = toml_ok(R"(
[client]
listen_urls = "http://127.0.0.1:2379,http://127.0.0.2:2379"
advertise_urls = "http://127.0.0.1:2379"
[raft]
snapshot_rate_limit = 1000
[compaction]
mode = "revision"
retention = 500
[log]
outputs = "stdout"
)");
  CHECK(c.listen_client_urls.size() == 2);
  CHECK(c.snapshot_rate_limit == 1000);
  CHECK(c.auto_compaction_retention == "500");
  CHECK(c.log_outputs == std::vector<std::string>{"stdout"});
}

TEST_CASE("command-line flags override the TOML file", "[toml][precedence]") {
  const Config c = toml_ok("name = \"toml\"\n[limits]\nmax_txn_ops = 10\n", {"--max-txn-ops=20"});
  CHECK(c.name == "toml");
  CHECK(c.max_txn_ops == 20);
}

TEST_CASE("a TOML learner replica", "[toml]") {
  const Config c = toml_ok(R"(
name = "r1"
[peer]
advertise_urls = ["http://127.0.0.1:42380"]
[cluster]
initial = "infra1=http://127.0.0.1:12380,r1=http://127.0.0.1:42380"
state = "existing"
[replica]
role = "learner"
)");
  CHECK(c.role == Role::kLearner);
  CHECK(c.initial_cluster_state == ClusterState::kExisting);
  CHECK(c.data_dir == "r1.etcd");  // derived from the TOML name
}

TEST_CASE("every [replica] key loads from TOML", "[toml][replica]") {
  const Config c = toml_ok(R"(
[replica]
read_policy = "bounded"
writes = "forward"
promote = "standby"
max_lag_ms = 0
max_lag_revisions = 500
promote_after_s = 20
failover_after_s = 3
join = ["http://127.0.0.1:2379", "https://core2.example:2379"]
join_timeout_s = 90
)");
  CHECK(c.replica.read_policy == ReadPolicy::kBounded);
  CHECK(c.replica.writes == WritePolicy::kForward);
  CHECK(c.replica.promote == PromoteMode::kStandby);
  CHECK(c.replica.max_lag_ms == 0);
  CHECK(c.replica.max_lag_revisions == 500);
  CHECK(c.replica.promote_after_s == 20);
  CHECK(c.replica.failover_after_s == 3);
  CHECK(url_strings(c.replica.join) ==
        std::vector<std::string>{"http://127.0.0.1:2379", "https://core2.example:2379"});
  CHECK(c.replica.join_timeout_s == 90);
  // join makes a learner that joins an existing cluster.
  CHECK(c.role == Role::kLearner);
  CHECK(c.initial_cluster_state == ClusterState::kExisting);
}

TEST_CASE("replica.join may be one comma-separated string", "[toml][replica]") {
  const Config c = toml_ok("[replica]\njoin = \"http://127.0.0.1:2379,http://127.0.0.2:2379\"\n");
  CHECK(url_strings(c.replica.join) ==
        std::vector<std::string>{"http://127.0.0.1:2379", "http://127.0.0.2:2379"});
}

TEST_CASE("--replica-* flags and ETCD_REPLICA_* override the [replica] table",
          "[toml][replica][precedence]") {
  TempFile f(R"([replica]
read_policy = "serializable"
writes = "forward"
promote = "never"
max_lag_ms = 10
join_timeout_s = 5
)");
  const Config c = ok({"--config", f.path(), "--replica-read-policy=linearizable"},
                      {{"ETCD_REPLICA_READ_POLICY", "bounded"},
                       {"ETCD_REPLICA_PROMOTE", "standby"},
                       {"ETCD_REPLICA_MAX_LAG_MS", "20"}});
  CHECK(c.replica.read_policy == ReadPolicy::kLinearizable);  // flag > env > TOML
  CHECK(c.replica.promote == PromoteMode::kStandby);          // env > TOML
  CHECK(c.replica.max_lag_ms == 20);                          // env > TOML
  CHECK(c.replica.writes == WritePolicy::kForward);           // TOML > default
  CHECK(c.replica.join_timeout_s == 5);                       // TOML > default
  CHECK(c.replica.failover_after_s == 10);                    // default
}

TEST_CASE("bad [replica] values name the key at the value", "[toml][replica][errors]") {
  CHECK(toml_err("[replica]\nread_policy = \"x\"\n") ==
        "F:2:15: replica.read_policy: invalid value \"x\": expected one of refuse, serializable, "
        "linearizable, bounded");
  CHECK(toml_err("[replica]\nwrites = \"proxy\"\n") ==
        "F:2:10: replica.writes: invalid value \"proxy\": expected one of refuse, forward");
  CHECK(toml_err("[replica]\npromote = \"when_caught_up\"\n") ==
        "F:2:11: replica.promote: invalid value \"when_caught_up\": expected one of manual, "
        "never, when-caught-up, standby");
  CHECK(toml_err("[replica]\nmax_lag_ms = -1\n") ==
        "F:2:14: replica.max_lag_ms: must not be negative (got -1)");
  CHECK(toml_err("[replica]\nmax_lag_revisions = -10\n") ==
        "F:2:21: replica.max_lag_revisions: must not be negative (got -10)");
  CHECK(toml_err("[replica]\npromote_after_s = 0\n") ==
        "F:2:19: replica.promote_after_s: must be greater than 0");
  CHECK(toml_err("[replica]\npromote_after_s = -1\n") ==
        "F:2:19: replica.promote_after_s: must not be negative (got -1)");
  CHECK(toml_err("[replica]\nfailover_after_s = 0\n") ==
        "F:2:20: replica.failover_after_s: must be greater than 0");
  CHECK(toml_err("[replica]\njoin_timeout_s = 0\n") ==
        "F:2:18: replica.join_timeout_s: must be greater than 0");
  CHECK(toml_err("[replica]\njoin = [\"http://127.0.0.1:2379\", \"unix:///run/etcd.sock\"]\n") ==
        "F:2:34: replica.join[1]: URL scheme must be http or https: unix:///run/etcd.sock");
  CHECK(toml_err("[replica]\njoin = \"ftp://h:1\"\n") ==
        "F:2:8: replica.join: URL scheme must be http or https: ftp://h:1");
  CHECK(toml_err("[replica]\njoin = []\n") == "F:2:8: replica.join: no URLs given");
}

TEST_CASE("wrong types in [replica] say what was expected", "[toml][replica][errors]") {
  CHECK(toml_err("[replica]\nmax_lag_ms = \"1000\"\n") ==
        "F:2:14: replica.max_lag_ms: expected an integer, got a string");
  CHECK(toml_err("[replica]\nmax_lag_revisions = 1.5\n") ==
        "F:2:21: replica.max_lag_revisions: expected an integer, got a floating-point number");
  CHECK(toml_err("[replica]\npromote_after_s = \"10s\"\n") ==
        "F:2:19: replica.promote_after_s: expected an integer, got a string");
  CHECK(toml_err("[replica]\nfailover_after_s = true\n") ==
        "F:2:20: replica.failover_after_s: expected an integer, got a boolean");
  CHECK(toml_err("[replica]\njoin_timeout_s = 1.0\n") ==
        "F:2:18: replica.join_timeout_s: expected an integer, got a floating-point number");
  CHECK(toml_err("[replica]\nread_policy = 1\n") ==
        "F:2:15: replica.read_policy: expected a string, got an integer");
  CHECK(toml_err("[replica]\nwrites = true\n") ==
        "F:2:10: replica.writes: expected a string, got a boolean");
  CHECK(toml_err("[replica]\npromote = [\"manual\"]\n") ==
        "F:2:11: replica.promote: expected a string, got an array");
  CHECK(toml_err("[replica]\njoin = 2379\n") ==
        "F:2:8: replica.join: expected an array of URL strings, got an integer");
  CHECK(toml_err("[replica]\njoin = [2379]\n") ==
        "F:2:9: replica.join[0]: expected a URL string, got an integer");
  CHECK(toml_err("[replica]\nreadpolicy = \"bounded\"\n") ==
        "F:2:1: unknown key \"replica.readpolicy\" (valid keys in [replica]: role, read_policy, "
        "writes, promote, max_lag_ms, max_lag_revisions, promote_after_s, failover_after_s, join, "
        "join_timeout_s, join_user, join_password)");
}

TEST_CASE("unknown keys and tables are named with their dotted path and position",
          "[toml][errors]") {
  CHECK(toml_err("[raft]\nheartbeat_ms = 100\n") ==
        "F:2:1: unknown key \"raft.heartbeat_ms\" (valid keys in [raft]: heartbeat_interval_ms, "
        "election_timeout_ms, snapshot_count, snapshot_rate_limit)");
  CHECK(toml_err("name = \"a\"\nnmae = \"b\"\n") ==
        "F:2:1: unknown key \"nmae\" (valid top-level keys: name, data_dir, wal_dir, "
        "unsafe_no_fsync, cipher_suites, tls_min_version, [client], [peer], "
        "[client_transport_security], [peer_transport_security], [cluster], [raft], [limits], "
        "[compaction], [log], [metrics], [replica])");
  CHECK(toml_err("[tls]\ncert = \"x\"\n") ==
        "F:1:2: unknown key \"tls\" (valid top-level keys: name, data_dir, wal_dir, "
        "unsafe_no_fsync, cipher_suites, tls_min_version, [client], [peer], "
        "[client_transport_security], [peer_transport_security], [cluster], [raft], [limits], "
        "[compaction], [log], [metrics], [replica])");
}

TEST_CASE("wrong types say what was expected and what was found", "[toml][errors]") {
  CHECK(toml_err("[raft]\nheartbeat_interval_ms = \"100\"\n") ==
        "F:2:25: raft.heartbeat_interval_ms: expected an integer, got a string");
  CHECK(toml_err("name = 5\n") == "F:1:8: name: expected a string, got an integer");
  CHECK(toml_err("[cluster]\nstrict_reconfig_check = \"yes\"\n") ==
        "F:2:25: cluster.strict_reconfig_check: expected a boolean, got a string");
  CHECK(toml_err("[raft]\nelection_timeout_ms = 1.5\n") ==
        "F:2:23: raft.election_timeout_ms: expected an integer, got a floating-point number");
  CHECK(toml_err("client = 5\n") == "F:1:10: client: expected a table, got an integer");
  CHECK(toml_err("[client]\nlisten_urls = 5\n") ==
        "F:2:15: client.listen_urls: expected an array of URL strings, got an integer");
  CHECK(toml_err("[client]\nlisten_urls = [\"http://127.0.0.1:2379\", 7]\n") ==
        "F:2:41: client.listen_urls[1]: expected a URL string, got an integer");
  CHECK(toml_err("[log]\noutputs = [true]\n") ==
        "F:2:12: log.outputs[0]: expected a string, got a boolean");
  CHECK(toml_err("[cluster]\ninitial = 3\n") ==
        "F:2:11: cluster.initial: expected a string \"name=url,...\" or a table of name = url, got "
        "an integer");
  CHECK(
      toml_err("[cluster.initial]\na = 3\n") ==
      "F:2:5: cluster.initial.a: expected a URL string or an array of URL strings, got an integer");
  CHECK(toml_err("[raft]\nsnapshot_rate_limit = true\n") ==
        "F:2:23: raft.snapshot_rate_limit: expected an integer or a string such as \"64MiB\", got "
        "a boolean");
  CHECK(toml_err("[[client]]\nlisten_urls = []\n") ==
        "F:1:1: client: expected a table, got an array");
}

TEST_CASE("bad values are reported at the value", "[toml][errors]") {
  CHECK(toml_err("[raft]\nheartbeat_interval_ms = -100\n") ==
        "F:2:25: raft.heartbeat_interval_ms: must not be negative (got -100)");
  CHECK(toml_err("[raft]\nheartbeat_interval_ms = 0\n") ==
        "F:2:25: raft.heartbeat_interval_ms: must be greater than 0");
  CHECK(toml_err("[limits]\nmax_txn_ops = 0\n") ==
        "F:2:15: limits.max_txn_ops: must be greater than 0");
  CHECK(toml_err("[cluster]\nmax_learners = -1\n") ==
        "F:2:16: cluster.max_learners: must not be negative (got -1)");
  CHECK(toml_err("[cluster]\nstate = \"bogus\"\n") ==
        "F:2:9: cluster.state: invalid value \"bogus\": expected \"new\" or \"existing\"");
  CHECK(toml_err("[log]\nlevel = \"loud\"\n") ==
        "F:2:9: log.level: invalid value \"loud\": expected one of debug, info, warn, error, "
        "panic, fatal");
  CHECK(toml_err("[replica]\nrole = \"observer\"\n") ==
        "F:2:8: replica.role: invalid value \"observer\": expected \"voter\" or \"learner\"");
  CHECK(toml_err("[raft]\nsnapshot_rate_limit = \"fast\"\n") ==
        "F:2:23: raft.snapshot_rate_limit: invalid value \"fast\": expected a byte count such as "
        "67108864, "
        "\"64MiB\" or \"100MB\"");
  CHECK(toml_err("[client]\nlisten_urls = [\"http://127.0.0.1:2379\", \"http://127.0.0.1\"]\n") ==
        "F:2:41: client.listen_urls[1]: URL address does not have the form \"host:port\": "
        "http://127.0.0.1");
  CHECK(toml_err("[peer]\nadvertise_urls = []\n") == "F:2:18: peer.advertise_urls: no URLs given");
  CHECK(toml_err("[client]\nlisten_urls = \"ftp://h:1\"\n") ==
        "F:2:15: client.listen_urls: URL scheme must be http or https: ftp://h:1");
  CHECK(toml_err("[cluster]\ninitial = \"a=http://h\"\n") ==
        "F:2:11: cluster.initial: member \"a\": URL address does not have the form \"host:port\": "
        "http://h");
  CHECK(toml_err("[cluster.initial]\n\"a,b\" = \"http://h:1\"\n") ==
        "F:2:9: cluster.initial.a,b: a member name must be non-empty and must not contain ',' or "
        "'='");
  CHECK(toml_err("[cluster.initial]\na = \"http://h:1/x\"\n") ==
        "F:2:5: cluster.initial.a: URL must not contain a path: http://h:1/x");
}

TEST_CASE("every problem in the file is listed, in file order", "[toml][errors]") {
  CHECK(toml_err("[raft]\nbogus = 1\nheartbeat_interval_ms = \"x\"\n[log]\nlevel = 3\n") ==
        "F:2:1: unknown key \"raft.bogus\" (valid keys in [raft]: heartbeat_interval_ms, "
        "election_timeout_ms, "
        "snapshot_count, snapshot_rate_limit)\n"
        "F:3:25: raft.heartbeat_interval_ms: expected an integer, got a string\n"
        "F:5:9: log.level: expected a string, got an integer");
}

TEST_CASE("a syntactically broken file names the file, line and column", "[toml][errors]") {
  // The description after "TOML syntax error: " is toml++'s (v3.3 here).
  CHECK(toml_err("name = \"a\"\n[raft\n") ==
        "F:2:6: TOML syntax error: Error while parsing table header: expected ']', saw '\\n'");
  CHECK(toml_err("name = \"a\"\nname = \"b\"\n") ==
        "F:2:8: TOML syntax error: Error while parsing key-value pair: cannot redefine existing "
        "string 'name'");
}

TEST_CASE("an unreadable file is named with the reason", "[toml][errors]") {
  CHECK(err({"--config", "/nonexistent/outpost.toml"}) ==
        "cannot read config file \"/nonexistent/outpost.toml\": No such file or directory");
  CHECK(err({"--config", "/"}) == "cannot read config file \"/\": it is a directory");
}

TEST_CASE("cross-field checks still run on TOML values", "[toml][errors]") {
  CHECK(toml_err("[raft]\nheartbeat_interval_ms = 300\n") ==
        "--election-timeout[1000ms] should be at least as 5 times as --heartbeat-interval[300ms]");
  CHECK(toml_err("[client]\nlisten_urls = [\"http://127.0.0.1:2379\"]\n") ==
        "--advertise-client-urls is required when --listen-client-urls is set explicitly");
}

TEST_CASE("the example in config/README.md loads", "[toml][docs]") {
  std::ifstream in(std::string(OUTPOST_SOURCE_DIR) + "/config/README.md");
  REQUIRE(in);
  std::stringstream text;
  text << in.rdbuf();
  const std::string doc = text.str();
  const auto begin = doc.find("```toml\n");
  REQUIRE(begin != std::string::npos);
  const auto end = doc.find("```", begin + 8);
  REQUIRE(end != std::string::npos);
  const Config c = toml_ok(doc.substr(begin + 8, end - begin - 8));
  CHECK(c.name == "infra1");
  REQUIRE(c.initial_cluster.size() == 3);
  CHECK(c.initial_cluster[0].first == "infra1");
  CHECK(c.initial_cluster[2].first == "infra3");
  CHECK(c.initial_cluster_token == "etcd-cluster-1");
  CHECK(c.logger == Logger::kZap);
}

TEST_CASE("the replica example in config/README.md loads", "[toml][docs][replica]") {
  std::ifstream in(std::string(OUTPOST_SOURCE_DIR) + "/config/README.md");
  REQUIRE(in);
  std::stringstream text;
  text << in.rdbuf();
  const std::string doc = text.str();
  const auto first = doc.find("```toml\n");
  REQUIRE(first != std::string::npos);
  const auto begin = doc.find("```toml\n", doc.find("```", first + 8) + 3);
  REQUIRE(begin != std::string::npos);
  const auto end = doc.find("```", begin + 8);
  REQUIRE(end != std::string::npos);
  const Config c = toml_ok(doc.substr(begin + 8, end - begin - 8));
  CHECK(c.name == "replica1");
  CHECK(c.role == Role::kLearner);
  CHECK(c.initial_cluster_state == ClusterState::kExisting);
  CHECK(c.replica.read_policy == ReadPolicy::kBounded);
  CHECK(c.replica.max_lag_ms == 500);
  CHECK(c.replica.writes == WritePolicy::kForward);
  CHECK(c.replica.promote == PromoteMode::kStandby);
  CHECK(c.replica.failover_after_s == 30);
  CHECK(c.replica.join.size() == 3);
  CHECK(c.replica.join_timeout_s == 120);
}

TEST_CASE("client.enable_grpc_gateway and --enable-grpc-gateway turn the JSON gateway off and on",
          "[toml][gateway]") {
  CHECK(toml_ok("name = \"toml\"\n").enable_grpc_gateway);
  CHECK_FALSE(
      toml_ok("name = \"toml\"\n[client]\nenable_grpc_gateway = false\n").enable_grpc_gateway);
  CHECK(
      toml_ok("name = \"toml\"\n[client]\nenable_grpc_gateway = false\n", {"--enable-grpc-gateway"})
          .enable_grpc_gateway);
  CHECK_FALSE(toml_ok("name = \"toml\"\n", {"--enable-grpc-gateway=false"}).enable_grpc_gateway);
}

TEST_CASE("metrics.listen_urls is --listen-metrics-urls", "[toml]") {
  const Config c = toml_ok(R"(
[metrics]
listen_urls = ["http://127.0.0.1:2381"]
)");
  CHECK(url_strings(c.listen_metrics_urls) == std::vector<std::string>{"http://127.0.0.1:2381"});
}

TEST_CASE("load_toml_text loads a text as load_toml loads the file", "[toml]") {
  Config c;
  std::set<std::string> set_flags;
  CHECK(detail::load_toml_text("name = \"m7\"\n", "mem.toml", c, &set_flags).empty());
  CHECK(c.name == "m7");
  CHECK(set_flags.count("name") == 1);
  Config d;
  CHECK(detail::load_toml_text("name = \n", "mem.toml", d, &set_flags).rfind("mem.toml:1:", 0) ==
        0);
}
