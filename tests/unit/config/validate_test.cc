// Whole-config validation: etcd's start-up checks and their messages.
#include <catch2/catch.hpp>

#include "helpers.h"

using namespace outpost::config;
using namespace outpost::config::testing;

namespace {
const std::vector<std::string> kInfra1 = {"--name",
                                          "infra1",
                                          "--initial-advertise-peer-urls",
                                          "http://127.0.0.1:12380",
                                          "--listen-peer-urls",
                                          "http://127.0.0.1:12380"};
std::vector<std::string> infra1(std::vector<std::string> more) {
  std::vector<std::string> args = kInfra1;
  args.insert(args.end(), more.begin(), more.end());
  return args;
}
}  // namespace

TEST_CASE("election timeout must be at least 5 heartbeats (etcd's text)", "[validate]") {
  CHECK(err({"--heartbeat-interval", "300"}) ==
        "--election-timeout[1000ms] should be at least as 5 times as --heartbeat-interval[300ms]");
  CHECK(ok({"--heartbeat-interval", "200"}).heartbeat_interval.count() ==
        200);  // exactly 5x is fine
}

TEST_CASE("zero and too-long timeouts use etcd's text", "[validate]") {
  CHECK(err({"--heartbeat-interval", "0"}) == "--heartbeat-interval must be >0 (set to 0ms)");
  CHECK(err({"--election-timeout", "0"}) == "--election-timeout must be >0 (set to 0ms)");
  CHECK(err({"--election-timeout", "60000"}) ==
        "--election-timeout[60000ms] is too long, and should be set less than 50000ms");
}

TEST_CASE("zero limits are refused", "[validate]") {
  CHECK(err({"--max-request-bytes=0"}) == "--max-request-bytes must be >0");
  CHECK(err({"--max-txn-ops=0"}) == "--max-txn-ops must be >0");
}

TEST_CASE("listen URLs must name an IP or localhost (etcd's text)", "[validate]") {
  CHECK(err({"--listen-client-urls", "http://myhost:2379", "--advertise-client-urls",
             "http://127.0.0.1:2379"}) == "expected IP in URL for binding (http://myhost:2379)");
  CHECK(err({"--listen-peer-urls", "http://peerhost:2380"}) ==
        "expected IP in URL for binding (http://peerhost:2380)");
}

TEST_CASE("advertise URLs need a real port", "[validate]") {
  CHECK(err({"--advertise-client-urls", "http://127.0.0.1:0"}) ==
        "--advertise-client-urls \"http://127.0.0.1:0\" must name a port other than 0");
}

TEST_CASE("listening on explicit client URLs needs advertise URLs (etcd's text)", "[validate]") {
  CHECK(err({"--listen-client-urls", "http://127.0.0.1:2379"}) ==
        "--advertise-client-urls is required when --listen-client-urls is set explicitly");
  CHECK(err({}, {{"ETCD_LISTEN_CLIENT_URLS", "http://127.0.0.1:2379"}}) ==
        "--advertise-client-urls is required when --listen-client-urls is set explicitly");
}

TEST_CASE("the local name must be in the initial cluster (etcd's text)", "[validate]") {
  CHECK(err(infra1({"--initial-cluster", "infra2=http://127.0.0.1:22380"})) ==
        "couldn't find local name \"infra1\" in the initial cluster configuration");
  CHECK(err(infra1({"--initial-cluster", "infra2=http://127.0.0.1:22380", "--initial-cluster-state",
                    "existing"})) ==
        "couldn't find local name \"infra1\" in the initial cluster configuration");
}

