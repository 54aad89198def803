// Command-line flags: etcd 3.4.23's names, defaults, syntax and errors.
#include "config/flags.h"

#include <catch2/catch.hpp>
#include <limits>

#include "helpers.h"

using namespace outpost::config;
using namespace outpost::config::testing;
using namespace std::chrono_literals;

TEST_CASE("defaults equal etcd 3.4.23's", "[flags][defaults]") {
  const Config c = ok({});
  CHECK(c.name == "default");
  CHECK(c.data_dir == "default.etcd");
  CHECK(c.wal_dir == "");
  CHECK(url_strings(c.listen_client_urls) == std::vector<std::string>{"http://localhost:2379"});
  CHECK(url_strings(c.advertise_client_urls) == std::vector<std::string>{"http://localhost:2379"});
  CHECK(url_strings(c.listen_peer_urls) == std::vector<std::string>{"http://localhost:2380"});
  CHECK(url_strings(c.initial_advertise_peer_urls) ==
        std::vector<std::string>{"http://localhost:2380"});
  REQUIRE(c.initial_cluster.size() == 1);
  CHECK(c.initial_cluster[0].first == "default");
  CHECK(url_strings(c.initial_cluster[0].second) ==
        std::vector<std::string>{"http://localhost:2380"});
  CHECK(c.initial_cluster_state == ClusterState::kNew);
  CHECK(c.initial_cluster_token == "etcd-cluster");
  CHECK(c.heartbeat_interval == 100ms);
  CHECK(c.election_timeout == 1000ms);
  CHECK(c.snapshot_count == 100000);
  CHECK(c.max_request_bytes == 1572864);
  CHECK(c.max_txn_ops == 128);
  CHECK(c.quota_backend_bytes == 0);
  CHECK(c.strict_reconfig_check);
  CHECK_FALSE(c.force_new_cluster);
  CHECK(c.logger == Logger::kCapnslog);
  CHECK(c.log_outputs == std::vector<std::string>{"stderr"});
  CHECK(c.log_level == LogLevel::kInfo);
  CHECK_FALSE(c.debug);
  CHECK_FALSE(c.enable_pprof);
  CHECK(c.enable_grpc_gateway);
  CHECK(c.auto_compaction_mode == CompactionMode::kPeriodic);
  CHECK(c.auto_compaction_retention == "0");
  // Outpost extensions.
  CHECK(c.max_learners == 1);
  CHECK(c.snapshot_rate_limit == 64ull * 1024 * 1024);
  CHECK(c.role == Role::kVoter);
  CHECK(c.replica.read_policy == ReadPolicy::kRefuse);
  CHECK(c.replica.writes == WritePolicy::kRefuse);
  CHECK(c.replica.promote == PromoteMode::kManual);
  CHECK(c.replica.max_lag_ms == 1000);
  CHECK(c.replica.max_lag_revisions == 0);
  CHECK(c.replica.promote_after_s == 10);
  CHECK(c.replica.failover_after_s == 10);
  CHECK(c.replica.join.empty());
  CHECK(c.replica.join_timeout_s == 60);
  CHECK(c.ignored_flags.empty());
  CHECK(c.config_file.empty());
}

TEST_CASE("a default-constructed Config already holds the defaults", "[flags][defaults]") {
  const Config c;
  CHECK(c.listen_client_urls.size() == 1);
  CHECK(c.listen_client_urls[0].str() == "http://localhost:2379");
  CHECK(c.initial_cluster.size() == 1);
  CHECK(c.initial_cluster[0].first == "default");
}

TEST_CASE("the etcd local Procfile's infra1 command line parses", "[flags][procfile]") {
  const Config c = ok(
      {"--name", "infra1", "--listen-client-urls", "http://127.0.0.1:2379",
       "--advertise-client-urls", "http://127.0.0.1:2379", "--listen-peer-urls",
       "http://127.0.0.1:12380", "--initial-advertise-peer-urls", "http://127.0.0.1:12380",
       "--initial-cluster-token", "etcd-cluster-1", "--initial-cluster",
       "infra1=http://127.0.0.1:12380,infra2=http://127.0.0.1:22380,infra3=http://127.0.0.1:32380",
       "--initial-cluster-state", "new", "--enable-pprof", "--logger=zap", "--log-outputs=stderr"});
  CHECK(c.name == "infra1");
  CHECK(c.data_dir == "infra1.etcd");
  CHECK(url_strings(c.listen_client_urls) == std::vector<std::string>{"http://127.0.0.1:2379"});
  CHECK(url_strings(c.listen_peer_urls) == std::vector<std::string>{"http://127.0.0.1:12380"});
  CHECK(c.initial_cluster_token == "etcd-cluster-1");
  REQUIRE(c.initial_cluster.size() == 3);
  CHECK(c.initial_cluster[0].first == "infra1");
  CHECK(c.initial_cluster[1].first == "infra2");
  CHECK(c.initial_cluster[2].first == "infra3");
  CHECK(url_strings(c.initial_cluster[2].second) ==
        std::vector<std::string>{"http://127.0.0.1:32380"});
  CHECK(c.enable_pprof);
  CHECK(c.logger == Logger::kZap);
  CHECK(c.log_outputs == std::vector<std::string>{"stderr"});
}

