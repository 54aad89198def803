// Command line of outpost-bench: etcd's benchmark tool's subcommands and flag names
// (`benchmark [global flags] put|range|txn-put|watch-latency|lease-keepalive [flags]`), parsed the
// way cobra/pflag does it (`--flag value`, `--flag=value`, bare `--bool-flag`, global flags
// anywhere on the line), plus our own --json and --timeout.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace outpost::bench {

struct Options {
  std::string command;            // put, range, txn-put, watch-latency, lease-keepalive
  std::vector<std::string> args;  // positional arguments after the command (range KEY [END])

  // Global flags.
  std::vector<std::string> endpoints{"127.0.0.1:2379"};  // host:port, http:// prefix allowed
  int conns = 1;
  int clients = 1;
  bool precise = false;       // print latencies with %g instead of %4.4f
  bool json = false;          // print one JSON object instead of the human report
  double timeout_s = 120;     // the whole run stops after this, whatever is left
  double dial_timeout_s = 5;  // every connection must be ready within this
  // TLS (etcdctl's flags): with any of them, or an https:// endpoint, connections use TLS.
  std::string user;      // --user name[:password]: etcd authentication ("" = none)
  std::string password;  // --password (when not in --user)
  std::string cacert;    // PEM CA bundle to verify the server with ("" = the system's)
  std::string cert;      // client certificate (PEM), with key
  std::string key;

  // put, txn-put, range, lease-keepalive.
  uint64_t total = 10000;
  double rate = 0;    // requests per second over all clients; 0 = no limit
  int key_size = -1;  // -1: the command's default (8, or 32 for watch-latency)
  int val_size = -1;
  int64_t key_space_size = 1;
  bool sequential_keys = false;
  int txn_ops = 1;
  std::string consistency = "l";

  // watch-latency.
  uint64_t put_total = 1000;
  double put_rate = 100;
  int watchers = 100;
  int streams = 10;
};

struct ParseResult {
  Options options;
  bool help = false;
  std::string error;  // non-empty: print it with the usage and exit 2
};

ParseResult parse_options(const std::vector<std::string>& argv);
std::string usage();

}  // namespace outpost::bench
