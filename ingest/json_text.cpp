#include "ingest/json_text.hpp"

#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__)
#include <immintrin.h>
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

constexpr std::uint32_t kReplacement = 0xFFFD;

}  // namespace

namespace {

enum class Escape : unsigned char { kOk, kBad, kCut };

// Decodes the escape whose letter is at `p` (just after a backslash) to `dst`, which has room for
// 4 bytes; advances both. kCut when `end` comes first.
Escape DecodeEscape(const char*& p, const char* end, char*& dst) {
  if (p >= end) return Escape::kCut;
  const char e = *p++;
  switch (e) {
    case '"':
    case '\\':
    case '/':
      *dst++ = e;
      return Escape::kOk;
    case 'b':
      *dst++ = '\b';
      return Escape::kOk;
    case 'f':
      *dst++ = '\f';
      return Escape::kOk;
    case 'n':
      *dst++ = '\n';
      return Escape::kOk;
    case 'r':
      *dst++ = '\r';
      return Escape::kOk;
    case 't':
      *dst++ = '\t';
      return Escape::kOk;
    case 'u':
      break;
    default:
      return Escape::kBad;
  }
  if (end - p < 4) return Escape::kCut;
  const long hi = ReadHex4(std::string_view(p, 4), 0);
  if (hi < 0) return Escape::kBad;
  p += 4;
  std::uint32_t cp = static_cast<std::uint32_t>(hi);
  if (hi >= 0xDC00 && hi <= 0xDFFF) {
    cp = kReplacement;
  } else if (hi >= 0xD800 && hi <= 0xDBFF) {
    // A high surrogate counts only with a low one right after it; otherwise the next escape is
    // left alone to be decoded on its own.
    long lo = -1;
    if (end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
      lo = ReadHex4(std::string_view(p + 2, 4), 0);
    }
    if (lo >= 0xDC00 && lo <= 0xDFFF) {
      p += 6;
      cp = 0x10000 + ((static_cast<std::uint32_t>(hi) - 0xD800) << 10) +
           (static_cast<std::uint32_t>(lo) - 0xDC00);
    } else {
      cp = kReplacement;
    }
  }
  if (cp < 0x80) {
    *dst++ = static_cast<char>(cp);
  } else if (cp < 0x800) {
    *dst++ = static_cast<char>(0xC0 | (cp >> 6));
    *dst++ = static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    *dst++ = static_cast<char>(0xE0 | (cp >> 12));
    *dst++ = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    *dst++ = static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    *dst++ = static_cast<char>(0xF0 | (cp >> 18));
    *dst++ = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    *dst++ = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    *dst++ = static_cast<char>(0x80 | (cp & 0x3F));
  }
  return Escape::kOk;
}

// Where one step of unescaping left off.
enum class Step : unsigned char { kMore, kOk, kBadEscape, kUnterminated };

// One step of unescaping from p: the run up to the next backslash (or closing quote, with
// kStopAtQuote) copied to `dst`, and that escape decoded. `dst` has room for end - p + 16 bytes:
// an escape never decodes longer than it is written, and runs are copied 16 bytes at a time before
// it is known where they stop.
template <bool kStopAtQuote>
inline Step UnescapeStep(const char*& p, const char* end, char*& dst) {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  while (end - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), v);
    __m128i hit = _mm_cmpeq_epi8(v, backslash);
    if constexpr (kStopAtQuote) hit = _mm_or_si128(hit, _mm_cmpeq_epi8(v, quote));
    const int mask = _mm_movemask_epi8(hit);
    if (mask == 0) {
      p += 16;
      dst += 16;
      continue;
    }
    const int at = __builtin_ctz(static_cast<unsigned>(mask));
    p += at;
    dst += at;
    break;
  }
#endif
  while (p < end && *p != '\\' && !(kStopAtQuote && *p == '"')) *dst++ = *p++;
  if (p >= end) return kStopAtQuote ? Step::kUnterminated : Step::kOk;
  if (*p == '"') {
    ++p;
    return Step::kOk;
  }
  ++p;  // the backslash
  // The escapes a JSON line inside a docker log string is made of, without a call.
  if (p < end && (*p == '"' || *p == '\\')) {
    *dst++ = *p++;
    return Step::kMore;
  }
  switch (DecodeEscape(p, end, dst)) {
    case Escape::kOk:
      return Step::kMore;
    case Escape::kCut:
      return kStopAtQuote ? Step::kUnterminated : Step::kBadEscape;
    case Escape::kBad:
      break;
  }
  return Step::kBadEscape;
}

UnescapeResult Finished(Step s) {
  switch (s) {
    case Step::kUnterminated:
      return UnescapeResult::kUnterminated;
    case Step::kBadEscape:
      return UnescapeResult::kBadEscape;
    default:
      return UnescapeResult::kOk;
  }
}