TEST_CASE("the Procfile's infra2 and infra3 lines parse too", "[flags][procfile]") {
  for (int i : {2, 3}) {
    const std::string n = std::to_string(i);
    const Config c =
        ok({"--name", "infra" + n, "--listen-client-urls", "http://127.0.0.1:" + n + "2379",
            "--advertise-client-urls", "http://127.0.0.1:" + n + "2379", "--listen-peer-urls",
            "http://127.0.0.1:" + n + "2380", "--initial-advertise-peer-urls",
            "http://127.0.0.1:" + n + "2380", "--initial-cluster-token", "etcd-cluster-1",
            "--initial-cluster",
            "infra1=http://127.0.0.1:12380,infra2=http://127.0.0.1:22380,infra3=http://"
            "127.0.0.1:32380",
            "--initial-cluster-state", "new", "--enable-pprof", "--logger=zap",
            "--log-outputs=stderr"});
    CHECK(c.name == "infra" + n);
    CHECK(c.advertise_client_urls[0].port == std::stoi(n + "2379"));
  }
}

TEST_CASE("value flags take --f=v, --f v, -f=v and -f v", "[flags][syntax]") {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--name=a"}, {"--name", "a"}, {"-name=a"}, {"-name", "a"}}) {
    INFO(args[0]);
    CHECK(ok(args).name == "a");
  }
}

TEST_CASE("a value may itself start with a dash or contain '='", "[flags][syntax]") {
  CHECK(ok({"--name", "-odd"}).name == "-odd");
  CHECK(ok({"--initial-cluster-token=a=b"}).initial_cluster_token == "a=b");
}

TEST_CASE("boolean flags take --x, --x=true|false and Go's other spellings", "[flags][syntax]") {
  CHECK(ok({"--force-new-cluster"}).force_new_cluster);
  CHECK(ok({"-force-new-cluster"}).force_new_cluster);
  CHECK(ok({"--force-new-cluster=true"}).force_new_cluster);
  CHECK_FALSE(ok({"--force-new-cluster=false"}).force_new_cluster);
  CHECK_FALSE(ok({"--strict-reconfig-check=false"}).strict_reconfig_check);
  CHECK_FALSE(ok({"--strict-reconfig-check=0"}).strict_reconfig_check);
  CHECK_FALSE(ok({"--strict-reconfig-check=F"}).strict_reconfig_check);
  CHECK(ok({"--debug=TRUE"}).debug);
  CHECK(ok({"--debug=1"}).debug);
}

TEST_CASE("a boolean flag does not swallow the next argument", "[flags][syntax]") {
  // As in Go: "--strict-reconfig-check false" sets true, then "false" is a stray argument.
  CHECK(err({"--strict-reconfig-check", "false"}) == "'false' is not a valid flag");
  const Config c = ok({"--enable-pprof", "--name", "x"});
  CHECK(c.enable_pprof);
  CHECK(c.name == "x");
}

TEST_CASE("the last occurrence of a flag wins", "[flags][syntax]") {
  CHECK(ok({"--name=a", "--name=b"}).name == "b");
}