TEST_CASE("a new member's advertised peer URLs must match its initial-cluster entry (etcd's text)",
          "[validate]") {
  CHECK(err(infra1({"--initial-cluster", "infra1=http://127.0.0.1:22380"})) ==
        "--initial-cluster has infra1=http://127.0.0.1:22380 but missing from "
        "--initial-advertise-peer-urls=http://127.0.0.1:12380 (resolved urls: "
        "\"http://127.0.0.1:12380\" != "
        "\"http://127.0.0.1:22380\")");
  CHECK(
      err(infra1(
          {"--initial-cluster", "infra1=http://127.0.0.1:12380,infra1=http://127.0.0.1:13380"})) ==
      "--initial-cluster has infra1=http://127.0.0.1:13380 but missing from "
      "--initial-advertise-peer-urls=http://127.0.0.1:12380 (len([\"http://127.0.0.1:12380\"]) != "
      "len([\"http://127.0.0.1:12380\" \"http://127.0.0.1:13380\"]))");
  CHECK(
      err(infra1({"--initial-advertise-peer-urls", "http://127.0.0.1:12380,http://127.0.0.1:13380",
                  "--initial-cluster", "infra1=http://127.0.0.1:12380"})) ==
      "--initial-advertise-peer-urls has http://127.0.0.1:13380 but missing from "
      "--initial-cluster=infra1=http://127.0.0.1:12380,infra1=http://127.0.0.1:13380");
}

TEST_CASE("the advertise check is skipped when joining an existing cluster", "[validate]") {
  const Config c = ok(infra1({"--initial-cluster", "infra1=http://127.0.0.1:22380",
                              "--initial-cluster-state", "existing"}));
  CHECK(c.initial_cluster_state == ClusterState::kExisting);
}

TEST_CASE("a URL used twice in the initial cluster is refused (etcd's text)", "[validate]") {
  CHECK(err(infra1({"--initial-cluster",
                    "infra1=http://127.0.0.1:12380,infra2=http://127.0.0.1:12380"})) ==
        "initial cluster infra1=http://127.0.0.1:12380,infra2=http://127.0.0.1:12380 has duplicate "
        "url");
  CHECK(err(infra1({"--initial-cluster",
                    "infra2=http://127.0.0.1:22380,infra1=http://127.0.0.1:12380,"
                    "infra3=http://127.0.0.1:22380"})) ==
        "initial cluster infra1=http://127.0.0.1:12380,infra2=http://127.0.0.1:22380,"
        "infra3=http://127.0.0.1:22380 has duplicate url");
}

TEST_CASE("a repeated name gives that member several peer URLs, as in etcd", "[validate]") {
  const Config c = ok(infra1({"--initial-advertise-peer-urls",
                              "http://127.0.0.1:12380,http://10.0.0.1:12380", "--initial-cluster",
                              "infra1=http://127.0.0.1:12380,infra2=http://127.0.0.1:22380,"
                              "infra1=http://10.0.0.1:12380"}));
  REQUIRE(c.initial_cluster.size() == 2);
  CHECK(c.initial_cluster[0].first == "infra1");
  CHECK(url_strings(c.initial_cluster[0].second) ==
        std::vector<std::string>{"http://127.0.0.1:12380", "http://10.0.0.1:12380"});
}

TEST_CASE("without --initial-cluster the cluster is this member alone", "[validate]") {
  const Config c = ok(kInfra1);
  REQUIRE(c.initial_cluster.size() == 1);
  CHECK(c.initial_cluster[0].first == "infra1");
  CHECK(url_strings(c.initial_cluster[0].second) ==
        std::vector<std::string>{"http://127.0.0.1:12380"});
}

TEST_CASE("auto-compaction-retention must fit its mode", "[validate]") {
  CHECK(ok({"--auto-compaction-retention=1"}).auto_compaction_retention == "1");
  CHECK(ok({"--auto-compaction-retention=1h30m"}).auto_compaction_retention == "1h30m");
  CHECK(ok({"--auto-compaction-retention=0.5h"}).auto_compaction_retention == "0.5h");
  CHECK(err({"--auto-compaction-retention=soon"}) ==
        "invalid auto-compaction-retention \"soon\" for periodic mode (expected hours such as "
        "\"1\" or a "
        "duration such as \"30m\")");
  CHECK(err({"--auto-compaction-retention=-1h"}) ==
        "invalid auto-compaction-retention \"-1h\" for periodic mode (expected hours such as \"1\" "
        "or a "
        "duration such as \"30m\")");
  CHECK(err({"--auto-compaction-mode=revision", "--auto-compaction-retention=5m"}) ==
        "invalid auto-compaction-retention \"5m\" for revision mode (expected a number of "
        "revisions)");
}

