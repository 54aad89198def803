#pragma once
// OUTPOST_PANIC: the one way for Outpost code to die on a broken invariant or an unrecoverable
// error (a committed entry that cannot be decoded, a write of Raft state that failed). It logs
// one line at level "panic" with the caller and fields, then aborts.
//
//   OUTPOST_PANIC("failed to commit applied entry", {"index", std::to_string(index)});
//
// Header-only, so core/raft (which links nothing but its protos) uses it too. Fields are
// (name, value already encoded as JSON) pairs, the shape of log::Field. A binary that links
// core/common/log.cc has the logger's writer installed before main() (the line goes to the
// configured outputs, with a timestamp); one that does not (core/raft alone) writes to stderr.

#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace outpost {

using PanicField = std::pair<std::string, std::string>;
// Writes the panic line; must not return control anywhere but back to panic_at (which aborts).
using PanicWriter = void (*)(const char* file, int line, std::string_view msg,
                             std::initializer_list<PanicField> fields);

inline PanicWriter& panic_writer() {
  static PanicWriter writer = nullptr;
  return writer;
}

[[noreturn]] inline void panic_at(const char* file, int line, std::string_view msg,
                                  std::initializer_list<PanicField> fields = {}) {
  if (PanicWriter w = panic_writer()) {
    w(file, line, msg, fields);
  } else {
    std::string out = "{\"level\":\"panic\",\"caller\":\"" + std::string(file) + ":" +
                      std::to_string(line) + "\",\"msg\":\"" + std::string(msg) + "\"";
    for (const auto& [k, v] : fields) out += ",\"" + k + "\":" + v;
    out += "}\n";
    std::fwrite(out.data(), 1, out.size(), stderr);
    std::fflush(stderr);
  }
  std::abort();
}

}  // namespace outpost

#define OUTPOST_PANIC(msg, ...) ::outpost::panic_at(__FILE__, __LINE__, msg, {__VA_ARGS__})