TEST_CASE("every implemented flag sets its field", "[flags]") {
  const Config c = ok({"--name=n1",
                       "--data-dir=/var/lib/n1",
                       "--wal-dir=/wal",
                       "--listen-client-urls=http://0.0.0.0:2379,https://127.0.0.1:2479",
                       "--auto-tls",
                       "--advertise-client-urls=http://n1.example:2379",
                       "--listen-peer-urls=http://0.0.0.0:2380",
                       "--initial-advertise-peer-urls=http://n1.example:2380",
                       "--initial-cluster=n1=http://n1.example:2380,n2=http://n2.example:2380",
                       "--initial-cluster-state=existing",
                       "--initial-cluster-token=tok",
                       "--heartbeat-interval=50",
                       "--election-timeout=500",
                       "--snapshot-count=5000",
                       "--max-request-bytes=2097152",
                       "--max-txn-ops=256",
                       "--quota-backend-bytes=8589934592",
                       "--strict-reconfig-check=false",
                       "--logger=zap",
                       "--log-outputs=stdout,/tmp/outpost.log",
                       "--log-level=warn",
                       "--auto-compaction-mode=revision",
                       "--auto-compaction-retention=1000",
                       "--max-learners=3",
                       "--snapshot-rate-limit=10MiB",
                       "--role=learner"});
  CHECK(c.name == "n1");
  CHECK(c.data_dir == "/var/lib/n1");
  CHECK(c.wal_dir == "/wal");
  CHECK(url_strings(c.listen_client_urls) ==
        std::vector<std::string>{"http://0.0.0.0:2379", "https://127.0.0.1:2479"});
  CHECK(url_strings(c.advertise_client_urls) == std::vector<std::string>{"http://n1.example:2379"});
  CHECK(url_strings(c.listen_peer_urls) == std::vector<std::string>{"http://0.0.0.0:2380"});
  CHECK(url_strings(c.initial_advertise_peer_urls) ==
        std::vector<std::string>{"http://n1.example:2380"});
  REQUIRE(c.initial_cluster.size() == 2);
  CHECK(c.initial_cluster[1].first == "n2");
  CHECK(c.initial_cluster_state == ClusterState::kExisting);
  CHECK(c.initial_cluster_token == "tok");
  CHECK(c.heartbeat_interval == 50ms);
  CHECK(c.election_timeout == 500ms);
  CHECK(c.snapshot_count == 5000);
  CHECK(c.max_request_bytes == 2097152);
  CHECK(c.max_txn_ops == 256);
  CHECK(c.quota_backend_bytes == 8589934592LL);
  CHECK_FALSE(c.strict_reconfig_check);
  CHECK(c.logger == Logger::kZap);
  CHECK(c.log_outputs == std::vector<std::string>{"stdout", "/tmp/outpost.log"});
  CHECK(c.log_level == LogLevel::kWarn);
  CHECK(c.auto_compaction_mode == CompactionMode::kRevision);
  CHECK(c.auto_compaction_retention == "1000");
  CHECK(c.max_learners == 3);
  CHECK(c.snapshot_rate_limit == 10ull * 1024 * 1024);
  CHECK(c.role == Role::kLearner);
}

TEST_CASE("every --replica-* flag sets its replica field", "[flags][replica]") {
  const Config c = ok({"--replica-read-policy=bounded", "--replica-writes", "forward",
                       "--replica-promote=when-caught-up", "--replica-max-lag-ms=250",
                       "--replica-max-lag-revisions", "40", "--replica-promote-after-s=30",
                       "--replica-failover-after-s=5",
                       "--replica-join=http://10.0.0.1:2379,https://core2.example:2379",
                       "--replica-join-timeout-s=120"});
  CHECK(c.replica.read_policy == ReadPolicy::kBounded);
  CHECK(c.replica.writes == WritePolicy::kForward);
  CHECK(c.replica.promote == PromoteMode::kWhenCaughtUp);
  CHECK(c.replica.max_lag_ms == 250);
  CHECK(c.replica.max_lag_revisions == 40);
  CHECK(c.replica.promote_after_s == 30);
  CHECK(c.replica.failover_after_s == 5);
  CHECK(url_strings(c.replica.join) ==
        std::vector<std::string>{"http://10.0.0.1:2379", "https://core2.example:2379"});
  CHECK(c.replica.join_timeout_s == 120);
}

TEST_CASE("every replica enum spelling is accepted", "[flags][replica]") {
  CHECK(ok({"--replica-read-policy=refuse"}).replica.read_policy == ReadPolicy::kRefuse);
  CHECK(ok({"--replica-read-policy=serializable"}).replica.read_policy ==
        ReadPolicy::kSerializable);
  CHECK(ok({"--replica-read-policy=linearizable"}).replica.read_policy ==
        ReadPolicy::kLinearizable);
  CHECK(ok({"--replica-read-policy=bounded"}).replica.read_policy == ReadPolicy::kBounded);
  CHECK(ok({"--replica-writes=refuse"}).replica.writes == WritePolicy::kRefuse);
  CHECK(ok({"--replica-writes=forward"}).replica.writes == WritePolicy::kForward);
  CHECK(ok({"--replica-promote=manual"}).replica.promote == PromoteMode::kManual);
  CHECK(ok({"--replica-promote=never"}).replica.promote == PromoteMode::kNever);
  CHECK(ok({"--replica-promote=when-caught-up"}).replica.promote == PromoteMode::kWhenCaughtUp);
  CHECK(ok({"--replica-promote=standby"}).replica.promote == PromoteMode::kStandby);
}

