// core/common/log and OUTPOST_PANIC: the panic line is one JSON log line at level "panic" that
// goes through the configured outputs (checked in a forked child that really aborts).
#include "core/common/log.h"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <cstdint>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include "core/common/panic.h"
#include "tests/common/temp_dir.h"

namespace lg = outpost::log;

namespace {

// {"level":"panic","ts":"2024-01-02T03:04:05.123456Z","caller":"<caller>","msg":<msg><fields>}
std::regex panic_shape(const std::string& caller, const std::string& rest) {
  return std::regex(R"(\{"level":"panic","ts":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z",)"
                    R"("caller":")" +
                    caller + "\"," + rest + R"(\}\n)");
}

}  // namespace

TEST_CASE("linking the logger installs the panic writer before anything is configured", "[log]") {
  REQUIRE(outpost::panic_writer() != nullptr);
}

TEST_CASE("a panic line is a log line at level panic with the caller, message and fields",
          "[log]") {
  const std::string line =
      lg::panic_line("/build/src/outpost/core/server/member.cc", 309, "undecodable \"entry\"",
                     {lg::kv("index", uint64_t(42)), lg::kv("error", "bad\nbytes")});
  CHECK(std::regex_match(
      line, panic_shape("core/server/member.cc:309",
                        R"("msg":"undecodable \\"entry\\"","index":42,"error":"bad\\nbytes")")));
}

TEST_CASE("OUTPOST_PANIC writes one panic line to the configured outputs, then aborts", "[log]") {
  outpost::testing::TempDir dir;
  const std::string path = dir.path() + "/outpost.log";
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // The child dies by SIGABRT: no core file, and not through Catch's own signal handler.
    rlimit no_core{0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    std::signal(SIGABRT, SIG_DFL);
    std::string error;
    // Level error: the panic line is written whatever the configured level.
    if (!lg::configure({path}, lg::Level::kError, &error)) _exit(3);
    OUTPOST_PANIC("replica diverged", lg::kv("index", uint64_t(7)));
  }
  const int panic_line_no = __LINE__ - 2;  // the OUTPOST_PANIC line above
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGABRT);

  std::ifstream in(path);
  std::stringstream contents;
  contents << in.rdbuf();
  CHECK(std::regex_match(
      contents.str(), panic_shape("tests/unit/common/log_test.cc:" + std::to_string(panic_line_no),
                                  R"("msg":"replica diverged","index":7)")));
}
