// outpost-raft-interaction: runs Raft scenario files (etcd's datadriven format) against
// InteractionEnv (interaction.h). Each case is a command line, a `----` line, and the expected
// output up to a blank line; `#` lines and blank lines between cases are kept as they are.
//
//   outpost-raft-interaction DIR|FILE...            check every *.txt (a fresh env per file)
//   outpost-raft-interaction --rewrite DIR|FILE...  write the actual output in place of the
//                                                   expected one (also OUTPOST_REWRITE=1)
//
// Exit status 0 when every case matched (or was rewritten) and no invariant broke.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/raft/interaction.h"

namespace {

using outpost::raft::test::Command;
using outpost::raft::test::InteractionEnv;

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string l;
  while (std::getline(in, l)) lines.push_back(l);
  return lines;
}

// Runs one file; returns the number of failures. With rewrite, writes the file back.
int run_file(const std::filesystem::path& path, bool rewrite) {
  std::ifstream in(path);
  std::stringstream buf;
  buf << in.rdbuf();
  const std::vector<std::string> lines = split_lines(buf.str());
  InteractionEnv env;
  std::string out;  // the rewritten file
  int failures = 0;
  std::size_t i = 0;
  while (i < lines.size()) {
    const std::string& l = lines[i];
    if (l.empty() || l[0] == '#') {
      out += l + "\n";
      ++i;
      continue;
    }
    const std::size_t cmd_line = i + 1;
    const std::string cmd = l;
    ++i;
    if (i >= lines.size() || lines[i] != "----") {
      std::fprintf(stderr, "%s:%zu: expected ---- after the command\n", path.c_str(), cmd_line);
      return failures + 1;
    }
    ++i;
    std::string expected;
    while (i < lines.size() && !lines[i].empty()) expected += lines[i++] + "\n";
    if (!expected.empty()) expected.pop_back();
    std::string actual;
    try {
      actual = env.handle(Command::parse(cmd));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s:%zu: %s: %s\n", path.c_str(), cmd_line, cmd.c_str(), e.what());
      return failures + 1;
    }
    if (!env.check_failure().empty() && failures == 0) {
      std::fprintf(stderr, "%s:%zu: %s: invariant broken: %s\n", path.c_str(), cmd_line,
                   cmd.c_str(), env.check_failure().c_str());
      ++failures;
    }
    if (actual != expected && !rewrite) {
      std::fprintf(stderr, "%s:%zu: %s\n--- expected\n%s\n+++ actual\n%s\n", path.c_str(), cmd_line,
                   cmd.c_str(), expected.c_str(), actual.c_str());
      ++failures;
    }
    out += cmd + "\n----\n" + actual + "\n";
  }
  if (rewrite) {
    std::ofstream o(path, std::ios::trunc);
    o << out;
  }
  return failures;
}

}  // namespace

int main(int argc, char** argv) {
  const char* env_rewrite = std::getenv("OUTPOST_REWRITE");
  bool rewrite = env_rewrite != nullptr && std::string(env_rewrite) == "1";
  std::vector<std::filesystem::path> files;
  for (int a = 1; a < argc; ++a) {
    const std::string arg = argv[a];
    if (arg == "--rewrite") {
      rewrite = true;
    } else if (std::filesystem::is_directory(arg)) {
      for (const auto& e : std::filesystem::directory_iterator(arg)) {
        if (e.path().extension() == ".txt") files.push_back(e.path());
      }
    } else if (std::filesystem::exists(arg)) {
      files.emplace_back(arg);
    } else {
      std::fprintf(stderr, "usage: %s [--rewrite] DIR|FILE...  (%s not found)\n", argv[0],
                   arg.c_str());
      return 2;
    }
  }
  if (files.empty()) {
    std::fprintf(stderr, "no scenario files given\n");
    return 2;
  }
  std::sort(files.begin(), files.end());
  int failures = 0;
  for (const auto& f : files) {
    const int n = run_file(f, rewrite);
    std::printf("%s %s\n", n == 0 ? (rewrite ? "rewrote" : "ok     ") : "FAILED ", f.c_str());
    failures += n;
  }
  return failures == 0 ? 0 : 1;
}