TEST_CASE("bad --replica-* values name the flag and the reason", "[flags][replica][errors]") {
  CHECK(err({"--replica-read-policy=x"}) ==
        "invalid value \"x\" for flag --replica-read-policy: expected one of refuse, "
        "serializable, linearizable, bounded");
  CHECK(err({"--replica-read-policy=Bounded"}) ==
        "invalid value \"Bounded\" for flag --replica-read-policy: expected one of refuse, "
        "serializable, linearizable, bounded");
  CHECK(err({"--replica-writes=proxy"}) ==
        "invalid value \"proxy\" for flag --replica-writes: expected one of refuse, forward");
  CHECK(err({"--replica-promote=auto"}) ==
        "invalid value \"auto\" for flag --replica-promote: expected one of manual, never, "
        "when-caught-up, standby");
  CHECK(err({"--replica-max-lag-ms=-1"}) ==
        "invalid value \"-1\" for flag --replica-max-lag-ms: expected a non-negative integer");
  CHECK(err({"--replica-max-lag-ms=1s"}) ==
        "invalid value \"1s\" for flag --replica-max-lag-ms: expected a non-negative integer");
  CHECK(err({"--replica-max-lag-revisions=many"}) ==
        "invalid value \"many\" for flag --replica-max-lag-revisions: expected a non-negative "
        "integer");
  CHECK(err({"--replica-promote-after-s=0"}) ==
        "invalid value \"0\" for flag --replica-promote-after-s: must be greater than 0");
  CHECK(err({"--replica-promote-after-s=-3"}) ==
        "invalid value \"-3\" for flag --replica-promote-after-s: expected a non-negative "
        "integer");
  CHECK(err({"--replica-failover-after-s=0"}) ==
        "invalid value \"0\" for flag --replica-failover-after-s: must be greater than 0");
  CHECK(err({"--replica-failover-after-s=soon"}) ==
        "invalid value \"soon\" for flag --replica-failover-after-s: expected a non-negative "
        "integer");
  CHECK(err({"--replica-join-timeout-s=0"}) ==
        "invalid value \"0\" for flag --replica-join-timeout-s: must be greater than 0");
  CHECK(err({"--replica-join-timeout-s=1.5"}) ==
        "invalid value \"1.5\" for flag --replica-join-timeout-s: expected a non-negative "
        "integer");
  CHECK(err({"--replica-join=grpc://10.0.0.1:2379"}) ==
        "invalid value \"grpc://10.0.0.1:2379\" for flag --replica-join: URL scheme must be http "
        "or https: grpc://10.0.0.1:2379");
  CHECK(err({"--replica-join=10.0.0.1:2379"}) ==
        "invalid value \"10.0.0.1:2379\" for flag --replica-join: URL scheme must be http or "
        "https: 10.0.0.1:2379");
  CHECK(err({"--replica-join=http://10.0.0.1"}) ==
        "invalid value \"http://10.0.0.1\" for flag --replica-join: URL address does not have "
        "the form \"host:port\": http://10.0.0.1");
  CHECK(err({"--replica-join="}) == "invalid value \"\" for flag --replica-join: no URLs given");
  CHECK(err({"--replica-join"}) == "flag needs an argument: -replica-join");
}

TEST_CASE("--debug forces the debug log level", "[flags]") {
  CHECK(ok({"--debug", "--log-level=error"}).log_level == LogLevel::kDebug);
}

TEST_CASE("--log-output is etcd 3.4's old spelling of --log-outputs", "[flags]") {
  CHECK(ok({"--log-output=stdout"}).log_outputs == std::vector<std::string>{"stdout"});
}

TEST_CASE("URL lists drop duplicates and keep order", "[flags]") {
  const Config c =
      ok({"--listen-peer-urls=http://127.0.0.2:2380,http://127.0.0.1:2380,http://127.0.0.2:2380"});
  CHECK(url_strings(c.listen_peer_urls) ==
        std::vector<std::string>{"http://127.0.0.2:2380", "http://127.0.0.1:2380"});
}

TEST_CASE("snapshot-rate-limit takes bytes or sizes with units", "[flags]") {
  CHECK(ok({"--snapshot-rate-limit=1048576"}).snapshot_rate_limit == 1048576);
  CHECK(ok({"--snapshot-rate-limit=100MB"}).snapshot_rate_limit == 100000000);
  CHECK(ok({"--snapshot-rate-limit=2GiB"}).snapshot_rate_limit == 2ull << 30);
  CHECK(ok({"--snapshot-rate-limit=512 KiB"}).snapshot_rate_limit == 512 * 1024);
  CHECK(ok({"--snapshot-rate-limit=0"}).snapshot_rate_limit == 0);
  CHECK(err({"--snapshot-rate-limit=fast"}) ==
        "invalid value \"fast\" for flag --snapshot-rate-limit: expected a byte count such as "
        "67108864, "
        "\"64MiB\" or \"100MB\"");
  CHECK(err({"--snapshot-rate-limit=5XB"}) ==
        "invalid value \"5XB\" for flag --snapshot-rate-limit: expected a byte count such as "
        "67108864, "
        "\"64MiB\" or \"100MB\"");
}

