#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/clock.hpp"

namespace obsgate::core {

// RFC 3339 with any fraction of a second and a "Z" or "+hh:mm" offset, as container runtimes
// write it ("2024-01-15T10:00:00.123456789Z", "2024-01-15T10:00:00.1+00:00"). nullopt otherwise.
std::optional<TimePoint> ParseRfc3339(std::string_view text);

// "2024-01-15T10:00:00.123Z" in UTC, milliseconds.
std::string FormatRfc3339(TimePoint t);

}  // namespace obsgate::core
