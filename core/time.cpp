#include "core/time.hpp"

#include <cstdint>
#include <cstdio>
#include <limits>

namespace obsgate::core {
namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
std::int64_t DaysFromCivil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool Digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

// Seconds and nanoseconds since the epoch as a TimePoint, held to what one can hold (its
// nanoseconds in 64 bits span the years 1677 to 2262): Go's zero time, 0001-01-01, is the least.
TimePoint TimeOf(std::int64_t secs, std::int64_t nanos) {
  constexpr std::int64_t kLimit = std::numeric_limits<std::int64_t>::max() / 1'000'000'000 - 1;
  if (secs > kLimit) return TimePoint::max();
  if (secs < -kLimit) return TimePoint::min();
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(
      std::chrono::seconds(secs) + std::chrono::nanoseconds(nanos)));
}

// After the seconds at s[i]: an optional fraction of at least one digit, nanoseconds from its first
// nine. i moves past it; false for a '.' without digits.
bool ReadFraction(std::string_view s, std::size_t& i, std::int64_t& nanos) {
  nanos = 0;
  if (i >= s.size() || s[i] != '.') return true;
  std::size_t digits = 0;
  for (++i; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i, ++digits) {
    if (digits < 9) nanos = nanos * 10 + (s[i] - '0');
  }
  for (std::size_t k = digits; k < 9; ++k) nanos *= 10;
  return digits > 0;
}

struct Rfc3339Parts {
  std::int64_t secs;   // since the epoch, the offset applied
  std::int64_t nanos;  // the fraction
  int minute, second;  // as written
  std::size_t zone;    // where the zone ("Z", "+01:00") begins
};

std::optional<Rfc3339Parts> ParseParts(std::string_view s) {
  int year, month, day, hour, minute, second;
  if (!Digits(s, 0, 4, year) || s.size() < 20 || s[4] != '-' || !Digits(s, 5, 2, month) ||
      s[7] != '-' || !Digits(s, 8, 2, day) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !Digits(s, 11, 2, hour) || s[13] != ':' || !Digits(s, 14, 2, minute) || s[16] != ':' ||
      !Digits(s, 17, 2, second)) {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  std::size_t i = 19;
  std::int64_t nanos = 0;
  if (!ReadFraction(s, i, nanos)) return std::nullopt;
  const std::size_t zone = i;
  std::int64_t offset_seconds = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    int oh, om;
    if (!Digits(s, i + 1, 2, oh) || i + 3 >= s.size() || s[i + 3] != ':' ||
        !Digits(s, i + 4, 2, om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_seconds = (oh * 3600 + om * 60) * (s[i] == '+' ? 1 : -1);
    i += 6;
  } else {
    return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  std::int64_t secs =
      DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86400 +
      hour * 3600 + minute * 60 + second - offset_seconds;
  return Rfc3339Parts{secs, nanos, minute, second, zone};
}

}  // namespace

std::optional<TimePoint> ParseRfc3339(std::string_view s) {
  std::optional<Rfc3339Parts> parts = ParseParts(s);
  if (!parts) return std::nullopt;
  return TimeOf(parts->secs, parts->nanos);
}

std::optional<TimePoint> Rfc3339Reader::Parse(std::string_view s) {
  constexpr std::size_t kHour = 13;  // "2024-01-15T10"
  if (!hour_.empty() && s.size() > kHour + 6 && s.substr(0, kHour) == hour_ && s[13] == ':' &&
      s[16] == ':') {
    // Minutes, seconds and the fraction as ParseParts reads them; the zone must be the same.
    int minute = 0, second = 0;
    std::size_t i = 19;
    std::int64_t nanos = 0;
    if (Digits(s, 14, 2, minute) && Digits(s, 17, 2, second) && minute <= 59 && second <= 60 &&
        ReadFraction(s, i, nanos) && s.substr(i) == zone_) {
      return TimeOf(hour_seconds_ + minute * 60 + second, nanos);
    }
  }
  std::optional<Rfc3339Parts> parts = ParseParts(s);
  if (!parts) return std::nullopt;
  hour_.assign(s.substr(0, kHour));
  zone_.assign(s.substr(parts->zone));
  hour_seconds_ = parts->secs - parts->minute * 60 - parts->second;
  return TimeOf(parts->secs, parts->nanos);
}

std::string FormatRfc3339(TimePoint t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  int millis = static_cast<int>(ms - secs * 1000);
  std::int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
  std::int64_t rem = secs - days * 86400;
  // civil_from_days
  days += 719468;
  const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ", static_cast<long long>(y),
                m, d, static_cast<int>(rem / 3600), static_cast<int>(rem / 60 % 60),
                static_cast<int>(rem % 60), millis);
  return buf;
}

}  // namespace obsgate::core