TEST_CASE("quota-backend-bytes may be negative (no quota), as in etcd", "[flags]") {
  CHECK(ok({"--quota-backend-bytes=-1"}).quota_backend_bytes == -1);
}

TEST_CASE("snapshot-count 0 means etcd's default", "[flags]") {
  CHECK(ok({"--snapshot-count=0"}).snapshot_count == 100000);
}

TEST_CASE("data-dir follows the name unless given", "[flags]") {
  CHECK(ok({"--name=infra9"}).data_dir == "infra9.etcd");
  CHECK(ok({"--name=infra9", "--data-dir="}).data_dir == "infra9.etcd");
  CHECK(ok({"--name=infra9", "--data-dir=/d"}).data_dir == "/d");
}

TEST_CASE("syntax errors use Go's flag package wording", "[flags][errors]") {
  CHECK(err({"--bogus"}) == "flag provided but not defined: -bogus");
  CHECK(err({"-bogus=1"}) == "flag provided but not defined: -bogus");
  CHECK(err({"--name"}) == "flag needs an argument: -name");
  CHECK(err({"---name=x"}) == "bad flag syntax: ---name=x");
  CHECK(err({"--=x"}) == "bad flag syntax: --=x");
  CHECK(err({"extra"}) == "'extra' is not a valid flag");
  CHECK(err({"--name=a", "--", "extra"}) == "'extra' is not a valid flag");
  CHECK(err({"-"}) == "'-' is not a valid flag");
}

TEST_CASE("a trailing -- with nothing after it is fine", "[flags][syntax]") {
  CHECK(ok({"--name=a", "--"}).name == "a");
}

TEST_CASE("bad flag values name the flag and the reason", "[flags][errors]") {
  CHECK(err({"--snapshot-count", "abc"}) ==
        "invalid value \"abc\" for flag --snapshot-count: expected a non-negative integer");
  CHECK(err({"--heartbeat-interval=-5"}) ==
        "invalid value \"-5\" for flag --heartbeat-interval: expected a non-negative integer");
  CHECK(err({"--max-txn-ops=1.5"}) ==
        "invalid value \"1.5\" for flag --max-txn-ops: expected a non-negative integer");
  CHECK(err({"--quota-backend-bytes=lots"}) ==
        "invalid value \"lots\" for flag --quota-backend-bytes: expected an integer");
  CHECK(err({"--max-learners=99999999999"}) ==
        "invalid value \"99999999999\" for flag --max-learners: value is too large");
  CHECK(err({"--strict-reconfig-check=maybe"}) ==
        "invalid value \"maybe\" for flag --strict-reconfig-check: expected true or false");
  CHECK(
      err({"--initial-cluster-state", "bogus"}) ==
      "invalid value \"bogus\" for flag --initial-cluster-state: expected \"new\" or \"existing\"");
  CHECK(err({"--logger=foo"}) ==
        "invalid value \"foo\" for flag --logger: unknown logger option \"foo\" (expected \"zap\" "
        "or \"capnslog\")");
  CHECK(err({"--log-level=chatty"}) ==
        "invalid value \"chatty\" for flag --log-level: expected one of debug, info, warn, error, "
        "panic, fatal");
  CHECK(err({"--log-outputs=stderr,"}) ==
        "invalid value \"stderr,\" for flag --log-outputs: empty log output (expected stderr, "
        "stdout, default "
        "or a file path)");
  CHECK(err({"--auto-compaction-mode=foo"}) ==
        "invalid value \"foo\" for flag --auto-compaction-mode: unknown auto-compaction-mode "
        "\"foo\" (expected "
        "\"periodic\" or \"revision\")");
  CHECK(err({"--role=observer"}) ==
        "invalid value \"observer\" for flag --role: expected \"voter\" or \"learner\"");
  CHECK(err({"--version=maybe"}) ==
        "invalid value \"maybe\" for flag --version: expected true or false");
}

