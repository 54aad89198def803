#include "core/common/log.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

#include "core/common/panic.h"

namespace outpost::log {
namespace {

struct Sink {
  std::mutex mu;
  std::vector<FILE*> files{stderr};
  Level level = Level::kInfo;
};

Sink& sink() {
  static Sink s;
  return s;
}

const char* level_name(Level l) {
  switch (l) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
    case Level::kFatal: return "fatal";
  }
  return "info";
}

std::string timestamp() {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const auto secs = time_point_cast<seconds>(now);
  const auto micros = duration_cast<microseconds>(now - secs).count();
  const std::time_t t = system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(micros));
  return buf;
}

// "core/server/member.cc:123" from an absolute __FILE__.
std::string caller(const char* file, int line) {
  std::string_view f(file);
  for (std::string_view root :
       {"/core/", "/config/", "/replica/", "/mirror/", "/cmd/", "/tests/"}) {
    const auto pos = f.rfind(root);
    if (pos != std::string_view::npos) {
      f = f.substr(pos + 1);
      break;
    }
  }
  return std::string(f) + ":" + std::to_string(line);
}

template <class Fields>
std::string format_line(const char* level, const char* file, int line, std::string_view msg,
                        const Fields& fields) {
  std::string out;
  out.reserve(128);
  out += "{\"level\":\"";
  out += level;
  out += "\",\"ts\":\"" + timestamp() + "\",\"caller\":" + json_quote(caller(file, line));
  out += ",\"msg\":" + json_quote(msg);
  for (const auto& [k, v] : fields) out += "," + json_quote(k) + ":" + v;
  out += "}\n";
  return out;
}

void emit(Sink& s, const std::string& out) {
  std::lock_guard lock(s.mu);
  for (FILE* f : s.files) {
    std::fwrite(out.data(), 1, out.size(), f);
    std::fflush(f);
  }
}

template <class Fields>
void write_impl(Level level, const char* file, int line, std::string_view msg,
                const Fields& fields) {
  Sink& s = sink();
  if (level < s.level) return;
  emit(s, format_line(level_name(level), file, line, msg, fields));
}

// OUTPOST_PANIC's writer: the panic line goes to the configured outputs (stderr until configure())
// whatever the level, then panic_at aborts. Installed once, at static initialisation, so every
// binary that links this file has it before main() and no thread ever sees the pointer change.
void write_panic(const char* file, int line, std::string_view msg,
                 std::initializer_list<PanicField> fields) {
  emit(sink(), panic_line(file, line, msg, fields));
}

[[maybe_unused]] const bool panic_writer_installed = [] {
  panic_writer() = &write_panic;
  return true;
}();

}  // namespace

std::string json_quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += char(c);
        }
    }
  }
  out += "\"";
  return out;
}

Field kv(std::string key, std::string_view value) { return {std::move(key), json_quote(value)}; }
Field kv(std::string key, const char* value) { return kv(std::move(key), std::string_view(value)); }
Field kv(std::string key, const std::string& value) {
  return kv(std::move(key), std::string_view(value));
}
Field kv(std::string key, bool value) { return {std::move(key), value ? "true" : "false"}; }
Field kv(std::string key, int64_t value) { return {std::move(key), std::to_string(value)}; }
Field kv(std::string key, uint64_t value) { return {std::move(key), std::to_string(value)}; }
Field kv(std::string key, int value) { return {std::move(key), std::to_string(value)}; }
Field kv(std::string key, unsigned value) { return {std::move(key), std::to_string(value)}; }
Field kv(std::string key, double value) { return {std::move(key), std::to_string(value)}; }
Field kv_hex(std::string key, uint64_t value) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(value));
  return {std::move(key), json_quote(buf)};
}
Field kv_strings(std::string key, const std::vector<std::string>& values) {
  std::string v = "[";
  for (size_t i = 0; i < values.size(); ++i) v += (i ? "," : "") + json_quote(values[i]);
  return {std::move(key), v + "]"};
}

bool parse_level(std::string_view name, Level* out) {
  if (name == "debug")
    *out = Level::kDebug;
  else if (name == "info")
    *out = Level::kInfo;
  else if (name == "warn")
    *out = Level::kWarn;
  else if (name == "error")
    *out = Level::kError;
  else if (name == "panic" || name == "fatal")
    *out = Level::kFatal;
  else
    return false;
  return true;
}

std::string panic_line(const char* file, int line, std::string_view msg,
                       std::initializer_list<Field> fields) {
  return format_line("panic", file, line, msg, fields);
}

bool configure(const std::vector<std::string>& outputs, Level level, std::string* error) {
  std::vector<FILE*> files;
  for (const auto& o : outputs) {
    if (o == "stderr" || o == "default") {
      files.push_back(stderr);
    } else if (o == "stdout") {
      files.push_back(stdout);
    } else {
      FILE* f = std::fopen(o.c_str(), "a");
      if (!f) {
        *error = "cannot open log output " + o;
        return false;
      }
      files.push_back(f);
    }
  }
  if (files.empty()) files.push_back(stderr);
  Sink& s = sink();
  std::lock_guard lock(s.mu);
  s.files = std::move(files);
  s.level = level;
  return true;
}

void write(Level level, const char* file, int line, std::string_view msg,
           std::initializer_list<Field> fields) {
  write_impl(level, file, line, msg, fields);
}
void write(Level level, const char* file, int line, std::string_view msg,
           const std::vector<Field>& fields) {
  write_impl(level, file, line, msg, fields);
}

}  // namespace outpost::log
