// ETCD_* environment variables and their precedence over TOML and under flags.
#include <catch2/catch.hpp>

#include "helpers.h"

using namespace outpost::config;
using namespace outpost::config::testing;
using namespace std::chrono_literals;

TEST_CASE("ETCD_<FLAG> sets the flag's field", "[env]") {
  const Config c = ok(
      {}, {{"ETCD_NAME", "infra1"},
           {"ETCD_DATA_DIR", "/data/infra1"},
           {"ETCD_INITIAL_ADVERTISE_PEER_URLS", "http://127.0.0.1:12380"},
           {"ETCD_LISTEN_PEER_URLS", "http://127.0.0.1:12380"},
           {"ETCD_INITIAL_CLUSTER", "infra1=http://127.0.0.1:12380,infra2=http://127.0.0.1:22380"},
           {"ETCD_INITIAL_CLUSTER_STATE", "existing"},
           {"ETCD_HEARTBEAT_INTERVAL", "200"},
           {"ETCD_ELECTION_TIMEOUT", "2000"},
           {"ETCD_STRICT_RECONFIG_CHECK", "false"},
           {"ETCD_MAX_LEARNERS", "2"},
           {"ETCD_ROLE", "learner"}});
  CHECK(c.name == "infra1");
  CHECK(c.data_dir == "/data/infra1");
  CHECK(c.initial_cluster.size() == 2);
  CHECK(c.initial_cluster_state == ClusterState::kExisting);
  CHECK(c.heartbeat_interval == 200ms);
  CHECK(c.election_timeout == 2000ms);
  CHECK_FALSE(c.strict_reconfig_check);
  CHECK(c.max_learners == 2);
  CHECK(c.role == Role::kLearner);
}

TEST_CASE("ETCD_REPLICA_* sets the replica fields", "[env][replica]") {
  const Config c = ok({}, {{"ETCD_REPLICA_READ_POLICY", "linearizable"},
                           {"ETCD_REPLICA_WRITES", "forward"},
                           {"ETCD_REPLICA_PROMOTE", "never"},
                           {"ETCD_REPLICA_MAX_LAG_MS", "0"},
                           {"ETCD_REPLICA_MAX_LAG_REVISIONS", "7"},
                           {"ETCD_REPLICA_PROMOTE_AFTER_S", "11"},
                           {"ETCD_REPLICA_FAILOVER_AFTER_S", "12"},
                           {"ETCD_REPLICA_JOIN", "http://127.0.0.1:2379,http://127.0.0.1:22379"},
                           {"ETCD_REPLICA_JOIN_TIMEOUT_S", "13"}});
  CHECK(c.replica.read_policy == ReadPolicy::kLinearizable);
  CHECK(c.replica.writes == WritePolicy::kForward);
  CHECK(c.replica.promote == PromoteMode::kNever);
  CHECK(c.replica.max_lag_ms == 0);
  CHECK(c.replica.max_lag_revisions == 7);
  CHECK(c.replica.promote_after_s == 11);
  CHECK(c.replica.failover_after_s == 12);
  CHECK(url_strings(c.replica.join) ==
        std::vector<std::string>{"http://127.0.0.1:2379", "http://127.0.0.1:22379"});
  CHECK(c.replica.join_timeout_s == 13);
  CHECK(c.role == Role::kLearner);
  CHECK(c.initial_cluster_state == ClusterState::kExisting);
}

TEST_CASE("a --replica-* flag wins over its ETCD_REPLICA_* variable",
          "[env][replica][precedence]") {
  const LoadResult r = run({"--replica-writes=refuse"}, {{"ETCD_REPLICA_WRITES", "forward"},
                                                         {"ETCD_REPLICA_PROMOTE_AFTER_S", "3"}});
  REQUIRE(r.config);
  CHECK(r.config->replica.writes == WritePolicy::kRefuse);
  CHECK(r.config->replica.promote_after_s == 3);
  REQUIRE(r.warnings.size() == 1);
  CHECK(r.warnings[0] ==
        "environment variable ETCD_REPLICA_WRITES is shadowed by the command-line flag "
        "--replica-writes; using the flag");
}

TEST_CASE("a bad ETCD_REPLICA_* value names the variable", "[env][replica][errors]") {
  CHECK(err({}, {{"ETCD_REPLICA_READ_POLICY", "fast"}}) ==
        "invalid value \"fast\" for ETCD_REPLICA_READ_POLICY: expected one of refuse, "
        "serializable, linearizable, bounded");
  CHECK(err({}, {{"ETCD_REPLICA_WRITES", "x"}}) ==
        "invalid value \"x\" for ETCD_REPLICA_WRITES: expected one of refuse, forward");
  CHECK(err({}, {{"ETCD_REPLICA_PROMOTE", "always"}}) ==
        "invalid value \"always\" for ETCD_REPLICA_PROMOTE: expected one of manual, never, "
        "when-caught-up, standby");
  CHECK(err({}, {{"ETCD_REPLICA_MAX_LAG_MS", "-5"}}) ==
        "invalid value \"-5\" for ETCD_REPLICA_MAX_LAG_MS: expected a non-negative integer");
  CHECK(err({}, {{"ETCD_REPLICA_MAX_LAG_REVISIONS", "x"}}) ==
        "invalid value \"x\" for ETCD_REPLICA_MAX_LAG_REVISIONS: expected a non-negative "
        "integer");
  CHECK(err({}, {{"ETCD_REPLICA_PROMOTE_AFTER_S", "0"}}) ==
        "invalid value \"0\" for ETCD_REPLICA_PROMOTE_AFTER_S: must be greater than 0");
  CHECK(err({}, {{"ETCD_REPLICA_FAILOVER_AFTER_S", "0"}}) ==
        "invalid value \"0\" for ETCD_REPLICA_FAILOVER_AFTER_S: must be greater than 0");
  CHECK(err({}, {{"ETCD_REPLICA_JOIN_TIMEOUT_S", "0"}}) ==
        "invalid value \"0\" for ETCD_REPLICA_JOIN_TIMEOUT_S: must be greater than 0");
  CHECK(err({}, {{"ETCD_REPLICA_JOIN", "core1:2379"}}) ==
        "invalid value \"core1:2379\" for ETCD_REPLICA_JOIN: URL scheme must be http or https: "
        "core1:2379");
}

