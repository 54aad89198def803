// The TOML front end (--config FILE.toml). The schema is documented in
// config/README.md; each key maps onto one etcd flag, and its value goes
// through that flag's setter, so a TOML value and a flag value are checked
// the same way.
#pragma once

#include <set>
#include <string>

#include "config/config.h"

namespace outpost::config::detail {

// Reads and applies the file at path onto config. Adds the etcd flag name of
// every key found to *set_flags. Returns "" on success, else every problem
// found, one per line, each starting with "path:line:column: ".
std::string load_toml(const std::string& path, Config& config, std::set<std::string>* set_flags);
// The same for a file's text already read; path names it in the problems.
std::string load_toml_text(const std::string& text, const std::string& path, Config& config,
                           std::set<std::string>* set_flags);

}  // namespace outpost::config::detail
