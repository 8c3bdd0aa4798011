#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

// Byte scans and string unescaping shared by the docker framer and the JSON classifier: the two
// read JSON on every log line, so both find string ends 16 bytes at a time.
namespace obsgate::ingest {

// The four bytes JSON allows between tokens.
inline bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

namespace json_text_detail {

template <bool kControl>
inline const char* Find(const char* p, const char* end) {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i below_space = _mm_set1_epi8(0x1F);
  while (end - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    __m128i hit = _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash));
    if constexpr (kControl) {
      // Unsigned v <= 0x1F: min(v, 0x1F) == v.
      hit = _mm_or_si128(hit, _mm_cmpeq_epi8(_mm_min_epu8(v, below_space), v));
    }
    const int mask = _mm_movemask_epi8(hit);
    if (mask != 0) return p + __builtin_ctz(static_cast<unsigned>(mask));
    p += 16;
  }
#endif
  for (; p < end; ++p) {
    const unsigned char c = static_cast<unsigned char>(*p);
    if (c == '"' || c == '\\' || (kControl && c < 0x20)) return p;
  }
  return end;
}

}  // namespace json_text_detail

// The first '"' or '\\' in [p, end); end when there is none. Inline: it runs for every string of
// every line.
inline const char* FindQuoteOrBackslash(const char* p, const char* end) {
  return json_text_detail::Find<false>(p, end);
}

// The first '"', '\\' or control byte (< 0x20, which JSON forbids unescaped in a string) in
// [p, end); end when there is none.
inline const char* FindStringSpecial(const char* p, const char* end) {
  return json_text_detail::Find<true>(p, end);
}

enum class UnescapeResult : unsigned char { kOk, kBadEscape, kUnterminated };

// Unescapes the JSON string body `raw` (the bytes between its quotes, escapes kept) into
// `buffer`, which grows as needed and never shrinks, and views the result in `value`. \uXXXX
// becomes UTF-8; a lone surrogate becomes U+FFFD. kBadEscape for an unknown escape or a \u
// without four hex digits.
UnescapeResult Unescape(std::string_view raw, std::string& buffer, std::string_view& value);

// The same for a string starting at `p` (just after its opening quote), found and unescaped in one
// pass: p ends just after the closing quote. kUnterminated when `end` comes first. The first
// `clean` bytes are known to hold no quote or backslash and are copied as they are.
UnescapeResult UnescapeString(const char*& p, const char* end, std::string& buffer,
                              std::string_view& value, std::size_t clean = 0);

}  // namespace obsgate::ingest