TEST_CASE("a command-line flag wins over its environment variable, with a warning",
          "[env][precedence]") {
  const LoadResult r = run({"--name=from-flag"}, {{"ETCD_NAME", "from-env"}});
  REQUIRE(r.config);
  CHECK(r.config->name == "from-flag");
  REQUIRE(r.warnings.size() == 1);
  CHECK(
      r.warnings[0] ==
      "environment variable ETCD_NAME is shadowed by the command-line flag --name; using the flag");
}

TEST_CASE("an environment variable still applies when a different flag is given",
          "[env][precedence]") {
  const Config c = ok({"--name=a"}, {{"ETCD_SNAPSHOT_COUNT", "7"}});
  CHECK(c.name == "a");
  CHECK(c.snapshot_count == 7);
}

TEST_CASE("an unknown ETCD_ variable is a warning, not an error", "[env]") {
  const LoadResult r = run({}, {{"ETCD_BOGUS", "1"}});
  REQUIRE(r.config);
  REQUIRE(r.warnings.size() == 1);
  CHECK(r.warnings[0] == "unrecognized environment variable ETCD_BOGUS=1");
}

TEST_CASE("variables without the ETCD_ prefix and empty ones are not looked at", "[env]") {
  const LoadResult r =
      run({}, {{"ETCDCTL_API", "3"}, {"HOME", "/root"}, {"ETCD_NAME", ""}, {"NAME", "x"}});
  REQUIRE(r.config);
  CHECK(r.config->name == "default");
  CHECK(r.warnings.empty());
}

TEST_CASE("ETCD_VERSION (common in images) is neither applied nor warned about", "[env]") {
  const LoadResult r = run({}, {{"ETCD_VERSION", "3.4.23"}});
  REQUIRE(r.config);
  CHECK_FALSE(r.show_version);
  CHECK(r.warnings.empty());
}

TEST_CASE("a bad environment value names the variable", "[env][errors]") {
  CHECK(err({}, {{"ETCD_SNAPSHOT_COUNT", "abc"}}) ==
        "invalid value \"abc\" for ETCD_SNAPSHOT_COUNT: expected a non-negative integer");
  CHECK(err({}, {{"ETCD_LISTEN_CLIENT_URLS", "tcp://x:1"}}) ==
        "invalid value \"tcp://x:1\" for ETCD_LISTEN_CLIENT_URLS: URL scheme must be http or "
        "https: tcp://x:1");
}

TEST_CASE("a bad environment value shadowed by a flag is not reported", "[env][precedence]") {
  CHECK(ok({"--snapshot-count=5"}, {{"ETCD_SNAPSHOT_COUNT", "abc"}}).snapshot_count == 5);
}

TEST_CASE("ETCD_CONFIG_FILE is refused like --config-file", "[env][errors]") {
  CHECK(err({}, {{"ETCD_CONFIG_FILE", "/etc/etcd.yaml"}}) ==
        "ETCD_CONFIG_FILE (etcd's YAML configuration file) is not supported; use --config "
        "FILE.toml or "
        "ETCD_CONFIG=FILE.toml (see config/README.md)");
}

TEST_CASE("ignored etcd flags can come from the environment", "[env]") {
  const LoadResult r = run({}, {{"ETCD_PRE_VOTE", "true"}});
  REQUIRE(r.config);
  CHECK(r.config->ignored_flags.at("pre-vote") == "true");
  REQUIRE(r.warnings.size() == 1);
  CHECK(r.warnings[0] == "ignoring etcd flags that Outpost does not use: --pre-vote");
}

TEST_CASE("environment variables override the TOML file", "[env][precedence]") {
  TempFile f("name = \"toml\"\n[raft]\nsnapshot_count = 11\nheartbeat_interval_ms = 20\n");
  const Config c = ok({"--config", f.path(), "--heartbeat-interval=30"},
                      {{"ETCD_NAME", "env"}, {"ETCD_HEARTBEAT_INTERVAL", "40"}});
  CHECK(c.name == "env");               // env > TOML
  CHECK(c.snapshot_count == 11);        // TOML > default
  CHECK(c.heartbeat_interval == 30ms);  // flag > env > TOML
  CHECK(c.config_file == f.path());
}

TEST_CASE("ETCD_CONFIG names the TOML file when --config is absent", "[env]") {
  TempFile a("name = \"a\"\n");
  TempFile b("name = \"b\"\n");
  CHECK(ok({}, {{"ETCD_CONFIG", a.path()}}).name == "a");
  CHECK(ok({"--config", b.path()}, {{"ETCD_CONFIG", a.path()}}).name == "b");
}
