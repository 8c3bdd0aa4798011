// JSON string scans and unescaping, against a plain byte-by-byte decoder written from the JSON
// grammar, over strings built to reach every path: 64-byte blocks of \" and \/ only (the
// AVX-512 compress, where the CPU has it), 16-byte runs, and every other escape on the slow path.
#include "ingest/json_text.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <random>

namespace obsgate::ingest {
namespace {

// The reference: \uXXXX to UTF-8, lone surrogates to U+FFFD; nullopt for a bad or cut escape.
std::optional<std::string> Reference(std::string_view raw) {
  std::string out;
  auto hex4 = [&](std::size_t at) -> long {
    if (at + 4 > raw.size()) return -1;
    long v = 0;
    for (std::size_t i = at; i < at + 4; ++i) {
      const char c = raw[i];
      const int h = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
      if (h < 0) return -1;
      v = v * 16 + h;
    }
    return v;
  };
  auto utf8 = [&](std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  };
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '\\') {
      out += raw[i];
      continue;
    }
    if (++i >= raw.size()) return std::nullopt;
    switch (raw[i]) {
      case '"':
      case '\\':
      case '/':
        out += raw[i];
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'u': {
        const long hi = hex4(i + 1);
        if (hi < 0) return std::nullopt;
        i += 4;
        if (hi >= 0xD800 && hi <= 0xDBFF && i + 6 < raw.size() + 0 && raw[i + 1] == '\\' &&
            raw[i + 2] == 'u') {
          const long lo = hex4(i + 3);
          if (lo >= 0xDC00 && lo <= 0xDFFF) {
            utf8(0x10000 + ((static_cast<std::uint32_t>(hi) - 0xD800) << 10) +
                 (static_cast<std::uint32_t>(lo) - 0xDC00));
            i += 6;
            break;
          }
        }
        utf8(hi >= 0xD800 && hi <= 0xDFFF ? 0xFFFD : static_cast<std::uint32_t>(hi));
        break;
      }
      default:
        return std::nullopt;
    }
  }
  return out;
}

// A string body (escapes kept, no bare quote) of n pieces drawn from `pieces`.
std::string Body(std::mt19937& rng, const std::vector<std::string>& pieces, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += pieces[rng() % pieces.size()];
  return s;
}

TEST(JsonTextTest, UnescapingAgreesWithTheGrammarOnEveryPath) {
  std::mt19937 rng(7);
  const std::vector<std::vector<std::string>> kinds = {
      // What a JSON line inside a docker log string is made of.
      {"\\\"", "a", "level", ":", ",", "{", "}", "\\/", " ", "0123456789", "é"},
      // Every escape, and runs long enough for 16- and 64-byte blocks.
      {"\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t", "\\u00e9", "\\ud83d\\ude00",
       "\\ud800", "\\udc00x", std::string(70, 'x'), std::string(17, 'y'), "z"},
      // Backslash runs of every length before a quote or a letter.
      {"\\\\", "\\\\\\\"", "\\\"", "q", std::string(63, 'w')},
  };
  std::string buffer;
  for (int round = 0; round < 3000; ++round) {
    const auto& pieces = kinds[round % kinds.size()];
    std::string raw = Body(rng, pieces, 1 + static_cast<int>(rng() % 80));
    std::optional<std::string> want = Reference(raw);
    ASSERT_TRUE(want) << raw;

    std::string_view got;
    ASSERT_EQ(Unescape(raw, buffer, got), UnescapeResult::kOk) << raw;
    EXPECT_EQ(got, *want) << raw;

    // As a string in a line: found and unescaped in one pass, stopping after its quote.
    std::string line = raw + "\",\"next\":1}";
    const char* p = line.data();
    ASSERT_EQ(UnescapeString(p, line.data() + line.size(), buffer, got), UnescapeResult::kOk)
        << raw;
    EXPECT_EQ(got, *want) << raw;
    EXPECT_EQ(p - line.data(), static_cast<std::ptrdiff_t>(raw.size() + 1)) << raw;

    // Cut before its quote: unterminated, whatever was cut.
    p = raw.data();
    EXPECT_EQ(UnescapeString(p, raw.data() + raw.size(), buffer, got),
              UnescapeResult::kUnterminated)
        << raw;
  }
}

TEST(JsonTextTest, BadEscapesAreFoundWhereverTheyStand) {
  std::string buffer;
  std::string_view got;
  for (std::size_t at : {0u, 5u, 15u, 16u, 62u, 63u, 64u, 100u}) {
    for (std::string bad : {"\\x", "\\u12G4", "\\u"}) {
      std::string raw = std::string(at, 'a') + bad + std::string(80, 'b');
      if (bad == "\\u") raw = std::string(at, 'a') + "\\u\"";
      EXPECT_EQ(Unescape(raw, buffer, got), UnescapeResult::kBadEscape) << raw;
      std::string line = std::string(at, 'a') + bad + "\"}, \"more\": 1}";
      const char* p = line.data();
      EXPECT_EQ(UnescapeString(p, line.data() + line.size(), buffer, got),
                UnescapeResult::kBadEscape)
          << line;
    }
    // An escape cut off by the end of the line is the line's end, not a bad escape.
    std::string cut = std::string(at, 'a') + "\\u12";
    const char* p = cut.data();
    EXPECT_EQ(UnescapeString(p, cut.data() + cut.size(), buffer, got),
              UnescapeResult::kUnterminated);
  }
}

TEST(JsonTextTest, ScansStopAtTheFirstSpecialByte) {
  for (std::size_t at = 0; at < 70; ++at) {
    for (char special : {'"', '\\', '\x01'}) {
      std::string s(at, 'a');
      s += special;
      s += std::string(20, 'b');
      const char* hit = FindStringSpecial(s.data(), s.data() + s.size());
      EXPECT_EQ(hit - s.data(), static_cast<std::ptrdiff_t>(at));
      const char* qb = FindQuoteOrBackslash(s.data(), s.data() + s.size());
      EXPECT_EQ(qb - s.data(), static_cast<std::ptrdiff_t>(special == '\x01' ? s.size() : at));
    }
    std::string none(at, 'c');
    EXPECT_EQ(FindStringSpecial(none.data(), none.data() + none.size()), none.data() + at);
  }
}

}  // namespace
}  // namespace obsgate::ingest