TEST_CASE("a learner cannot force a new cluster", "[validate]") {
  CHECK(err({"--role=learner", "--force-new-cluster"}) ==
        "--force-new-cluster cannot be used by a learner (role = learner): a new cluster needs a "
        "voting member");
}

TEST_CASE("an empty name is refused", "[validate]") {
  CHECK(err({"--name="}) == "--name must not be empty");
}

TEST_CASE("bounded reads need at least one bound, and the error names both keys",
          "[validate][replica]") {
  const std::string both_zero =
      "--replica-read-policy (replica.read_policy) bounded needs a bound, but "
      "--replica-max-lag-ms (replica.max_lag_ms) and --replica-max-lag-revisions "
      "(replica.max_lag_revisions) are both 0: set one of them above 0";
  CHECK(err({"--replica-read-policy=bounded", "--replica-max-lag-ms=0"}) == both_zero);
  CHECK(err({"--replica-read-policy=bounded", "--replica-max-lag-ms=0",
             "--replica-max-lag-revisions=0"}) == both_zero);
  // The default time bound (1000 ms) is a bound; so is a revision bound alone.
  CHECK(ok({"--replica-read-policy=bounded"}).replica.max_lag_ms == 1000);
  CHECK(ok({"--replica-read-policy=bounded", "--replica-max-lag-ms=0",
            "--replica-max-lag-revisions=100"})
            .replica.max_lag_revisions == 100);
  // Both bounds 0 only matter for bounded.
  CHECK(ok({"--replica-read-policy=linearizable", "--replica-max-lag-ms=0"}).replica.max_lag_ms ==
        0);
}

TEST_CASE("replica.join makes a learner that joins an existing cluster", "[validate][replica]") {
  const Config c = ok(infra1({"--replica-join=http://127.0.0.1:2379"}));
  CHECK(c.role == Role::kLearner);
  CHECK(c.initial_cluster_state == ClusterState::kExisting);
  // Saying the same thing explicitly is fine.
  const Config same = ok(infra1({"--replica-join=http://127.0.0.1:2379", "--role=learner",
                                 "--initial-cluster-state=existing"}));
  CHECK(same.role == Role::kLearner);
  CHECK(same.initial_cluster_state == ClusterState::kExisting);
  // Without join nothing is derived.
  const Config plain = ok(kInfra1);
  CHECK(plain.role == Role::kVoter);
  CHECK(plain.initial_cluster_state == ClusterState::kNew);
}

TEST_CASE("replica.join cannot be combined with --force-new-cluster", "[validate][replica]") {
  CHECK(err({"--replica-join=http://127.0.0.1:2379", "--force-new-cluster"}) ==
        "--replica-join (replica.join) cannot be used with --force-new-cluster: a member that "
        "joins an existing cluster cannot start a new one");
  CHECK(err({"--force-new-cluster"}, {{"ETCD_REPLICA_JOIN", "http://127.0.0.1:2379"}}) ==
        "--replica-join (replica.join) cannot be used with --force-new-cluster: a member that "
        "joins an existing cluster cannot start a new one");
}

TEST_CASE("replica.join refuses an explicit voter role or a new cluster state",
          "[validate][replica]") {
  CHECK(err({"--replica-join=http://127.0.0.1:2379", "--role=voter"}) ==
        "--replica-join (replica.join) makes this member a learner, but --role (replica.role) is "
        "voter: drop --role or set it to learner");
  CHECK(err({"--replica-join=http://127.0.0.1:2379", "--initial-cluster-state=new"}) ==
        "--replica-join (replica.join) joins an existing cluster, but --initial-cluster-state "
        "(cluster.state) is new: drop it or set it to existing");
}

TEST_CASE("replica policies on a voter are allowed and kept", "[validate][replica]") {
  const Config c = ok({"--role=voter", "--replica-read-policy=serializable",
                       "--replica-writes=forward", "--replica-promote=standby"});
  CHECK(c.role == Role::kVoter);
  CHECK(c.replica.read_policy == ReadPolicy::kSerializable);
  CHECK(c.replica.writes == WritePolicy::kForward);
  CHECK(c.replica.promote == PromoteMode::kStandby);
}