TEST_CASE("bad URLs in flags use etcd's URL wording", "[flags][errors]") {
  CHECK(err({"--listen-client-urls", "foo://127.0.0.1:2379"}) ==
        "invalid value \"foo://127.0.0.1:2379\" for flag --listen-client-urls: URL scheme must be "
        "http or "
        "https: foo://127.0.0.1:2379");
  CHECK(err({"--listen-client-urls", "http://127.0.0.1"}) ==
        "invalid value \"http://127.0.0.1\" for flag --listen-client-urls: URL address does not "
        "have the form "
        "\"host:port\": http://127.0.0.1");
  CHECK(err({"--advertise-client-urls", "http://127.0.0.1:2379/x"}) ==
        "invalid value \"http://127.0.0.1:2379/x\" for flag --advertise-client-urls: URL must not "
        "contain a "
        "path: http://127.0.0.1:2379/x");
  CHECK(err({"--listen-peer-urls="}) ==
        "invalid value \"\" for flag --listen-peer-urls: no URLs given");
}

TEST_CASE("bad --initial-cluster values say which entry is wrong", "[flags][errors]") {
  CHECK(err({"--initial-cluster=infra1"}) ==
        "invalid value \"infra1\" for flag --initial-cluster: entry \"infra1\" is not of the form "
        "name=peer-url");
  CHECK(err({"--initial-cluster==http://127.0.0.1:2380"}) ==
        "invalid value \"=http://127.0.0.1:2380\" for flag --initial-cluster: entry "
        "\"=http://127.0.0.1:2380\" "
        "has an empty member name");
  CHECK(err({"--initial-cluster=a=http://127.0.0.1"}) ==
        "invalid value \"a=http://127.0.0.1\" for flag --initial-cluster: member \"a\": URL "
        "address does not "
        "have the form \"host:port\": http://127.0.0.1");
  CHECK(err({"--initial-cluster=,"}) ==
        "invalid value \",\" for flag --initial-cluster: no members given (expected "
        "name=peer-url,...)");
}

TEST_CASE("--config-file (etcd's YAML) is refused with a pointer to --config", "[flags][errors]") {
  const std::string want =
      "--config-file (etcd's YAML configuration file) is not supported; use --config FILE.toml "
      "(see "
      "config/README.md)";
  CHECK(err({"--config-file", "etcd.yaml"}) == want);
  CHECK(err({"--config-file=etcd.yaml"}) == want);
}

TEST_CASE("--config needs a file name", "[flags][errors]") {
  CHECK(err({"--config="}) == "--config needs the path of a TOML file");
  CHECK(err({"--config"}) == "flag needs an argument: -config");
}

TEST_CASE("-h, --help and -help ask for help", "[flags][help]") {
  for (const char* flag : {"-h", "--help", "-help", "--h"}) {
    const LoadResult r = run({"--name=a", flag});
    INFO(flag);
    CHECK(r.show_help);
    CHECK_FALSE(r.config);
    CHECK(r.error.empty());
  }
}

TEST_CASE("help stops parsing: later errors are not reported", "[flags][help]") {
  const LoadResult r = run({"--help", "--bogus"});
  CHECK(r.show_help);
  CHECK(r.error.empty());
}

TEST_CASE("--version asks for the version after the whole line parsed", "[flags][help]") {
  const LoadResult r = run({"--version"});
  CHECK(r.show_version);
  CHECK_FALSE(r.config);
  CHECK(r.error.empty());
  CHECK(run({"--version", "--bogus"}).error == "flag provided but not defined: -bogus");
  CHECK_FALSE(run({"--version=false"}).show_version);
}

TEST_CASE("every flag etcd 3.4.23 lists is accepted", "[flags][compat]") {
  // Taken from `etcd --help` of etcd 3.4.23 (value flags with a sample value).
  const std::vector<std::string> value_flags = {"max-snapshots=5",
                                                "max-wals=5",
                                                "backend-batch-interval=10ms",
                                                "backend-batch-limit=100",
                                                "max-concurrent-streams=100",
                                                "grpc-keepalive-min-time=5s",
                                                "grpc-keepalive-interval=2h",
                                                "grpc-keepalive-timeout=20s",
                                                "discovery-fallback=proxy",
                                                "discovery-proxy=http://p:1",
                                                "discovery-srv-name=x",
                                                "cors=*",
                                                "host-whitelist=*",
                                                "metrics=basic",
                                                "proxy=off",
                                                "proxy-failure-wait=5000",
                                                "proxy-refresh-interval=30000",
                                                "proxy-dial-timeout=1000",
                                                "proxy-write-timeout=5000",
                                                "proxy-read-timeout=0",
                                                "experimental-corrupt-check-time=0s",
                                                "experimental-enable-v2v3=/v2",
                                                "experimental-backend-bbolt-freelist-type=array",
                                                "experimental-compaction-batch-limit=1000",
                                                "experimental-watch-progress-notify-interval=10m",
                                                "log-package-levels=etcdmain=INFO"};
  const std::vector<std::string> bool_flags = {"initial-election-tick-advance",
                                               "pre-vote",
                                               "enable-v2",
                                               "experimental-initial-corrupt-check",
                                               "experimental-enable-lease-checkpoint",
                                               "experimental-enable-lease-checkpoint-persist"};
  std::vector<std::string> args;
  for (const auto& f : value_flags) args.push_back("--" + f);
  for (const auto& f : bool_flags) args.push_back("--" + f);
  const LoadResult r = run(args);
  INFO(r.error);
  REQUIRE(r.config);
  const Config& c = *r.config;
  CHECK(c.ignored_flags.size() == value_flags.size() + bool_flags.size());
  CHECK(c.ignored_flags.at("discovery-srv-name") == "x");
  CHECK(c.ignored_flags.at("log-package-levels") == "etcdmain=INFO");
  CHECK(c.ignored_flags.at("pre-vote") == "true");
}

