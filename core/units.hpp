#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace obsgate::core {

using Duration = std::chrono::milliseconds;

// "500ms", "30s", "5m", "1h", "1d", "1w", and sums such as "1h30m", as Prometheus writes them.
Result<Duration> ParseDuration(std::string_view text);
// The shortest form ParseDuration reads back: 90000ms -> "1m30s".
std::string FormatDuration(Duration d);

// "512", "512B", "16KiB", "8MiB", "1GiB"; decimal "10KB", "10MB", "1GB" as well.
Result<std::uint64_t> ParseSize(std::string_view text);

// "1%" -> 0.01, "0.5%" -> 0.005. The sign is required so a ratio is never mistaken for a percent.
Result<double> ParsePercent(std::string_view text);

}  // namespace obsgate::core