template <bool kStopAtQuote>
UnescapeResult Unescape(const char*& p, const char* end, char*& dst) {
  for (;;) {
    if (Step s = UnescapeStep<kStopAtQuote>(p, end, dst); s != Step::kMore) return Finished(s);
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
#define OBSGATE_WIDE_UNESCAPE 1
// The same with AVX-512 (VBMI2) where the CPU has it, 64 bytes at a time, the last block of a
// string read with a mask: a block whose escapes each stand alone and end inside it, and are
// \" \/ \n \t \r \b or \f (a JSON line inside a docker log string is made of those), gets its
// escaped letters replaced and its backslashes squeezed out in one compress; any other block goes
// one step the ordinary way.
template <bool kStopAtQuote>
__attribute__((target("avx512f,avx512bw,avx512vbmi2,popcnt,bmi,bmi2"))) UnescapeResult UnescapeWide(
    const char*& p, const char* end, char*& dst) {
  const __m512i backslash = _mm512_set1_epi8('\\');
  const __m512i quote = _mm512_set1_epi8('"');
  const __m512i slash = _mm512_set1_epi8('/');
  struct Letter {
    __m512i letter;
    __m512i byte;
  };
  const Letter letters[] = {{_mm512_set1_epi8('n'), _mm512_set1_epi8('\n')},
                            {_mm512_set1_epi8('t'), _mm512_set1_epi8('\t')},
                            {_mm512_set1_epi8('r'), _mm512_set1_epi8('\r')},
                            {_mm512_set1_epi8('b'), _mm512_set1_epi8('\b')},
                            {_mm512_set1_epi8('f'), _mm512_set1_epi8('\f')}};
  for (;;) {
    while (p < end) {
      const std::size_t left = static_cast<std::size_t>(end - p);
      const std::uint64_t valid = left >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << left) - 1;
      const std::uint64_t last =
          left >= 64 ? std::uint64_t{1} << 63 : std::uint64_t{1} << (left - 1);
      // A masked load reads nothing past `end`.
      __m512i v = _mm512_maskz_loadu_epi8(valid, p);
      const std::uint64_t b = _mm512_cmpeq_epi8_mask(v, backslash) & valid;
      const std::uint64_t q = _mm512_cmpeq_epi8_mask(v, quote) & valid;
      const std::uint64_t closing = kStopAtQuote ? q & ~(b << 1) : 0;
      // Bytes before the closing quote, if there is one in this block.
      const std::uint64_t before = closing ? (closing & (0 - closing)) - 1 : valid;
      const std::uint64_t escapes = b & before;
      const std::uint64_t escaped = escapes << 1;
      std::uint64_t simple = q | _mm512_cmpeq_epi8_mask(v, slash);
      for (const Letter& l : letters) {
        const std::uint64_t at = _mm512_cmpeq_epi8_mask(v, l.letter);
        simple |= at;
        v = _mm512_mask_mov_epi8(v, at & escaped, l.byte);
      }
      if ((escapes & escaped) != 0 || (escapes & last) != 0 || (escaped & ~simple) != 0) break;
      const std::uint64_t keep = before & ~escapes;
      const auto kept = static_cast<unsigned>(_mm_popcnt_u64(keep));
      const std::uint64_t out = kept == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << kept) - 1;
      _mm512_mask_storeu_epi8(dst, out, _mm512_maskz_compress_epi8(keep, v));
      dst += kept;
      if (closing) {
        p += __builtin_ctzll(closing) + 1;
        return UnescapeResult::kOk;
      }
      if (left <= 64) {
        p = end;
        return kStopAtQuote ? UnescapeResult::kUnterminated : UnescapeResult::kOk;
      }
      p += 64;
    }
    if (Step s = UnescapeStep<kStopAtQuote>(p, end, dst); s != Step::kMore) return Finished(s);
  }
}

bool HasWideUnescape() {
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vbmi2");
  return has;
}
#endif

template <bool kStopAtQuote>
UnescapeResult UnescapeInto(const char*& p, const char* end, std::string& buffer,
                            std::string_view& value, std::size_t clean) {
  const std::size_t room = static_cast<std::size_t>(end - p) + 16;
  if (buffer.size() < room) buffer.resize(room);
  char* dst = buffer.data();
  std::memcpy(dst, p, clean);
  dst += clean;
  p += clean;
#if defined(OBSGATE_WIDE_UNESCAPE)
  const UnescapeResult r = HasWideUnescape() ? UnescapeWide<kStopAtQuote>(p, end, dst)
                                             : Unescape<kStopAtQuote>(p, end, dst);
#else
  const UnescapeResult r = Unescape<kStopAtQuote>(p, end, dst);
#endif
  value = std::string_view(buffer.data(), static_cast<std::size_t>(dst - buffer.data()));
  return r;
}

}  // namespace

UnescapeResult Unescape(std::string_view raw, std::string& buffer, std::string_view& value) {
  const char* p = raw.data();
  return UnescapeInto<false>(p, raw.data() + raw.size(), buffer, value, 0);
}

UnescapeResult UnescapeString(const char*& p, const char* end, std::string& buffer,
                              std::string_view& value, std::size_t clean) {
  return UnescapeInto<true>(p, end, buffer, value, clean);
}

}  // namespace obsgate::ingest
