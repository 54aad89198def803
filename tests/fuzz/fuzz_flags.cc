// libFuzzer target: etcd's command line and ETCD_* environment through config::load
// (config/load.cc: the flag parser of config/flags.h, every flag's setter, the checks). The
// input is split on NUL and newline: pieces "ETCD_NAME=value" go to the environment, the others
// are the arguments. A --config / ETCD_CONFIG naming a file only goes through the parser (load
// would read that file; fuzz_toml covers the TOML text).
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/flags.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace outpost::config;
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  while (!in.empty()) {
    const size_t end = in.find_first_of(std::string_view("\0\n", 2));
    const std::string_view piece = in.substr(0, end);
    in.remove_prefix(end == std::string_view::npos ? in.size() : end + 1);
    const size_t eq = piece.find('=');
    if (piece.starts_with("ETCD_") && eq != std::string_view::npos) {
      env[std::string(piece.substr(0, eq))] = std::string(piece.substr(eq + 1));
    } else {
      args.emplace_back(piece);
    }
  }
  const detail::CommandLine cl = detail::parse_command_line(args);
  if (cl.has_config || env.count("ETCD_CONFIG")) return 0;
  const LoadResult r = load(args, env);
  // load's contract: a config exactly when there is no error and no help or version.
  if (r.config.has_value() != (r.error.empty() && !r.show_help && !r.show_version))
    __builtin_trap();
  return 0;
}
