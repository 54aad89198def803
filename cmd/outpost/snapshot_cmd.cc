// `outpost snapshot status FILE [-w simple|table|json]` and `outpost snapshot restore FILE ...`:
// etcdctl 3.4's snapshot subcommands for Outpost's snapshot files (core/server/snapshot_file.h),
// with etcdctl's flags, defaults, output and "Error: ..." lines (exit 1; bad arguments 128).
#include "cmd/outpost/snapshot_cmd.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "config/values.h"
#include "core/server/snapshot_file.h"

namespace outpost {

namespace {

constexpr int kExitError = 1;
constexpr int kExitBadArgs = 128;  // etcdctl's ExitBadArgs

int error(const std::string& msg, int code = kExitError) {
  std::fprintf(stderr, "Error: %s\n", msg.c_str());
  return code;
}

// go-humanize's Bytes (SI units), which etcdctl's table and simple output use.
std::string human_bytes(uint64_t s) {
  if (s < 10) return std::to_string(s) + " B";
  static const char* kSizes[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
  const double e = std::floor(std::log(double(s)) / std::log(1000.0));
  const double val = std::floor(double(s) / std::pow(1000.0, e) * 10 + 0.5) / 10;
  char out[64];
  std::snprintf(out, sizeof out, val < 10 ? "%.1f %s" : "%.0f %s", val, kSizes[int(e)]);
  return out;
}

// A table as etcdctl draws it (olekukonko/tablewriter, headers upper-case, cells right-aligned).
void print_table(const std::vector<std::string>& hdr, const std::vector<std::string>& row) {
  std::vector<size_t> w;
  for (size_t i = 0; i < hdr.size(); ++i) w.push_back(std::max(hdr[i].size(), row[i].size()));
  std::string line = "+";
  for (size_t x : w) line += std::string(x + 2, '-') + "+";
  std::printf("%s\n|", line.c_str());
  for (size_t i = 0; i < hdr.size(); ++i) {
    std::string h;
    for (char c : hdr[i]) h.push_back(char(std::toupper(uint8_t(c))));
    const size_t pad = w[i] - h.size(), left = pad / 2;
    std::printf(" %s%s%s |", std::string(left, ' ').c_str(), h.c_str(),
                std::string(pad - left, ' ').c_str());
  }
  std::printf("\n%s\n|", line.c_str());
  for (size_t i = 0; i < row.size(); ++i) std::printf(" %*s |", int(w[i]), row[i].c_str());
  std::printf("\n%s\n", line.c_str());
}

// --flag=value or --flag value; true when args[*i] is flag (then *value is set, *i advanced).
bool take_flag(const std::vector<std::string>& args, size_t* i, const std::string& flag,
               std::string* value, bool* missing) {
  const std::string& a = args[*i];
  if (a == flag) {
    if (*i + 1 >= args.size()) {
      *missing = true;
      return true;
    }
    *value = args[++*i];
    return true;
  }
  if (a.rfind(flag + "=", 0) == 0) {
    *value = a.substr(flag.size() + 1);
    return true;
  }
  return false;
}

int status_cmd(const std::vector<std::string>& args) {
  std::string format = "simple";
  std::vector<std::string> files;
  for (size_t i = 0; i < args.size(); ++i) {
    bool missing = false;
    if (take_flag(args, &i, "-w", &format, &missing) ||
        take_flag(args, &i, "--write-out", &format, &missing)) {
      if (missing) return error("flag needs an argument: " + args[i], kExitBadArgs);
      continue;
    }
    if (args[i].size() > 1 && args[i][0] == '-')
      return error("unknown flag: " + args[i], kExitBadArgs);
    files.push_back(args[i]);
  }
  if (files.size() != 1)
    return error("snapshot status requires exactly one argument", kExitBadArgs);
  if (format != "simple" && format != "table" && format != "json")
    return error("unsupported output format \"" + format + "\" (simple, table or json)",
                 kExitBadArgs);
  auto st = server::snapshot_file_status(files[0]);
  if (!st) return error(st.status().message());
  const auto& s = st.value();
  char hash[16];
  std::snprintf(hash, sizeof hash, "%x", s.hash);
  if (format == "json") {
    std::printf("{\"hash\":%u,\"revision\":%lld,\"totalKey\":%llu,\"totalSize\":%llu}\n", s.hash,
                (long long)s.revision, (unsigned long long)s.total_key,
                (unsigned long long)s.total_size);
  } else if (format == "table") {
    print_table(
        {"hash", "revision", "total keys", "total size"},
        {hash, std::to_string(s.revision), std::to_string(s.total_key), human_bytes(s.total_size)});
  } else {
    std::printf("%s, %lld, %llu, %s\n", hash, (long long)s.revision,
                (unsigned long long)s.total_key, human_bytes(s.total_size).c_str());
  }
  return 0;
}

int restore_cmd(const std::vector<std::string>& args) {
  // etcdctl's defaults.
  std::string name = "default", data_dir, token = "etcd-cluster";
  std::string cluster, peer_urls = "http://localhost:2380", wal_dir;
  bool cluster_set = false, skip_hash = false;
  std::vector<std::string> files;
  for (size_t i = 0; i < args.size(); ++i) {
    bool missing = false;
    std::string skip;
    if (take_flag(args, &i, "--name", &name, &missing) ||
        take_flag(args, &i, "--data-dir", &data_dir, &missing) ||
        take_flag(args, &i, "--initial-cluster-token", &token, &missing) ||
        take_flag(args, &i, "--initial-advertise-peer-urls", &peer_urls, &missing) ||
        take_flag(args, &i, "--wal-dir", &wal_dir, &missing)) {
      if (missing) return error("flag needs an argument: " + args[i], kExitBadArgs);
      continue;
    }
    if (take_flag(args, &i, "--initial-cluster", &cluster, &missing)) {
      if (missing) return error("flag needs an argument: " + args[i], kExitBadArgs);
      cluster_set = true;
      continue;
    }
    if (args[i] == "--skip-hash-check") {
      skip_hash = true;
      continue;
    }
    if (args[i].rfind("--skip-hash-check=", 0) == 0) {
      std::string why;
      if (!config::detail::parse_bool(args[i].substr(18), &skip_hash, &why))
        return error("invalid argument \"" + args[i].substr(18) + "\" for \"--skip-hash-check\"",
                     kExitBadArgs);
      continue;
    }
    if (args[i].size() > 1 && args[i][0] == '-')
      return error("unknown flag: " + args[i], kExitBadArgs);
    files.push_back(args[i]);
  }
  if (files.size() != 1)
    return error("snapshot restore requires exactly one argument", kExitBadArgs);
  if (!wal_dir.empty())
    return error("--wal-dir is not supported: Outpost keeps its log under --data-dir");
  if (!cluster_set) cluster = (name.empty() ? "default" : name) + "=http://localhost:2380";

  server::RestoreOptions ro;
  ro.snapshot_path = files[0];
  ro.name = name;
  ro.data_dir = data_dir;
  ro.cluster_token = token;
  ro.skip_hash_check = skip_hash;
  std::string why;
  config::detail::Cluster parsed;
  if (!config::detail::parse_initial_cluster(cluster, &parsed, &why)) return error(why);
  for (const auto& [n, urls] : parsed) {
    std::vector<std::string> s;
    for (const auto& u : urls) s.push_back(u.str());
    ro.initial_cluster.emplace_back(n, std::move(s));
  }
  std::vector<config::Url> advertised;
  if (!config::detail::parse_url_list(peer_urls, &advertised, &why)) return error(why);
  for (const auto& u : advertised) ro.advertise_peer_urls.push_back(u.str());
  if (Status s = server::restore_snapshot(ro); !s) return error(s.message());
  const std::string dir = data_dir.empty() ? name + ".etcd" : data_dir;
  std::fprintf(stderr, "restored snapshot %s into data-dir %s (member %s)\n", files[0].c_str(),
               dir.c_str(), name.c_str());
  return 0;
}

}  // namespace

int snapshot_command(const std::vector<std::string>& args) {
  const std::string sub = args.empty() ? "" : args[0];
  const std::vector<std::string> rest(args.begin() + (args.empty() ? 0 : 1), args.end());
  if (sub == "status") return status_cmd(rest);
  if (sub == "restore") return restore_cmd(rest);
  if (sub == "save")
    return error("outpost snapshot save: use etcdctl snapshot save (it speaks to a running member)",
                 kExitBadArgs);
  const bool help = sub.empty() || sub == "-h" || sub == "--help";
  if (!help)
    std::fprintf(stderr, "Error: unknown command \"%s\" for \"outpost snapshot\"\n", sub.c_str());
  std::fprintf(stderr,
               "Usage:\n"
               "  outpost snapshot status <filename> [-w simple|table|json]\n"
               "  outpost snapshot restore <filename> [--name NAME] [--data-dir DIR]\n"
               "      [--initial-cluster NAME=URL,...] [--initial-cluster-token TOKEN]\n"
               "      [--initial-advertise-peer-urls URL,...] [--skip-hash-check]\n");
  return help ? 0 : kExitBadArgs;
}

}  // namespace outpost
