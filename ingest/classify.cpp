#include "ingest/classify.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <tuple>

#include "ingest/json_text.hpp"

namespace obsgate::ingest {
namespace {

bool IsSpace(char c) { return static_cast<unsigned char>(c) <= ' '; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c; }

bool EqualsLower(std::string_view word, std::string_view lower) {
  if (word.size() != lower.size()) return false;
  for (std::size_t i = 0; i < word.size(); ++i) {
    if (Lower(word[i]) != lower[i]) return false;
  }
  return true;
}

struct LevelName {
  std::string_view name;
  Level level;
};
constexpr std::array<LevelName, 20> kLevelNames = {{
    {"trace", Level::kTrace},     {"debug", Level::kDebug},      {"dbug", Level::kDebug},
    {"info", Level::kInfo},       {"information", Level::kInfo}, {"notice", Level::kInfo},
    {"warn", Level::kWarn},       {"warning", Level::kWarn},     {"error", Level::kError},
    {"err", Level::kError},       {"eror", Level::kError},       {"fatal", Level::kFatal},
    {"critical", Level::kFatal},  {"crit", Level::kFatal},       {"panic", Level::kFatal},
    {"dpanic", Level::kFatal},    {"alert", Level::kFatal},      {"emerg", Level::kFatal},
    {"emergency", Level::kFatal}, {"severe", Level::kError},
}};

// Fields are found in one pass over the document; a Category says which LineFacts member a
// configured path fills.
enum Category : uint8_t { kStatus, kLevel, kNamespace, kDeployment, kVersion, kCategories };

// A configured path still being matched: `rest` is what is left of it below the current object.
struct PathTarget {
  std::string_view rest;
  Category category;
  uint16_t index;  // position in its list; lower wins
};

// Replaces each byte that is not part of a well-formed UTF-8 sequence with '?', in place, so that
// one bad byte in a message does not hide the fields of the whole JSON line.
void ReplaceInvalidUtf8(char* p, std::size_t n) {
  auto u = [&](std::size_t i) { return static_cast<unsigned char>(p[i]); };
  auto cont = [&](std::size_t i) { return i < n && (u(i) & 0xC0) == 0x80; };
  std::size_t i = 0;
  while (i < n) {
    const unsigned char c = u(i);
    std::size_t len = 0;
    if (c < 0x80) {
      len = 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
      len = cont(i + 1) ? 2 : 0;
    } else if (c >= 0xE0 && c <= 0xEF) {
      const bool second_ok = i + 1 < n && (c == 0xE0   ? u(i + 1) >= 0xA0 && u(i + 1) <= 0xBF
                                           : c == 0xED ? u(i + 1) >= 0x80 && u(i + 1) <= 0x9F
                                                       : cont(i + 1));
      len = second_ok && cont(i + 2) ? 3 : 0;
    } else if (c >= 0xF0 && c <= 0xF4) {
      const bool second_ok = i + 1 < n && (c == 0xF0   ? u(i + 1) >= 0x90 && u(i + 1) <= 0xBF
                                           : c == 0xF4 ? u(i + 1) >= 0x80 && u(i + 1) <= 0x8F
                                                       : cont(i + 1));
      len = second_ok && cont(i + 2) && cont(i + 3) ? 4 : 0;
    }
    if (len == 0) {
      p[i] = '?';
      len = 1;
    }
    i += len;
  }
}

// How deep the walk descends into objects on the way to a configured path.
constexpr int kMaxDepth = 16;

}  // namespace

Level PinoLevel(long long number) {
  switch (number) {
    case 10:
      return Level::kTrace;
    case 20:
      return Level::kDebug;
    case 30:
      return Level::kInfo;
    case 40:
      return Level::kWarn;
    case 50:
      return Level::kError;
    case 60:
      return Level::kFatal;
    default:
      return Level::kNone;
  }
}

Level ParseLevel(std::string_view word) {
  if (word.empty() || word.size() > 11) return Level::kNone;
  if (IsDigit(word[0])) {
    long long n = 0;
    for (char c : word) {
      if (!IsDigit(c)) return Level::kNone;
      n = n * 10 + (c - '0');
    }
    return PinoLevel(n);
  }
  for (const LevelName& l : kLevelNames) {
    if (EqualsLower(word, l.name)) return l.level;
  }
  return Level::kNone;
}

int ParseStatusDigits(std::string_view s) {
  if (s.size() != 3 || !IsDigit(s[0]) || !IsDigit(s[1]) || !IsDigit(s[2])) return 0;
  const int v = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
  return (v >= 100 && v <= 599) ? v : 0;
}

int AccessLogStatus(std::string_view s) {
  // The request line is the first quoted field and follows the "[date] " field in CLF, combined,
  // nginx and Envoy formats; requiring that shape keeps quotes in ordinary text from matching.
  const std::size_t quote = s.find('"');
  if (quote == std::string_view::npos || quote < 3 || s[quote - 1] != ' ' || s[quote - 2] != ']') {
    return 0;
  }
  const std::size_t open = s.rfind('[', quote - 2);
  if (open == std::string_view::npos) return 0;
  // The closing quote of the request line, escapes skipped, 16 bytes at a time.
  const char* p = s.data() + quote + 1;
  const char* const stop = s.data() + s.size();
  for (;;) {
    p = FindQuoteOrBackslash(p, stop);
    if (p >= stop) return 0;
    if (*p == '"') break;
    p += 2;
  }
  std::size_t pos = static_cast<std::size_t>(p - s.data()) + 1;
  if (pos >= s.size() || s[pos] != ' ') return 0;
  ++pos;
  std::size_t end = pos;
  while (end < s.size() && !IsSpace(s[end])) ++end;
  return ParseStatusDigits(s.substr(pos, end - pos));
}

namespace {

// A timestamp-like token: starts with a digit and carries a date or time separator, so that
// "12 workers" is not mistaken for one.
bool IsTimeToken(std::string_view t) {
  if (t.empty() || !(IsDigit(t[0]) || t[0] == '+')) return false;
  return t[0] == '+' || std::any_of(t.begin(), t.end(), [](char c) {
           return c == '-' || c == '/' || c == ':' || c == '.' || c == ',';
         });
}

std::string_view NextToken(std::string_view s, std::size_t& pos) {
  while (pos < s.size() && IsSpace(s[pos])) ++pos;
  const std::size_t start = pos;
  while (pos < s.size() && !IsSpace(s[pos])) ++pos;
  return s.substr(start, pos - start);
}

}  // namespace

namespace {

// The level word at pos: "ERROR", "[ERROR]", "error:" and the like; pos moves past the word.
Level LevelWordAt(std::string_view s, std::size_t& pos) {
  while (pos < s.size() && IsSpace(s[pos])) ++pos;
  const bool bracketed = pos < s.size() && s[pos] == '[';
  if (bracketed) ++pos;
  const std::size_t start = pos;
  while (pos < s.size() && IsAlpha(s[pos])) ++pos;
  const std::string_view word = s.substr(start, pos - start);
  if (bracketed) {
    if (pos >= s.size() || s[pos] != ']') return Level::kNone;
  } else if (pos < s.size()) {
    const char c = s[pos];
    if (!IsSpace(c) && c != ':' && c != '|' && c != ',' && c != ']') return Level::kNone;
  }
  return ParseLevel(word);
}

// klog, as Kubernetes components write it: "E0305 10:00:13.000000       7 file.go:190] msg".
Level KlogLevel(std::string_view s, std::size_t pos) {
  if (pos + 9 > s.size()) return Level::kNone;
  for (std::size_t i = pos + 1; i < pos + 5; ++i) {
    if (!IsDigit(s[i])) return Level::kNone;
  }
  if (s[pos + 5] != ' ' || !IsDigit(s[pos + 6]) || !IsDigit(s[pos + 7]) || s[pos + 8] != ':') {
    return Level::kNone;
  }
  switch (s[pos]) {
    case 'I':
      return Level::kInfo;
    case 'W':
      return Level::kWarn;
    case 'E':
      return Level::kError;
    case 'F':
      return Level::kFatal;
    default:
      return Level::kNone;
  }
}

}  // namespace

Level LeadingLevel(std::string_view s) {
  std::size_t pos = 0;
  while (pos < s.size() && IsSpace(s[pos])) ++pos;
  if (const Level k = KlogLevel(s, pos); k != Level::kNone) return k;
  const std::size_t begin = pos;
  // "[2024-01-01 00:00:00] ERROR ..."
  if (pos + 1 < s.size() && s[pos] == '[' && IsDigit(s[pos + 1])) {
    const std::size_t close = s.find(']', pos);
    if (close != std::string_view::npos) pos = close + 1;
  } else {
    // Up to three timestamp tokens: date, time, zone ("2024-01-01 00:00:00,123 +0000").
    for (int i = 0; i < 3; ++i) {
      std::size_t next = pos;
      if (!IsTimeToken(NextToken(s, next))) break;
      pos = next;
    }
  }
  const bool had_time = pos != begin;
  // A separator some formats put between the time and the level.
  auto skip_separator = [&] {
    std::size_t next = pos;
    const std::string_view t = NextToken(s, next);
    if (t == "-" || t == "|") {
      pos = next;
      return true;
    }
    return false;
  };
  const bool separated = skip_separator();
  std::size_t at = pos;
  if (const Level l = LevelWordAt(s, at); l != Level::kNone) return l;
  // Python's "%(asctime)s - %(name)s - %(levelname)s - %(message)s": one logger name between
  // separators before the level.
  if (had_time && separated) {
    NextToken(s, pos);
    if (skip_separator()) return LevelWordAt(s, pos);
  }
  return Level::kNone;
}

bool LogfmtReader::Next(std::string_view& key, std::string_view& value) {
  const std::size_t n = s_.size();
  while (pos_ < n) {
    // Tokens without '=' are skipped: go straight to the token holding the next one (most plain
    // and access-log lines have none at all).
    const void* eq = std::memchr(s_.data() + pos_, '=', n - pos_);
    if (eq == nullptr) {
      pos_ = n;
      return false;
    }
    std::size_t token = static_cast<std::size_t>(static_cast<const char*>(eq) - s_.data());
    while (token > pos_ && !IsSpace(s_[token - 1])) --token;
    pos_ = token;
    const std::size_t key_start = pos_;
    while (pos_ < n && !IsSpace(s_[pos_]) && s_[pos_] != '=') ++pos_;
    if (pos_ >= n || s_[pos_] != '=') continue;
    key = s_.substr(key_start, pos_ - key_start);
    ++pos_;
    if (pos_ < n && s_[pos_] == '"') {
      const std::size_t start = ++pos_;
      while (pos_ < n && s_[pos_] != '"') pos_ += (s_[pos_] == '\\') ? 2 : 1;
      pos_ = std::min(pos_, n);
      value = s_.substr(start, pos_ - start);
      if (pos_ < n) ++pos_;
    } else {
      const std::size_t start = pos_;
      while (pos_ < n && !IsSpace(s_[pos_])) ++pos_;
      value = s_.substr(start, pos_ - start);
    }
    if (key.empty()) continue;
    return true;
  }
  return false;
}

// Where a walk over one JSON line stands: a failure means the line is not JSON and is read as
// text; kDocker, that it may be a docker frame (when the caller asked to stop there); kBail, that
// the walk inside a docker string cannot tell and the line must be unescaped first.
enum class Walked : uint8_t { kOk, kNotJson, kDocker, kBail };

// Bytes that end a scalar (number, true, false, null) in JSON's grammar.
constexpr std::array<bool, 256> kEndsScalar = [] {
  std::array<bool, 256> t{};
  for (unsigned char c : std::string_view(" \t\n\r,}]:{[\"")) t[c] = true;
  return t;
}();

// A top-level key a docker json-file frame has, compared as written.
bool IsDockerKey(std::string_view k) {
  switch (k.size()) {
    case 3:
      return k[0] == 'l' && k[1] == 'o' && k[2] == 'g';
    case 4:
      return std::memcmp(k.data(), "time", 4) == 0;
    case 6:
      return std::memcmp(k.data(), "stream", 6) == 0;
    default:
      return false;
  }
}

// A JSON number as the grammar spells it: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
bool IsJsonNumber(std::string_view t) {
  std::size_t i = 0;
  auto digits = [&] {
    const std::size_t start = i;
    while (i < t.size() && IsDigit(t[i])) ++i;
    return i > start;
  };
  if (i < t.size() && t[i] == '-') ++i;
  if (i < t.size() && t[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < t.size() && t[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == t.size();
}

// A JSON number's value; false when the text is no JSON number or out of a double's range. A
// short integer (a status, a level) is read digit by digit: exact, as from_chars would read it.
bool ReadJsonNumber(std::string_view t, double& d) {
  std::size_t i = t.size() > 0 && t[0] == '-' ? 1 : 0;
  const std::size_t digits = t.size() - i;
  if (digits > 0 && digits <= 15 && (t[i] != '0' || digits == 1)) {
    std::int64_t v = 0;
    for (; i < t.size() && IsDigit(t[i]); ++i) v = v * 10 + (t[i] - '0');
    if (i == t.size()) {
      d = t[0] == '-' ? -static_cast<double>(v) : static_cast<double>(v);
      return true;
    }
  }
  const auto [next, ec] = std::from_chars(t.data(), t.data() + t.size(), d);
  return IsJsonNumber(t) && ec == std::errc() && next == t.data() + t.size();
}

// The JSON walker's state, kept per classifier so a steady state allocates nothing.
//
// The walk reads one application line in one pass without copying it: every key of the top
// object and of the objects on the way to a configured path, the values those paths name, and
// nothing else. Skipped strings are scanned for their closing quote 16 bytes at a time, skipped
// objects and arrays by counting their nesting. What makes a line "not JSON" is what made
// simdjson's On-Demand reader (which this replaced on the hot path) refuse it: an unterminated
// string, a control byte inside a string, a missing ':' or ',', a bad escape in a key or a read
// value, a read number that is no JSON number. Invalid UTF-8 is tolerated; in a value that becomes
// a series label each bad byte is '?'.
struct Classifier::Json {
  std::vector<PathTarget> targets;
  std::size_t top_targets = 0;
  // The top-level targets are sorted by their first byte; top_range[c] is where those starting
  // with c lie, so most keys are ruled out by one look-up.
  std::array<std::pair<uint32_t, uint32_t>, 256> top_range{};

  // The best value found so far per category, by list index.
  std::array<uint16_t, kCategories> best{};
  int status = 0;
  Level level = Level::kNone;
  std::array<std::string_view, 3> names;  // ns, deployment, version
  std::array<std::string, 3> name_bytes;  // the names found, copied
  std::string key_bytes;                  // an escaped key, unescaped
  std::string value_bytes;                // an escaped value, unescaped
  std::string docker_bytes;               // a key or value inside a docker string, unescaped once

  const char* p = nullptr;
  const char* end = nullptr;
  // Asked by ClassifyUnlessDocker: stop at the first top-level key a docker frame has ("log",
  // "stream", "time"), as soon as it is read.
  bool unless_docker = false;

  void Reset(std::string_view message) {
    best.fill(std::numeric_limits<uint16_t>::max());
    status = 0;
    level = Level::kNone;
    names = {};
    p = message.data();
    end = message.data() + message.size();
  }

  // The walk reads either the application's JSON as it is (kEsc false) or, kEsc true, the same
  // JSON still inside a docker json-file "log" string, as if it were unescaped: \" is a quote,
  // \\ a backslash, \n \t \r between tokens are space. Wherever the escaped walk meets anything
  // else (\u, \/, a control byte, a bad escape) or would call the line "not JSON", it stops with
  // kBail and the caller unescapes and walks again, so it only answers what the plain walk would.
  template <bool kEsc>
  static constexpr Walked kFail = kEsc ? Walked::kBail : Walked::kNotJson;

  // A quote: '"', or '\"' inside a docker string.
  template <bool kEsc>
  bool AtQuote() const {
    if constexpr (kEsc) {
      return end - p >= 2 && p[0] == '\\' && p[1] == '"';
    } else {
      return p < end && *p == '"';
    }
  }

  // The cursor is copied into a local and written back once: kept in the walker, every move of it
  // would be a store the compiler cannot drop (char reads may alias it).
  template <bool kEsc = false>
  void SkipSpace() {
    const char* q = p;
    for (;;) {
      while (q < end && IsJsonSpace(*q)) ++q;
      if constexpr (kEsc) {
        if (end - q >= 2 && q[0] == '\\' && (q[1] == 'n' || q[1] == 't' || q[1] == 'r')) {
          q += 2;
          continue;
        }
      }
      break;
    }
    p = q;
  }

  // At an opening quote: the bytes between the quotes, escapes kept; `escaped` when there are any.
  template <bool kEsc = false>
  [[gnu::always_inline]] bool RawString(std::string_view& raw, bool& escaped) {
    const char* const begin = p + (kEsc ? 2 : 1);
    const char* const stop = end;
    const char* q = begin;
    bool any = false;
    for (;;) {
      q = FindStringSpecial(q, stop);
      if (q >= stop || static_cast<unsigned char>(*q) < 0x20) {
        p = q;
        return false;
      }
      if constexpr (kEsc) {
        // A raw '"' cannot be inside the docker string; a backslash starts \" (the end) or
        // \\ (the application's own escape), followed by one byte or by \" or \\.
        if (*q == '"' || stop - q < 2 || (q[1] != '"' && q[1] != '\\')) {
          p = q;
          return false;
        }
        if (q[1] == '"') break;
        any = true;
        if (stop - q < 3 || static_cast<unsigned char>(q[2]) < 0x20 || q[2] == '"') {
          p = q;
          return false;
        }
        if (q[2] != '\\') {
          q += 3;
        } else if (stop - q >= 4 && (q[3] == '"' || q[3] == '\\')) {
          q += 4;
        } else {
          p = q;
          return false;
        }
        continue;
      }
      if (*q == '"') break;
      any = true;
      if (stop - q < 2) {
        p = q;
        return false;
      }
      q += 2;
    }
    escaped = any;
    raw = std::string_view(begin, static_cast<std::size_t>(q - begin));
    p = q + (kEsc ? 2 : 1);
    return true;
  }

  // What RawString returned, unescaped: for the escaped walk first the docker string's \" and \\,
  // then the application's own escapes.
  template <bool kEsc>
  bool Unescaped(std::string_view raw, std::string& scratch, std::string_view& value) {
    if constexpr (kEsc) {
      if (Unescape(raw, docker_bytes, raw) != UnescapeResult::kOk) return false;
    }
    return Unescape(raw, scratch, value) == UnescapeResult::kOk;
  }

  // At an opening quote: the string unescaped, viewing the line or `scratch`.
  template <bool kEsc = false>
  bool String(std::string& scratch, std::string_view& value) {
    bool escaped = false;
    if (!RawString<kEsc>(value, escaped)) return false;
    if (!escaped) return true;
    return Unescaped<kEsc>(value, scratch, value);
  }

  // A scalar's bytes, up to the byte that ends it (in a docker string, also a backslash).
  template <bool kEsc = false>
  std::string_view Scalar() {
    const char* const begin = p;
    const char* q = begin;
    while (q < end && !kEndsScalar[static_cast<unsigned char>(*q)] && (!kEsc || *q != '\\')) ++q;
    p = q;
    return std::string_view(begin, static_cast<std::size_t>(q - begin));
  }

  // Skips one value of any kind; nesting is counted, not recursed into.
  template <bool kEsc = false>
  [[gnu::always_inline]] bool SkipValue() {
    if (p >= end) return false;
    if (AtQuote<kEsc>()) {
      std::string_view ignored;
      bool escaped = false;
      return RawString<kEsc>(ignored, escaped);
    }
    if (*p != '{' && *p != '[') return !Scalar<kEsc>().empty();
    std::size_t depth = 0;
    while (p < end) {
      const char c = *p;
      if (AtQuote<kEsc>()) {
        std::string_view ignored;
        bool escaped = false;
        if (!RawString<kEsc>(ignored, escaped)) return false;
        continue;
      }
      if constexpr (kEsc) {
        // Between tokens the plain walk passes any byte; the escaped one takes the escapes that
        // stand for one byte other than a quote (\u might be one, or be bad: the caller unescapes).
        if (c == '"') return false;
        if (c == '\\') {
          if (end - p < 2) return false;
          switch (p[1]) {
            case '\\':
            case '/':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't':
              p += 2;
              continue;
            default:
              return false;
          }
        }
      }
      if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        if (--depth == 0) {
          ++p;
          return true;
        }
      }
      ++p;
    }
    return false;
  }

  void TakeString(const PathTarget& t, std::string_view s) {
    if (t.index >= best[t.category]) return;
    switch (t.category) {
      case kStatus: {
        const int v = ParseStatusDigits(s);
        if (v == 0) return;
        status = v;
        break;
      }
      case kLevel: {
        const Level l = ParseLevel(s);
        if (l == Level::kNone) return;
        level = l;
        break;
      }
      default: {
        if (s.empty()) return;
        const std::size_t n = t.category - kNamespace;
        // Copied: the name outlives the caller's buffer and value_bytes (as the facts promise),
        // and bad UTF-8 in it is repaired.
        std::string& kept = name_bytes[n];
        kept.assign(s);
        if (!std::all_of(s.begin(), s.end(),
                         [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
          ReplaceInvalidUtf8(kept.data(), kept.size());
        }
        s = kept;
        names[n] = s;
        break;
      }
    }
    best[t.category] = t.index;
  }

  void TakeNumber(const PathTarget& t, double d) {
    if (t.index >= best[t.category] || !(d >= 0 && d < 1e6) || d != std::floor(d)) return;
    const long long n = static_cast<long long>(d);
    if (t.category == kStatus) {
      if (n < 100 || n > 599) return;
      status = static_cast<int>(n);
    } else if (t.category == kLevel) {
      const Level l = PinoLevel(n);
      if (l == Level::kNone) return;
      level = l;
    } else {
      return;
    }
    best[t.category] = t.index;
  }

  // At the top object's '{': walks it against every configured path and, when it is read whole,
  // fills the facts found.
  template <bool kEsc>
  bool WalkTop(LineFacts& facts) {
    const Walked walked = Walk<kEsc>(0, top_targets, 0);
    if (targets.size() != top_targets) targets.resize(top_targets);
    if (walked != Walked::kOk) return false;
    facts.status = status;
    facts.level = level;
    facts.ns = names[0];
    facts.deployment = names[1];
    facts.version = names[2];
    return true;
  }

  // At an object's '{': walks its fields against targets[begin, end_target); children go on the
  // end of `targets` and are popped on the way out.
  template <bool kEsc = false>
  Walked Walk(std::size_t begin, std::size_t end_target, int depth) {
    ++p;  // the '{'
    SkipSpace<kEsc>();
    if (p < end && *p == '}') {
      ++p;
      return Walked::kOk;
    }
    for (;;) {
      SkipSpace<kEsc>();
      if (!AtQuote<kEsc>()) return kFail<kEsc>;
      std::string_view key;
      bool escaped = false;
      if (!RawString<kEsc>(key, escaped)) return kFail<kEsc>;
      // The docker framer compares a key's bytes as written, so this does too.
      if (unless_docker && depth == 0 && IsDockerKey(key)) return Walked::kDocker;
      if (escaped && !Unescaped<kEsc>(key, key_bytes, key)) return kFail<kEsc>;
      SkipSpace<kEsc>();
      if (p >= end || *p != ':') return kFail<kEsc>;
      ++p;
      SkipSpace<kEsc>();
      if (p >= end) return kFail<kEsc>;

      const std::size_t child_begin = targets.size();
      bool exact = false;
      // Most keys match no target: at the top, one table look-up rules them out.
      std::size_t from = begin, to = end_target;
      if (depth == 0 && !key.empty()) {
        std::tie(from, to) = top_range[static_cast<unsigned char>(key[0])];
      }
      if (!key.empty()) {
        for (std::size_t i = from; i < to; ++i) {
          const PathTarget t = targets[i];
          if (t.rest.empty() || t.rest[0] != key[0]) continue;
          if (t.rest == key) {
            exact = true;
          } else if (depth < kMaxDepth && t.rest.size() > key.size() + 1 &&
                     t.rest[key.size()] == '.' && t.rest.compare(0, key.size(), key) == 0) {
            targets.push_back({t.rest.substr(key.size() + 1), t.category, t.index});
          }
        }
      }
      const std::size_t child_end = targets.size();
      Walked walked = Walked::kOk;
      if (child_begin != child_end && *p == '{') {
        walked = Walk<kEsc>(child_begin, child_end, depth + 1);
      } else if (exact && AtQuote<kEsc>()) {
        // `key` may view key_bytes: it is compared before the next key is read.
        std::string_view value;
        if (!String<kEsc>(value_bytes, value)) return kFail<kEsc>;
        for (std::size_t i = from; i < to; ++i) {
          if (targets[i].rest == key) TakeString(targets[i], value);
        }
      } else if (exact && (*p == '-' || IsDigit(*p))) {
        double d = 0;
        if (!ReadJsonNumber(Scalar<kEsc>(), d)) return kFail<kEsc>;
        for (std::size_t i = from; i < to; ++i) {
          if (targets[i].rest == key) TakeNumber(targets[i], d);
        }
      } else if (exact && !(*p == '{' || *p == '[' || *p == 't' || *p == 'f' || *p == 'n')) {
        return kFail<kEsc>;  // a value read for a path must at least have a JSON type
      } else if (!SkipValue<kEsc>()) {
        return kFail<kEsc>;
      }
      if (targets.size() != child_begin) targets.resize(child_begin);
      if (walked != Walked::kOk) return walked;

      SkipSpace<kEsc>();
      if (p >= end) return kFail<kEsc>;
      if (*p == ',') {
        ++p;
        continue;
      }
      if (*p != '}') return kFail<kEsc>;
      ++p;
      return Walked::kOk;
    }
  }
};

Classifier::Classifier(ClassifyOptions options)
    : options_(std::move(options)), json_(std::make_unique<Json>()) {
  const std::array<const std::vector<std::string>*, kCategories> lists = {
      &options_.status_fields, &options_.level_fields, &options_.namespace_fields,
      &options_.deployment_fields, &options_.version_fields};
  for (std::size_t c = 0; c < lists.size(); ++c) {
    const auto& list = *lists[c];
    for (std::size_t i = 0; i < list.size() && i < std::numeric_limits<uint16_t>::max(); ++i) {
      json_->targets.push_back({list[i], static_cast<Category>(c), static_cast<uint16_t>(i)});
    }
  }
  json_->top_targets = json_->targets.size();
  std::stable_sort(
      json_->targets.begin(), json_->targets.end(), [](const PathTarget& a, const PathTarget& b) {
        return static_cast<unsigned char>(a.rest[0]) < static_cast<unsigned char>(b.rest[0]);
      });
  for (std::size_t i = 0; i < json_->targets.size(); ++i) {
    auto& range = json_->top_range[static_cast<unsigned char>(json_->targets[i].rest[0])];
    if (range.first == range.second) range.first = static_cast<uint32_t>(i);
    range.second = static_cast<uint32_t>(i + 1);
  }
  json_->targets.reserve(json_->top_targets * 4 + 16);
}

Classifier::~Classifier() = default;

core::Result<std::unique_ptr<Classifier>> Classifier::Create(ClassifyOptions options) {
  const std::pair<const char*, const std::vector<std::string>*> lists[] = {
      {"status_fields", &options.status_fields},
      {"level_fields", &options.level_fields},
      {"namespace_fields", &options.namespace_fields},
      {"deployment_fields", &options.deployment_fields},
      {"version_fields", &options.version_fields}};
  for (const auto& [name, list] : lists) {
    for (const std::string& f : *list) {
      if (f.empty()) {
        return core::Error{std::string(name) +
                           ": a field name is empty; remove it or name a JSON key such as "
                           "\"status\" or a dotted path such as \"http.status_code\""};
      }
    }
  }
  std::vector<std::unique_ptr<re2::RE2>> patterns;
  for (const std::string& p : options.error_patterns) {
    RE2::Options re_options;
    re_options.set_log_errors(false);
    auto re = std::make_unique<re2::RE2>(p, re_options);
    if (!re->ok()) {
      return core::Error{"error_patterns: cannot compile \"" + p + "\": " + re->error() +
                         "; patterns use RE2 syntax (no backreferences or lookaround)"};
    }
    patterns.push_back(std::move(re));
  }
  std::unique_ptr<Classifier> c(new Classifier(std::move(options)));
  c->patterns_ = std::move(patterns);
  return c;
}

bool Classifier::IsErrorStatus(int status) const {
  if (status >= 500) return true;
  const auto& extra = options_.extra_error_statuses;
  return std::find(extra.begin(), extra.end(), status) != extra.end();
}

LineFacts Classifier::Classify(std::string_view message) {
  LineFacts facts;
  std::size_t first = 0;
  while (first < message.size() && IsSpace(message[first])) ++first;
  if (first >= message.size() || message[first] != '{' || !ClassifyJson(message, facts)) {
    facts = LineFacts{};
    ClassifyText(message, facts);
  }
  MatchPatterns(message, facts);
  return facts;
}

std::optional<LineFacts> Classifier::ClassifyUnlessDocker(std::string_view message) {
  LineFacts facts;
  json_->unless_docker = true;
  const bool json = ClassifyJson(message, facts);
  json_->unless_docker = false;
  if (!json) return std::nullopt;
  MatchPatterns(message, facts);
  return facts;
}

std::optional<LineFacts> Classifier::ClassifyEscaped(std::string_view escaped, std::size_t& used) {
  // Patterns match the message's text, which only unescaping gives.
  if (!patterns_.empty() || escaped.empty() || escaped[0] != '{') return std::nullopt;
  Json& j = *json_;
  j.Reset(escaped);
  LineFacts facts;
  if (!j.WalkTop<true>(facts)) return std::nullopt;
  used = static_cast<std::size_t>(j.p - escaped.data());
  MatchPatterns(std::string_view(), facts);
  return facts;
}

void Classifier::MatchPatterns(std::string_view message, LineFacts& facts) const {
  facts.error_line = IsErrorLevel(facts.level);
  if (facts.error_line) return;
  for (const auto& re : patterns_) {
    if (re2::RE2::PartialMatch(message, *re)) {
      facts.error_line = true;
      return;
    }
  }
}

bool Classifier::ClassifyJson(std::string_view message, LineFacts& facts) {
  Json& j = *json_;
  j.Reset(message);
  j.SkipSpace();
  if (j.p >= j.end || *j.p != '{') return false;
  return j.WalkTop<false>(facts);
}

void Classifier::ClassifyText(std::string_view message, LineFacts& facts) const {
  facts.status = AccessLogStatus(message);
  // logfmt pairs anywhere in the line; for each the first configured name in list order wins.
  std::size_t best_status = std::numeric_limits<std::size_t>::max();
  std::size_t best_level = best_status;
  LogfmtReader reader(message);
  std::string_view key, value;
  while (reader.Next(key, value)) {
    if (facts.status == 0 || best_status != std::numeric_limits<std::size_t>::max()) {
      const auto& f = options_.status_fields;
      for (std::size_t i = 0; i < f.size() && i < best_status; ++i) {
        if (f[i] != key) continue;
        if (const int v = ParseStatusDigits(value); v != 0) {
          facts.status = v;
          best_status = i;
        }
        break;
      }
    }
    const auto& f = options_.level_fields;
    for (std::size_t i = 0; i < f.size() && i < best_level; ++i) {
      if (f[i] != key) continue;
      if (const Level l = ParseLevel(value); l != Level::kNone) {
        facts.level = l;
        best_level = i;
      }
      break;
    }
  }
  if (facts.level == Level::kNone) facts.level = LeadingLevel(message);
}

}  // namespace obsgate::ingest
