#include "core/units.hpp"

#include <charconv>
#include <cmath>
#include <limits>

namespace obsgate::core {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

}  // namespace

Result<Duration> ParseDuration(std::string_view text) {
  if (text.empty()) return Error{"empty duration; write it like 30s, 5m or 1h"};
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  std::int64_t total = 0;
  std::size_t i = 0;
  // Units must come in decreasing order and at most once each, as in Prometheus ("1h30m").
  int last_rank = 100;
  while (i < text.size()) {
    std::size_t start = i;
    while (i < text.size() && IsDigit(text[i])) ++i;
    if (start == i) {
      return Error{"bad duration " + Quote(text) + ": expected a whole number at position " +
                   std::to_string(start + 1) + "; write it like 30s, 5m or 1h30m"};
    }
    std::uint64_t n = 0;
    auto [p, ec] = std::from_chars(text.data() + start, text.data() + i, n);
    (void)p;
    if (ec != std::errc()) return Error{"duration " + Quote(text) + " is too large"};
    std::size_t ustart = i;
    while (i < text.size() && !IsDigit(text[i])) ++i;
    std::string_view unit = text.substr(ustart, i - ustart);
    std::int64_t ms_per;
    int rank;
    if (unit == "ms") {
      ms_per = 1, rank = 0;
    } else if (unit == "s") {
      ms_per = 1000, rank = 1;
    } else if (unit == "m") {
      ms_per = 60'000, rank = 2;
    } else if (unit == "h") {
      ms_per = 3'600'000, rank = 3;
    } else if (unit == "d") {
      ms_per = 86'400'000, rank = 4;
    } else if (unit == "w") {
      ms_per = 7 * 86'400'000LL, rank = 5;
    } else if (unit.empty()) {
      return Error{"duration " + Quote(text) + " has no unit; add one of ms, s, m, h, d, w"};
    } else {
      return Error{"duration " + Quote(text) + " has unknown unit " + Quote(unit) +
                   "; use ms, s, m, h, d or w"};
    }
    if (rank >= last_rank) {
      return Error{"duration " + Quote(text) + " repeats or misorders its units; write 1h30m"};
    }
    last_rank = rank;
    if (n > static_cast<std::uint64_t>(kMax / ms_per) ||
        total > kMax - static_cast<std::int64_t>(n) * ms_per) {
      return Error{"duration " + Quote(text) + " is too large"};
    }
    total += static_cast<std::int64_t>(n) * ms_per;
  }
  return Duration(total);
}

std::string FormatDuration(Duration d) {
  std::int64_t ms = d.count();
  if (ms == 0) return "0s";
  std::string out;
  if (ms < 0) {
    out = "-";
    ms = -ms;
  }
  struct Unit {
    std::int64_t ms;
    const char* name;
  };
  static constexpr Unit kUnits[] = {{7 * 86'400'000LL, "w"}, {86'400'000, "d"}, {3'600'000, "h"},
                                    {60'000, "m"},           {1000, "s"},       {1, "ms"}};
  for (const Unit& u : kUnits) {
    if (ms >= u.ms) {
      out += std::to_string(ms / u.ms) + u.name;
      ms %= u.ms;
    }
  }
  return out;
}

Result<std::uint64_t> ParseSize(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size() && IsDigit(text[i])) ++i;
  if (i == 0) {
    return Error{"bad size " + Quote(text) + ": expected a whole number and a unit such as 16KiB"};
  }
  std::uint64_t n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + i, n);
  (void)p;
  if (ec != std::errc()) return Error{"size " + Quote(text) + " is too large"};
  std::string_view unit = text.substr(i);
  std::uint64_t mult;
  if (unit.empty() || unit == "B") {
    mult = 1;
  } else if (unit == "KiB") {
    mult = 1ULL << 10;
  } else if (unit == "MiB") {
    mult = 1ULL << 20;
  } else if (unit == "GiB") {
    mult = 1ULL << 30;
  } else if (unit == "KB") {
    mult = 1000;
  } else if (unit == "MB") {
    mult = 1000 * 1000;
  } else if (unit == "GB") {
    mult = 1000 * 1000 * 1000;
  } else {
    return Error{"size " + Quote(text) + " has unknown unit " + Quote(unit) +
                 "; use B, KiB, MiB, GiB, KB, MB or GB"};
  }
  if (n > std::numeric_limits<std::uint64_t>::max() / mult) {
    return Error{"size " + Quote(text) + " is too large"};
  }
  return n * mult;
}

Result<double> ParsePercent(std::string_view text) {
  if (text.empty() || text.back() != '%') {
    return Error{"bad percent " + Quote(text) + ": write it with a percent sign, like 1% or 0.5%"};
  }
  std::string_view num = text.substr(0, text.size() - 1);
  double v = 0;
  auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
  if (num.empty() || ec != std::errc() || p != num.data() + num.size() || !std::isfinite(v)) {
    return Error{"bad percent " + Quote(text) + ": expected a number before %"};
  }
  if (v < 0 || v > 100) return Error{"percent " + Quote(text) + " must be between 0% and 100%"};
  return v / 100.0;
}

}  // namespace obsgate::core
