#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.hpp"

namespace obsgate::core {

// RFC 3339 with any fraction of a second and a "Z" or "+hh:mm" offset, as container runtimes
// write it ("2024-01-15T10:00:00.123456789Z", "2024-01-15T10:00:00.1+00:00"). nullopt otherwise.
// Times a TimePoint cannot hold (before 1677, such as Go's zero time, or after 2262) are its least
// and greatest.
std::optional<TimePoint> ParseRfc3339(std::string_view text);

// ParseRfc3339 for a stream of times most of which share their hour and zone with the time before,
// as a log file's do: those are read from their minutes on. Owned by the thread that reads.
class Rfc3339Reader {
 public:
  std::optional<TimePoint> Parse(std::string_view text);

 private:
  std::string hour_;  // the hour of the last time parsed whole, as written ("2024-01-15T10")
  std::string zone_;  // and what followed its fraction ("Z", "+01:00")
  std::int64_t hour_seconds_ = 0;  // its start, seconds since the epoch
};

// "2024-01-15T10:00:00.123Z" in UTC, milliseconds.
std::string FormatRfc3339(TimePoint t);

}  // namespace obsgate::core
