#pragma once
// Structured logging: one JSON object per line (level, ts, caller, msg, then fields), the shape
// etcd's zap logger writes, so the same tools read both. Thread-safe; a line is written whole.
//
//   OUTPOST_LOG(kInfo, "published local member", log::kv("id", id), log::kv("name", name));

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace outpost::log {

enum class Level { kDebug = 0, kInfo, kWarn, kError, kFatal };

// A field: its name and its value already encoded as JSON.
using Field = std::pair<std::string, std::string>;

std::string json_quote(std::string_view s);
Field kv(std::string key, std::string_view value);
Field kv(std::string key, const char* value);
Field kv(std::string key, const std::string& value);
Field kv(std::string key, bool value);
Field kv(std::string key, int64_t value);
Field kv(std::string key, uint64_t value);
Field kv(std::string key, int value);
Field kv(std::string key, unsigned value);
Field kv(std::string key, double value);
Field kv_hex(std::string key, uint64_t value);  // ids print as etcd prints them: "8e9e05c52164694d"
Field kv_strings(std::string key, const std::vector<std::string>& values);

// Where lines go: "stderr", "stdout", "default" (stderr) or file paths, and the lowest level.
// Returns false with *error set when a file cannot be opened.
bool configure(const std::vector<std::string>& outputs, Level level, std::string* error);
bool parse_level(std::string_view name, Level* out);

void write(Level level, const char* file, int line, std::string_view msg,
           std::initializer_list<Field> fields);
void write(Level level, const char* file, int line, std::string_view msg,
           const std::vector<Field>& fields);

// The line OUTPOST_PANIC (core/common/panic.h) writes once this file is linked in: a line as
// write() makes it, at level "panic". It goes to every configured output whatever the level.
std::string panic_line(const char* file, int line, std::string_view msg,
                       std::initializer_list<Field> fields);

}  // namespace outpost::log

#define OUTPOST_LOG(level, msg, ...) \
  ::outpost::log::write(::outpost::log::Level::level, __FILE__, __LINE__, msg, {__VA_ARGS__})
