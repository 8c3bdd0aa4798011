#include "core/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <cmath>
#include <memory>
#include <optional>

#include "core/json.hpp"

namespace obsgate::log {
namespace {

spdlog::level::level_enum ToSpd(Level l) {
  switch (l) {
    case Level::kTrace:
      return spdlog::level::trace;
    case Level::kDebug:
      return spdlog::level::debug;
    case Level::kInfo:
      return spdlog::level::info;
    case Level::kWarn:
      return spdlog::level::warn;
    case Level::kError:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

const char* Name(Level l) {
  switch (l) {
    case Level::kTrace:
      return "trace";
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

std::shared_ptr<spdlog::logger>& Logger() {
  // Until Init runs (tests, early start-up), log at info to stdout all the same.
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto l = std::make_shared<spdlog::logger>("obsgate",
                                              std::make_shared<spdlog::sinks::stdout_sink_mt>());
    l->set_pattern("{\"ts\":\"%Y-%m-%dT%H:%M:%S.%eZ\",%v}", spdlog::pattern_time_type::utc);
    l->flush_on(spdlog::level::trace);
    l->set_level(spdlog::level::info);
    return l;
  }();
  return logger;
}

std::optional<Level> ParseLevel(std::string_view s) {
  if (s == "trace") return Level::kTrace;
  if (s == "debug") return Level::kDebug;
  if (s == "info") return Level::kInfo;
  if (s == "warn" || s == "warning") return Level::kWarn;
  if (s == "error") return Level::kError;
  return std::nullopt;
}

}  // namespace

void Init(std::string_view level) {
  Logger();
  if (level.empty()) return;
  if (!SetLevel(level)) {
    Warn("unknown LOG_LEVEL, logging at info",
         {{"log_level", level}, {"hint", "use trace, debug, info, warn or error"}});
  }
}

bool SetLevel(std::string_view level) {
  auto l = ParseLevel(level);
  if (!l) return false;
  Logger()->set_level(ToSpd(*l));
  return true;
}

bool Enabled(Level level) { return Logger()->should_log(ToSpd(level)); }

std::string FormatMembers(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  std::string out;
  out.reserve(64 + msg.size());
  out += "\"level\":\"";
  out += Name(level);
  out += "\",\"msg\":";
  out += core::JsonQuote(msg);
  for (const Field& f : fields) {
    out += ',';
    out += core::JsonQuote(f.key);
    out += ':';
    if (auto* s = std::get_if<std::string_view>(&f.value)) {
      out += core::JsonQuote(*s);
    } else if (auto* i = std::get_if<std::int64_t>(&f.value)) {
      out += std::to_string(*i);
    } else if (auto* d = std::get_if<double>(&f.value)) {
      if (std::isfinite(*d)) {
        char buf[32];
        auto [p, ec] = std::to_chars(buf, buf + sizeof buf, *d);
        out.append(buf, p);
      } else {
        out += "null";  // JSON has no NaN or infinity
      }
    } else {
      out += std::get<bool>(f.value) ? "true" : "false";
    }
  }
  return out;
}

void Write(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  std::string members = FormatMembers(level, msg, fields);
  Logger()->log(ToSpd(level), spdlog::string_view_t(members.data(), members.size()));
}

}  // namespace obsgate::log
