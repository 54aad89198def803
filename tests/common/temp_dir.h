#pragma once
// TempDir: a directory under /tmp with a unique name, removed with everything in it on
// destruction. Shared by the C++ tests (include after <catch2/catch.hpp>).

#include <cstdlib>
#include <filesystem>
#include <string>

namespace outpost::testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = "/tmp/outpost-test-XXXXXX";
    char* p = ::mkdtemp(tmpl.data());
    REQUIRE(p != nullptr);
    path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace outpost::testing
