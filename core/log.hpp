#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

namespace obsgate::log {

// One key of a structured log line. Values are copied into the line at once, so views are safe.
struct Field {
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
  Field(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
  Field(std::string_view k, bool v) : key(k), value(v) {}
  Field(std::string_view k, double v) : key(k), value(v) {}
  template <typename I>
  requires std::is_integral_v<I> Field(std::string_view k, I v)
      : key(k), value(static_cast<std::int64_t>(v)) {}

  std::string_view key;
  std::variant<std::string_view, std::int64_t, double, bool> value;
};

enum class Level { kTrace, kDebug, kInfo, kWarn, kError };

// Sets up the process logger: one JSON object per line on stdout ({"ts","level","msg",...}).
// `level` is LOG_LEVEL's value; an unknown one falls back to info with a warning.
void Init(std::string_view level);
// Changes the level at run time; false when the name is not one of trace, debug, info, warn,
// warning, error.
bool SetLevel(std::string_view level);
bool Enabled(Level level);

// The JSON members of a line after "ts": "level", "msg" and the fields, without braces. Exposed
// for tests.
std::string FormatMembers(Level level, std::string_view msg, std::initializer_list<Field> fields);

void Write(Level level, std::string_view msg, std::initializer_list<Field> fields);

inline void Debug(std::string_view msg, std::initializer_list<Field> fields = {}) {
  if (Enabled(Level::kDebug)) Write(Level::kDebug, msg, fields);
}
inline void Info(std::string_view msg, std::initializer_list<Field> fields = {}) {
  if (Enabled(Level::kInfo)) Write(Level::kInfo, msg, fields);
}
inline void Warn(std::string_view msg, std::initializer_list<Field> fields = {}) {
  if (Enabled(Level::kWarn)) Write(Level::kWarn, msg, fields);
}
inline void Error(std::string_view msg, std::initializer_list<Field> fields = {}) {
  if (Enabled(Level::kError)) Write(Level::kError, msg, fields);
}

}  // namespace obsgate::log
