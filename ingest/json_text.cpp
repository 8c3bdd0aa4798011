#include "ingest/json_text.hpp"

#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace obsgate::ingest {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// 4 hex digits at s[pos]; -1 when they are missing or not hex.
long ReadHex4(std::string_view s, std::size_t pos) {
  if (pos + 4 > s.size()) return -1;
  long v = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    const int h = HexValue(s[pos + i]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

void AppendUtf8(std::string& out, std::uint32_t cp) {
  char b[4];
  std::size_t n = 0;
  if (cp < 0x80) {
    b[n++] = static_cast<char>(cp);
  } else if (cp < 0x800) {
    b[n++] = static_cast<char>(0xC0 | (cp >> 6));
    b[n++] = static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    b[n++] = static_cast<char>(0xE0 | (cp >> 12));
    b[n++] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    b[n++] = static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    b[n++] = static_cast<char>(0xF0 | (cp >> 18));
    b[n++] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    b[n++] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    b[n++] = static_cast<char>(0x80 | (cp & 0x3F));
  }
  out.append(b, n);
}

constexpr std::uint32_t kReplacement = 0xFFFD;

template <bool kControl>
const char* Find(const char* p, const char* end) {
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

}  // namespace

const char* FindQuoteOrBackslash(const char* p, const char* end) { return Find<false>(p, end); }

const char* FindStringSpecial(const char* p, const char* end) { return Find<true>(p, end); }

UnescapeResult AppendUnescaped(std::string_view raw, std::string& out) {
  std::size_t pos = 0;
  while (pos < raw.size()) {
    const void* hit = std::memchr(raw.data() + pos, '\\', raw.size() - pos);
    const std::size_t slash =
        hit ? static_cast<std::size_t>(static_cast<const char*>(hit) - raw.data()) : raw.size();
    out.append(raw.data() + pos, slash - pos);
    if (slash + 1 >= raw.size())
      return slash == raw.size() ? UnescapeResult::kOk : UnescapeResult::kBadEscape;
    const char e = raw[slash + 1];
    pos = slash + 2;
    switch (e) {
      case '"':
      case '\\':
      case '/':
        out.push_back(e);
        break;
      case 'b':
        out.push_back('\b');
        break;
      case 'f':
        out.push_back('\f');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'u': {
        const long hi = ReadHex4(raw, pos);
        if (hi < 0) return UnescapeResult::kBadEscape;
        pos += 4;
        if (hi >= 0xDC00 && hi <= 0xDFFF) {
          AppendUtf8(out, kReplacement);
        } else if (hi < 0xD800 || hi > 0xDBFF) {
          AppendUtf8(out, static_cast<std::uint32_t>(hi));
        } else {
          // A high surrogate counts only with a low one right after it; otherwise the next
          // escape is left alone to be decoded on its own.
          long lo = -1;
          if (pos + 6 <= raw.size() && raw[pos] == '\\' && raw[pos + 1] == 'u') {
            lo = ReadHex4(raw, pos + 2);
          }
          if (lo >= 0xDC00 && lo <= 0xDFFF) {
            pos += 6;
            AppendUtf8(out, 0x10000 + ((static_cast<std::uint32_t>(hi) - 0xD800) << 10) +
                                (static_cast<std::uint32_t>(lo) - 0xDC00));
          } else {
            AppendUtf8(out, kReplacement);
          }
        }
        break;
      }
      default:
        return UnescapeResult::kBadEscape;
    }
  }
  return UnescapeResult::kOk;
}

}  // namespace obsgate::ingest
