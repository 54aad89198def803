// Shared helpers for the config tests.
#pragma once

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "config/config.h"

namespace outpost::config::testing {

inline LoadResult run(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
  return load(args, env);
}

// Loads and requires success; returns the config.
inline Config ok(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
  LoadResult r = load(args, env);
  INFO("error: " << r.error);
  REQUIRE(r.error.empty());
  REQUIRE(r.config.has_value());
  return *r.config;
}

// Loads and requires failure; returns the message.
inline std::string err(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
  LoadResult r = load(args, env);
  REQUIRE_FALSE(r.config.has_value());
  REQUIRE_FALSE(r.error.empty());
  return r.error;
}

inline std::vector<std::string> url_strings(const std::vector<Url>& urls) {
  std::vector<std::string> out;
  for (const auto& u : urls) out.push_back(u.str());
  return out;
}

// A file in a fresh temporary directory, removed with the object.
class TempFile {
 public:
  explicit TempFile(const std::string& contents, const std::string& name = "outpost.toml") {
    static int counter = 0;
    dir_ = std::filesystem::temp_directory_path() /
           ("outpost-config-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / name).string();
    std::ofstream(path_) << contents;
  }
  ~TempFile() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::filesystem::path dir_;
  std::string path_;
};

}  // namespace outpost::config::testing