TEST_CASE("--unsafe-no-fsync and the peer SAN check flag are honoured, not ignored",
          "[flags][tls]") {
  const Config d = ok({});
  CHECK_FALSE(d.unsafe_no_fsync);
  CHECK_FALSE(d.peer_security.skip_client_san_verify);
  const Config c = ok({"--unsafe-no-fsync", "--experimental-peer-skip-client-san-verification"});
  CHECK(c.unsafe_no_fsync);
  CHECK(c.peer_security.skip_client_san_verify);
  CHECK(c.ignored_flags.empty());
  CHECK(err({"--unsafe-no-fsync=maybe"}).find("--unsafe-no-fsync") != std::string::npos);
}

TEST_CASE("the apply warning duration takes Go durations under both names", "[flags]") {
  CHECK(ok({}).warning_apply_duration_ns == 100'000'000);
  CHECK(ok({"--experimental-warning-apply-duration=250ms"}).warning_apply_duration_ns ==
        250'000'000);
  CHECK(ok({"--warning-apply-duration=1m30s"}).warning_apply_duration_ns == 90'000'000'000);
  CHECK(ok({"--warning-apply-duration=1.5s"}).warning_apply_duration_ns == 1'500'000'000);
  CHECK(err({"--warning-apply-duration=fast"}) ==
        "invalid value \"fast\" for flag --warning-apply-duration: time: invalid duration "
        "\"fast\"");
  CHECK(err({"--warning-apply-duration=10"}) ==
        "invalid value \"10\" for flag --warning-apply-duration: time: missing unit in duration "
        "\"10\"");
}

TEST_CASE("ignored flags keep their raw value, space form included", "[flags][compat]") {
  const Config c =
      ok({"--discovery", "https://discovery.etcd.io/x", "--pre-vote=false", "--cors", "a,b"});
  CHECK(c.ignored_flags.at("discovery") == "https://discovery.etcd.io/x");
  CHECK(c.ignored_flags.at("pre-vote") == "false");
  CHECK(c.ignored_flags.at("cors") == "a,b");
}

TEST_CASE("etcd's own legacy ignored flags are accepted without a value", "[flags][compat]") {
  const Config c = ok({"--v", "--snapshot", "--force", "--name=x"});
  CHECK(c.name == "x");
  CHECK(c.ignored_flags.count("snapshot") == 1);
}

TEST_CASE("an ignored boolean flag still needs a boolean", "[flags][compat]") {
  CHECK(err({"--auto-tls=yes"}) ==
        "invalid value \"yes\" for flag --auto-tls: expected true or false");
}

TEST_CASE("one warning names the ignored flags", "[flags][compat]") {
  const LoadResult r = run({"--pre-vote", "--enable-pprof", "--metrics=basic"});
  REQUIRE(r.config);
  REQUIRE(r.warnings.size() == 1);
  CHECK(r.warnings[0] ==
        "ignoring etcd flags that Outpost does not use: --metrics, --pre-vote, --enable-pprof");
  CHECK(run({}).warnings.empty());
}

TEST_CASE("usage() mentions every implemented flag", "[flags][help]") {
  const std::string text = usage();
  for (const auto& f : detail::flag_table()) {
    if (!f.set || f.name == "log-output") continue;
    INFO(f.name);
    const std::string flag = "--" + std::string(f.name);
    const auto at = text.find(flag + " ");
    CHECK((at != std::string::npos || text.find(flag + "[=BOOL]") != std::string::npos ||
           text.find(flag + ",") != std::string::npos));
  }
  CHECK(text.find("--config FILE") != std::string::npos);
  CHECK(text.back() == '\n');
}

TEST_CASE("enum names round-trip the flag spellings", "[flags]") {
  CHECK(std::string(to_string(ClusterState::kExisting)) == "existing");
  CHECK(std::string(to_string(Role::kLearner)) == "learner");
  CHECK(std::string(to_string(Logger::kZap)) == "zap");
  CHECK(std::string(to_string(LogLevel::kWarn)) == "warn");
  CHECK(std::string(to_string(CompactionMode::kRevision)) == "revision");
  CHECK(std::string(to_string(ReadPolicy::kRefuse)) == "refuse");
  CHECK(std::string(to_string(ReadPolicy::kSerializable)) == "serializable");
  CHECK(std::string(to_string(ReadPolicy::kLinearizable)) == "linearizable");
  CHECK(std::string(to_string(ReadPolicy::kBounded)) == "bounded");
  CHECK(std::string(to_string(WritePolicy::kRefuse)) == "refuse");
  CHECK(std::string(to_string(WritePolicy::kForward)) == "forward");
  CHECK(std::string(to_string(PromoteMode::kManual)) == "manual");
  CHECK(std::string(to_string(PromoteMode::kNever)) == "never");
  CHECK(std::string(to_string(PromoteMode::kWhenCaughtUp)) == "when-caught-up");
  CHECK(std::string(to_string(PromoteMode::kStandby)) == "standby");
}

TEST_CASE("spaces around list items are ignored and empty cluster entries skipped, as in etcd",
          "[flags]") {
  const Config c = ok({"--name=a", "--initial-advertise-peer-urls= http://127.0.0.1:1 ",
                       "--initial-cluster=a=http://127.0.0.1:1, b=http://127.0.0.1:2,,"});
  REQUIRE(c.initial_cluster.size() == 2);
  CHECK(c.initial_cluster[1].first == "b");
  CHECK(url_strings(c.initial_advertise_peer_urls) ==
        std::vector<std::string>{"http://127.0.0.1:1"});
}

TEST_CASE("auth flags are honoured: token type, bcrypt cost, token TTL", "[flags][auth]") {
  const Config c = ok({"--auth-token=simple", "--bcrypt-cost=4", "--auth-token-ttl=60"});
  CHECK(c.auth_token == "simple");
  CHECK(c.bcrypt_cost == 4);
  CHECK(c.auth_token_ttl == 60);
  CHECK(c.ignored_flags.count("bcrypt-cost") == 0);
  const LoadResult jwt = run({"--auth-token=jwt,pub-key=a.pub,priv-key=a.priv,sign-method=RS256"});
  CHECK_FALSE(jwt.config);
  CHECK(jwt.error.find("JWT tokens are not supported yet") != std::string::npos);
  CHECK_FALSE(run({"--auth-token=magic"}).config);
}

TEST_CASE("a security flag Outpost does not implement is refused, not ignored", "[flags][tls]") {
  const LoadResult r = run({"--peer-cert-allowed-hostname=peer.example"});
  CHECK_FALSE(r.config);
  CHECK(r.error ==
        "invalid value \"peer.example\" for flag --peer-cert-allowed-hostname: not supported by "
        "Outpost (use --peer-cert-allowed-cn)");
}

TEST_CASE("--listen-metrics-urls takes http URLs and refuses https ones, naming the flag",
          "[flags]") {
  const Config c = ok({"--listen-metrics-urls", "http://127.0.0.1:2381,http://127.0.0.1:2382"});
  CHECK(url_strings(c.listen_metrics_urls) ==
        std::vector<std::string>{"http://127.0.0.1:2381", "http://127.0.0.1:2382"});
  CHECK(c.ignored_flags.empty());
  CHECK(ok({}).listen_metrics_urls.empty());
  const std::string e = err({"--listen-metrics-urls", "https://127.0.0.1:2381"});
  CHECK(e.find("--listen-metrics-urls https://127.0.0.1:2381") != std::string::npos);
  CHECK(e.find("does not serve HTTP over TLS") != std::string::npos);
  CHECK(err({"--listen-metrics-urls", "http://example.com:2381"}) ==
        "expected IP in URL for binding (http://example.com:2381)");
}

TEST_CASE("a huge --auto-compaction-retention saturates instead of overflowing", "[flags]") {
  // Found by tests/fuzz/fuzz_flags: hours * 3.6e12 ns overflowed int64 (UB) in validate.cc.
  Config c = ok({"--auto-compaction-retention=99909999999999"});
  CHECK(c.auto_compaction_period_ns == std::numeric_limits<int64_t>::max());
  c = ok({"--auto-compaction-retention=2562047"});  // the largest whole hours that fit
  CHECK(c.auto_compaction_period_ns == int64_t(2562047) * 3'600'000'000'000);
  c = ok({"--auto-compaction-mode=revision", "--auto-compaction-retention=18446744073709551615"});
  CHECK(c.auto_compaction_revisions == std::numeric_limits<int64_t>::max());
}
