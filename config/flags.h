// The flag table: every flag etcd 3.4.23 defines, plus Outpost's own, and
// the command-line and environment front ends built on it.
//
// A flag is either implemented (it has a setter that writes a Config field)
// or accepted for compatibility (no setter: its raw value is kept in
// Config::ignored_flags). Both kinds know whether they are boolean, because
// that decides whether "--flag next" consumes "next" (Go's flag rules).
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"

namespace outpost::config::detail {

using Setter = bool (*)(Config& config, std::string_view value, std::string* why);

struct FlagSpec {
  std::string_view name;  // without dashes
  bool is_bool;
  Setter set;  // nullptr: accepted but ignored
};

// All flags, implemented first. Does not contain the flags load() handles
// itself: help/h, version, config, config-file.
std::span<const FlagSpec> flag_table();
const FlagSpec* find_flag(std::string_view name);

// Applies value to config (implemented flags) or records it in
// config.ignored_flags (accepted ones). False + *why on a bad value.
bool apply_flag(Config& config, const FlagSpec& flag, std::string_view value, std::string* why);

// "heartbeat-interval" -> "ETCD_HEARTBEAT_INTERVAL".
std::string env_name(std::string_view flag);

// The command line after Go-style tokenizing, before any value is applied.
struct CommandLine {
  std::vector<std::pair<const FlagSpec*, std::string>> flags;  // in order given
  bool help = false;
  bool version = false;
  bool has_config = false;
  std::string config;  // --config FILE.toml
  std::string error;   // first syntax or value error
};
CommandLine parse_command_line(const std::vector<std::string>& args);

}  // namespace outpost::config::detail
