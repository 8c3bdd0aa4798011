#include "ingest/scrape/exposition.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <unordered_map>
#include <unordered_set>

namespace obsgate::ingest {
namespace {

enum CharClass : unsigned char {
  kNameStart = 1,  // [a-zA-Z_]
  kNameChar = 2,   // [a-zA-Z0-9_]
  kColon = 4,      // ':' is allowed in metric names, not in label names
};

constexpr std::array<unsigned char, 256> MakeClasses() {
  std::array<unsigned char, 256> t{};
  for (int c = 'a'; c <= 'z'; ++c) t[c] = kNameStart | kNameChar;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = kNameStart | kNameChar;
  for (int c = '0'; c <= '9'; ++c) t[c] = kNameChar;
  t['_'] = kNameStart | kNameChar;
  t[':'] = kColon;
  return t;
}
constexpr std::array<unsigned char, 256> kClasses = MakeClasses();

inline unsigned char ClassOf(char c) { return kClasses[static_cast<unsigned char>(c)]; }
inline bool IsBlank(char c) { return c == ' ' || c == '\t'; }

// The first '"' or '\\' in [p, eol), or eol: where a label value ends or has an escape. Reads in
// 16-byte blocks up to `limit` (the body's end), past eol, since values are short and the line
// rarely has 16 bytes left after one; a hit at or past eol counts as none.
inline const char* FindQuoteOrBackslash(const char* p, const char* eol, const char* limit) {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  while (p < eol && limit - p >= 16) {
    __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    __m128i hits = _mm_or_si128(_mm_cmpeq_epi8(block, quote), _mm_cmpeq_epi8(block, backslash));
    if (unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(hits)); mask != 0) {
      const char* hit = p + __builtin_ctz(mask);
      return hit < eol ? hit : eol;
    }
    p += 16;
  }
#else
  (void)limit;
#endif
  while (p < eol && *p != '"' && *p != '\\') ++p;
  return p < eol ? p : eol;
}

// "'x'", "end of line", or the byte in hex: what a message says was found instead.
std::string Found(const char* p, const char* eol) {
  if (p >= eol) return "end of line";
  unsigned char c = static_cast<unsigned char>(*p);
  char buf[16];
  if (c >= 0x20 && c < 0x7F) {
    std::snprintf(buf, sizeof buf, "'%c'", c);
  } else {
    std::snprintf(buf, sizeof buf, "byte 0x%02X", c);
  }
  return buf;
}

std::string Quoted(std::string_view s) {
  constexpr std::size_t kMax = 40;
  std::string out = "\"";
  for (char c : s.substr(0, kMax)) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", u);
      out += buf;
    } else {
      out += c;
    }
  }
  if (s.size() > kMax) out += "...";
  return out + "\"";
}

// A float as Go's strconv.ParseFloat reads it (which is what Prometheus uses): optional sign,
// decimal or exponent form, and Inf/Infinity/NaN in any case.
bool ParseDouble(std::string_view tok, double& out) {
  if (tok.empty()) return false;
  const char* b = tok.data();
  const char* e = b + tok.size();
  bool negative = false;
  if (*b == '+' || *b == '-') {
    negative = *b == '-';
    ++b;
    if (b == e || *b == '+' || *b == '-') return false;
  }
  // Most values are short decimals ("1234", "0.25"): with at most 15 digits the mantissa is exact
  // in a double and so is the power of ten, so one division rounds once, exactly as from_chars
  // does (Clinger's fast path).
  if (e - b <= 16) {
    static constexpr double kPowersOfTen[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                              1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    std::uint64_t v = 0;
    const char* q = b;
    const char* dot = nullptr;
    for (; q < e; ++q) {
      if (*q >= '0' && *q <= '9') {
        v = v * 10 + static_cast<std::uint64_t>(*q - '0');
      } else if (*q == '.' && dot == nullptr) {
        dot = q;
      } else {
        break;
      }
    }
    std::ptrdiff_t digits = (e - b) - (dot != nullptr ? 1 : 0);
    if (q == e && digits > 0 && digits <= 15) {
      double d = static_cast<double>(v);
      if (dot != nullptr) d /= kPowersOfTen[e - dot - 1];
      out = negative ? -d : d;
      return true;
    }
    if (e - b == 3 && std::memcmp(b, "Inf", 3) == 0) {  // "+Inf" of every histogram
      out = negative ? -std::numeric_limits<double>::infinity()
                     : std::numeric_limits<double>::infinity();
      return true;
    }
  }
  for (const char* q = b; q < e; ++q) {
    if (*q == '(') return false;  // from_chars takes "nan(payload)"; Go does not
  }
  double v = 0;
  auto [p, ec] = std::from_chars(b, e, v, std::chars_format::general);
  if (ec != std::errc() || p != e) return false;
  out = negative ? -v : v;
  return true;
}

bool ParseInt64(std::string_view tok, std::int64_t& out) {
  const char* b = tok.data();
  const char* e = b + tok.size();
  if (b != e && *b == '+') ++b;
  if (b == e) return false;
  auto [p, ec] = std::from_chars(b, e, out);
  return ec == std::errc() && p == e;
}

struct TypeName {
  std::string_view name;
  MetricType type;
};
constexpr TypeName kTextTypes[] = {{"counter", MetricType::kCounter},
                                   {"gauge", MetricType::kGauge},
                                   {"histogram", MetricType::kHistogram},
                                   {"summary", MetricType::kSummary},
                                   {"untyped", MetricType::kUnknown}};
constexpr TypeName kOpenMetricsTypes[] = {
    {"counter", MetricType::kCounter},     {"gauge", MetricType::kGauge},
    {"histogram", MetricType::kHistogram}, {"gaugehistogram", MetricType::kGaugeHistogram},
    {"summary", MetricType::kSummary},     {"info", MetricType::kInfo},
    {"stateset", MetricType::kStateSet},   {"unknown", MetricType::kUnknown}};

// The sample-name suffixes each type allows ("" is the family name itself).
std::span<const std::string_view> Suffixes(MetricType type, ExpositionFormat format) {
  static constexpr std::string_view kPlain[] = {""};
  static constexpr std::string_view kTextHistogram[] = {"_bucket", "_sum", "_count", ""};
  static constexpr std::string_view kTextSummary[] = {"", "_sum", "_count"};
  static constexpr std::string_view kCounter[] = {"_total", "_created"};
  static constexpr std::string_view kHistogram[] = {"_bucket", "_count", "_sum", "_created"};
  static constexpr std::string_view kGaugeHistogram[] = {"_bucket", "_gcount", "_gsum"};
  static constexpr std::string_view kSummary[] = {"", "_count", "_sum", "_created"};
  static constexpr std::string_view kInfo[] = {"_info"};
  if (format == ExpositionFormat::kText) {
    if (type == MetricType::kHistogram) return kTextHistogram;
    if (type == MetricType::kSummary) return kTextSummary;
    return kPlain;
  }
  switch (type) {
    case MetricType::kCounter:
      return kCounter;
    case MetricType::kHistogram:
      return kHistogram;
    case MetricType::kGaugeHistogram:
      return kGaugeHistogram;
    case MetricType::kSummary:
      return kSummary;
    case MetricType::kInfo:
      return kInfo;
    default:
      return kPlain;
  }
}

// The suffix of `sample` after `family` if the family's type allows it; nullopt otherwise.
std::optional<std::string_view> MatchSuffix(std::string_view sample, std::string_view family,
                                            std::span<const std::string_view> suffixes) {
  if (sample.size() < family.size() || sample.compare(0, family.size(), family) != 0) {
    return std::nullopt;
  }
  std::string_view rest = sample.substr(family.size());
  for (std::string_view s : suffixes) {
    if (rest == s) return s;
  }
  return std::nullopt;
}

const ExpositionLabel* FindLabel(std::span<const ExpositionLabel> labels, std::string_view name) {
  for (const ExpositionLabel& l : labels) {
    if (l.name == name) return &l;
  }
  return nullptr;
}

// One parse of one body. Owned by the calling thread.
class Parser {
 public:
  Parser(std::string_view body, ExpositionFormat format, ExpositionVisitor& visitor)
      : body_(body),
        body_end_(body.data() + body.size()),
        om_(format == ExpositionFormat::kOpenMetrics),
        visitor_(visitor) {}

  core::Status Run() {
    const char* p = body_.data();
    const char* end = p + body_.size();
    while (p < end) {
      ++line_;
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
      const char* eol = nl != nullptr ? nl : end;
      if (eof_seen_) return Fail("nothing after \"# EOF\"", Found(p, eol));
      if (!Line(p, eol)) return core::Error{std::move(error_)};
      p = nl != nullptr ? nl + 1 : end;
    }
    if (om_ && !eof_seen_) {
      ++line_;
      return Fail("\"# EOF\" as the last line of an OpenMetrics exposition", "end of input");
    }
    EndFamily();
    return core::Ok{};
  }

 private:
  core::Error Fail(std::string_view expected, const std::string& found) {
    error_ =
        "line " + std::to_string(line_) + ": expected " + std::string(expected) + ", got " + found;
    return core::Error{error_};
  }
  bool Error(std::string message) {
    error_ = "line " + std::to_string(line_) + ": " + std::move(message);
    return false;
  }
  bool Expected(std::string_view expected, const std::string& found) {
    Fail(expected, found);
    return false;
  }

  // The scanners below walk a local copy of the cursor: a char read may alias the cursor's own
  // memory, which would make the compiler store it back on every byte.
  void SkipBlanks(const char*& p, const char* eol) const {
    if (om_) return;
    const char* q = p;
    while (q < eol && IsBlank(*q)) ++q;
    p = q;
  }
  // Whether the next token starts with `c`, blanks before it skipped. Blanks between tokens are
  // rare: the byte is looked at before any are looked for.
  bool At(const char*& p, const char* eol, char c) const {
    if (p < eol && *p == c) return true;
    SkipBlanks(p, eol);
    return p < eol && *p == c;
  }
  // Text 0.0.4 takes any run of blanks between tokens; OpenMetrics exactly one space.
  bool Separator(const char*& p, const char* eol, std::string_view after) {
    if (p < eol && (*p == ' ' || (!om_ && *p == '\t'))) {
      ++p;
      SkipBlanks(p, eol);
      if (om_ && p < eol && *p == ' ') {
        return Expected("one space after " + std::string(after), "a second space");
      }
      return true;
    }
    return Expected("a space after " + std::string(after), Found(p, eol));
  }

  // Reads a name whose first byte is in the class `first` and the rest in `rest`. A line that ends
  // in '\n' needs no bound check: no name holds it, so it stops the loop.
  std::string_view Name(const char*& p, const char* eol, unsigned char first,
                        unsigned char rest) const {
    const char* b = p;
    const char* q = p;
    if (q < eol && (ClassOf(*q) & first)) {
      ++q;
      if (eol < body_end_) {
        while (ClassOf(*q) & rest) ++q;
      } else {
        while (q < eol && (ClassOf(*q) & rest)) ++q;
      }
    }
    p = q;
    return {b, static_cast<size_t>(q - b)};
  }
  std::string_view MetricName(const char*& p, const char* eol) const {
    return Name(p, eol, kNameStart | kColon, kNameChar | kColon);
  }
  std::string_view LabelName(const char*& p, const char* eol) const {
    return Name(p, eol, kNameStart, kNameChar);
  }
  static std::string_view Token(const char*& p, const char* eol, bool om) {
    const char* b = p;
    const char* q = p;
    while (q < eol && *q != ' ' && !(!om && *q == '\t')) ++q;
    p = q;
    return {b, static_cast<size_t>(q - b)};
  }

  bool Line(const char* p, const char* eol) {
    if (!om_) SkipBlanks(p, eol);
    if (p == eol) {
      if (om_)
        return Expected("a sample or a '#' line (OpenMetrics has no blank lines)", "an empty line");
      return true;
    }
    if (*p == '#') return Comment(p + 1, eol);
    return Sample(p, eol);
  }

  bool Comment(const char* p, const char* eol) {
    if (om_) {
      std::string_view rest(p, static_cast<size_t>(eol - p));
      if (rest == " EOF") {
        eof_seen_ = true;
        return true;
      }
      if (rest.size() < 6 || rest[0] != ' ' || rest[5] != ' ' ||
          (rest.substr(1, 4) != "HELP" && rest.substr(1, 4) != "TYPE" &&
           rest.substr(1, 4) != "UNIT")) {
        return Expected("\"# HELP \", \"# TYPE \", \"# UNIT \" or \"# EOF\"",
                        Quoted(std::string_view(p - 1, static_cast<size_t>(eol - p + 1))));
      }
      return Metadata(rest.substr(1, 4), p + 6, eol);
    }
    SkipBlanks(p, eol);
    std::string_view word = Token(p, eol, false);
    if ((word != "HELP" && word != "TYPE") || p == eol) return true;  // any other comment
    SkipBlanks(p, eol);
    return Metadata(word, p, eol);
  }

  bool Metadata(std::string_view kind, const char* p, const char* eol) {
    std::string_view name = MetricName(p, eol);
    if (name.empty()) {
      return Expected("a metric name after " + std::string(kind), Found(p, eol));
    }
    std::string_view text;
    if (p < eol) {
      if (!Separator(p, eol, "the metric name")) return false;
      text = std::string_view(p, static_cast<size_t>(eol - p));
    }
    int bit = kind == "HELP" ? 1 : kind == "TYPE" ? 2 : 4;
    if (!family_open_ || name != family_.name) {
      if (!StartFamily(name)) return false;
    } else if (metadata_ & bit) {
      return Error("second " + std::string(kind) + " line for " + Quoted(name));
    } else if (family_samples_ > 0 && (om_ || bit == 2)) {
      return Error(std::string(kind) + " line for " + Quoted(name) + " after its samples");
    }
    metadata_ |= bit;
    if (bit == 1) {
      family_.help = text;
      if (!ValidHelp(text)) return false;
    } else if (bit == 2) {
      while (!om_ && !text.empty() && IsBlank(text.back())) text.remove_suffix(1);
      std::span<const TypeName> types = om_ ? std::span<const TypeName>(kOpenMetricsTypes)
                                            : std::span<const TypeName>(kTextTypes);
      bool known = false;
      for (const TypeName& t : types) {
        if (t.name == text) {
          family_.type = t.type;
          known = true;
        }
      }
      if (!known) {
        return Expected(om_ ? "a type (counter, gauge, histogram, gaugehistogram, summary, info, "
                              "stateset or unknown)"
                            : "a type (counter, gauge, histogram, summary or untyped)",
                        Quoted(text));
      }
      // OpenMetrics names the family without the suffix its samples carry.
      if (om_ && ((family_.type == MetricType::kCounter && name.ends_with("_total")) ||
                  (family_.type == MetricType::kInfo && name.ends_with("_info")))) {
        return Error("the " + std::string(text) + " family " + Quoted(name) +
                     " is named without its sample suffix; write " +
                     Quoted(name.substr(0, name.rfind('_'))));
      }
    } else {
      family_.unit = text;
      if (!text.empty() && !(name.size() > text.size() + 1 && name.ends_with(text) &&
                             name[name.size() - text.size() - 1] == '_')) {
        return Error("the unit " + Quoted(text) + " is not a suffix of the family name " +
                     Quoted(name));
      }
    }
    return true;
  }

  bool ValidHelp(std::string_view text) {
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] != '\\') continue;
      char next = i + 1 < text.size() ? text[i + 1] : '\0';
      if (next == '\\' || next == 'n' || (om_ && next == '"')) {
        ++i;
        continue;
      }
      // Go's text parser keeps an unknown escape as it is; OpenMetrics forbids it.
      if (!om_) continue;
      return Error("invalid escape in HELP text; only \\\\, \\\" and \\n are allowed");
    }
    return true;
  }

  // Closes the current family, reporting it if nothing has yet.
  void EndFamily() {
    if (!family_open_) return;
    if (!family_reported_) visitor_.OnFamily(family_);
    if (om_) done_.insert(family_.name);
    family_open_ = false;
  }

  bool StartFamily(std::string_view name) {
    EndFamily();
    if (om_ && done_.contains(name)) {
      return Error("the family " + Quoted(name) +
                   " appears a second time; an OpenMetrics family's lines must be together");
    }
    family_ = ExpositionFamily{name, MetricType::kUnknown, {}, {}};
    family_open_ = true;
    family_reported_ = false;
    family_samples_ = 0;
    metadata_ = 0;
    return true;
  }

  bool Labels(const char*& p, const char* eol, std::vector<ExpositionLabel>& out,
              std::string_view what) {
    ++p;  // '{'
    out.clear();
    bool after_comma = false;
    std::uint64_t names_seen = 0;
    // Blanks between tokens are rare: each step looks for the byte it expects first and skips
    // blanks only when that byte is not there (At).
    for (;;) {
      std::string_view name = LabelName(p, eol);
      if (name.empty()) {
        SkipBlanks(p, eol);
        if (p < eol && *p == '}' && !(om_ && after_comma)) {
          ++p;
          return true;
        }
        name = LabelName(p, eol);
        if (name.empty()) {
          // OpenMetrics has no trailing comma: after one, only a name will do.
          return Expected(om_ && after_comma ? "a label name"
                                             : "a label name or '}' in the " + std::string(what),
                          Found(p, eol));
        }
      }
      if (!At(p, eol, '=')) {
        return Expected("'=' after label name " + Quoted(name), Found(p, eol));
      }
      ++p;
      if (!At(p, eol, '"')) {
        return Expected("'\"' to open the value of label " + Quoted(name), Found(p, eol));
      }
      const char* v = ++p;
      bool escaped = false;
      while ((p = FindQuoteOrBackslash(p, eol, body_end_)) < eol && *p == '\\') {
        char next = p + 1 < eol ? p[1] : '\0';
        if (next != '\\' && next != '"' && next != 'n') {
          return Error("invalid escape in the value of label " + Quoted(name) +
                       "; only \\\\, \\\" and \\n are allowed");
        }
        escaped = true;
        p += 2;
      }
      if (p == eol) {
        return Expected("'\"' to close the value of label " + Quoted(name), "end of line");
      }
      // Equal names share length and first byte: one bit per such pair rules out most repeats
      // without comparing names.
      std::uint64_t bit = std::uint64_t{1}
                          << ((name.size() * 7 + static_cast<unsigned char>(name[0])) & 63);
      if ((names_seen & bit) != 0) {
        for (const ExpositionLabel& l : out) {
          if (l.name == name) return Error("label " + Quoted(name) + " appears twice");
        }
      }
      names_seen |= bit;
      out.push_back({name, std::string_view(v, static_cast<size_t>(p - v)), escaped});
      ++p;  // closing quote
      if (p < eol && *p != ',' && *p != '}') SkipBlanks(p, eol);
      if (p < eol && *p == ',') {
        ++p;
        after_comma = true;
        continue;
      }
      if (p < eol && *p == '}') {
        ++p;
        return true;
      }
      return Expected("',' or '}' after the value of label " + Quoted(name), Found(p, eol));
    }
  }

  bool Sample(const char* p, const char* eol) {
    ExpositionSample s;
    s.line = line_;
    s.name = MetricName(p, eol);
    if (s.name.empty()) return Expected("a metric name or '#'", Found(p, eol));
    labels_.clear();
    const char* after_name = p;
    if (p < eol && *p != '{') SkipBlanks(p, eol);  // text 0.0.4 allows "name {labels}"
    if (p < eol && *p == '{') {
      if (!Labels(p, eol, labels_, "labels")) return false;
    } else {
      p = after_name;
    }
    s.labels = labels_;
    if (!Separator(p, eol, "the metric name and labels")) return false;
    std::string_view value = Token(p, eol, om_);
    if (!ParseDouble(value, s.value)) {
      return Expected("a number (or NaN, +Inf, -Inf) as the value", Quoted(value));
    }
    bool exemplar = false;
    if (p < eol) {
      if (!Separator(p, eol, "the value")) return false;
      if (om_ && p == eol) {
        return Expected("a timestamp in seconds or '#' after the value", "end of line");
      }
      if (om_ && *p == '#') {
        exemplar = true;
      } else if (p < eol) {
        std::string_view ts = Token(p, eol, om_);
        if (om_) {
          double seconds = 0;
          if (!ParseDouble(ts, seconds) || !std::isfinite(seconds) || std::fabs(seconds) > 9.2e15) {
            return Expected("a timestamp in seconds or '#' after the value", Quoted(ts));
          }
          s.timestamp_ms = static_cast<std::int64_t>(std::llround(seconds * 1000));
        } else {
          std::int64_t ms = 0;
          if (!ParseInt64(ts, ms)) {
            return Expected("a timestamp in integer milliseconds after the value", Quoted(ts));
          }
          s.timestamp_ms = ms;
        }
        if (p < eol) {
          if (!Separator(p, eol, "the timestamp")) return false;
          if (om_ && p < eol && *p == '#') exemplar = true;
        }
      }
      if (exemplar) {
        if (!Exemplar(p, eol, s)) return false;
      } else if (p < eol) {
        return Expected("end of line after the sample", Found(p, eol));
      }
    }
    return Deliver(s);
  }

  bool Exemplar(const char*& p, const char* eol, ExpositionSample& s) {
    ++p;  // '#'
    if (!Separator(p, eol, "'#'")) return false;
    if (p == eol || *p != '{') return Expected("'{' to open the exemplar's labels", Found(p, eol));
    if (!Labels(p, eol, exemplar_labels_, "exemplar's labels")) return false;
    std::size_t chars = 0;
    for (const ExpositionLabel& l : exemplar_labels_) chars += l.name.size() + l.value.size();
    if (chars > 128) {
      return Error("the exemplar's labels hold " + std::to_string(chars) +
                   " characters; OpenMetrics allows at most 128");
    }
    struct Exemplar e;
    e.labels = exemplar_labels_;
    if (!Separator(p, eol, "the exemplar's labels")) return false;
    std::string_view value = Token(p, eol, true);
    if (!ParseDouble(value, e.value)) return Expected("the exemplar's value", Quoted(value));
    if (p < eol) {
      if (!Separator(p, eol, "the exemplar's value")) return false;
      std::string_view ts = Token(p, eol, true);
      double seconds = 0;
      if (!ParseDouble(ts, seconds) || !std::isfinite(seconds)) {
        return Expected("the exemplar's timestamp in seconds", Quoted(ts));
      }
      e.timestamp = seconds;
      if (p < eol) return Expected("end of line after the exemplar", Found(p, eol));
    }
    s.exemplar = e;
    return true;
  }

  // Places the sample in its family (opening one when it starts another), checks what its type
  // demands of it, and hands it on.
  bool Deliver(const ExpositionSample& s) {
    std::optional<std::string_view> suffix;
    if (family_open_) suffix = MatchSuffix(s.name, family_.name, Suffixes(family_.type, Format()));
    if (!suffix) {
      if (om_ && family_open_ && metadata_ != 0 && s.name.starts_with(family_.name) &&
          (s.name.size() == family_.name.size() || s.name[family_.name.size()] == '_')) {
        std::string allowed;
        for (std::string_view x : Suffixes(family_.type, Format())) {
          if (!allowed.empty()) allowed += ", ";
          allowed += std::string(family_.name) + std::string(x);
        }
        return Expected("a sample of the " + std::string(MetricTypeName(family_.type)) +
                            " family " + Quoted(family_.name) + " (" + allowed + ")",
                        Quoted(s.name));
      }
      if (!StartFamily(s.name)) return false;
      suffix = "";
    }
    MetricType type = family_.type;
    if (*suffix == "_bucket" &&
        (type == MetricType::kHistogram || type == MetricType::kGaugeHistogram)) {
      if (!NumericLabel(s, "le", "a histogram bucket")) return false;
    } else if (suffix->empty() && type == MetricType::kSummary) {
      if (!NumericLabel(s, "quantile", "a summary quantile")) return false;
    } else if (type == MetricType::kStateSet && FindLabel(s.labels, family_.name) == nullptr) {
      return Error("a stateset sample needs a label named after its family, " +
                   Quoted(family_.name));
    }
    if (s.exemplar && !(*suffix == "_total" || *suffix == "_bucket")) {
      return Error("an exemplar may follow only a counter's _total or a histogram's _bucket");
    }
    if (!family_reported_) {
      visitor_.OnFamily(family_);
      family_reported_ = true;
    }
    ++family_samples_;
    if (!visitor_.OnSample(family_, s)) return Error("stopped");
    return true;
  }

  bool NumericLabel(const ExpositionSample& s, std::string_view name, std::string_view what) {
    const ExpositionLabel* l = FindLabel(s.labels, name);
    if (l == nullptr) {
      return Error(std::string(what) + " needs the label " + std::string(name));
    }
    double v = 0;
    if (!ParseDouble(l->value, v)) {
      return Expected("a number as " + std::string(name), Quoted(l->value));
    }
    return true;
  }

  ExpositionFormat Format() const {
    return om_ ? ExpositionFormat::kOpenMetrics : ExpositionFormat::kText;
  }

  std::string_view body_;
  const char* body_end_;  // reads never go past it
  bool om_;
  ExpositionVisitor& visitor_;
  std::uint32_t line_ = 0;
  bool eof_seen_ = false;
  std::string error_;
  ExpositionFamily family_;
  bool family_open_ = false;
  bool family_reported_ = false;
  std::uint64_t family_samples_ = 0;
  int metadata_ = 0;  // bits: HELP 1, TYPE 2, UNIT 4
  // OpenMetrics families already closed, to refuse one that comes back.
  std::unordered_set<std::string_view> done_;
  std::vector<ExpositionLabel> labels_;
  std::vector<ExpositionLabel> exemplar_labels_;
};

}  // namespace

ExpositionFormat FormatFromContentType(std::string_view content_type) {
  std::string lower(content_type.substr(0, content_type.find(';')));
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  while (!lower.empty() && lower.back() == ' ') lower.pop_back();
  return lower == "application/openmetrics-text" ? ExpositionFormat::kOpenMetrics
                                                 : ExpositionFormat::kText;
}

ExpositionFormat SniffFormat(std::string_view body) {
  if (body.ends_with("\n")) body.remove_suffix(1);
  return body.ends_with("# EOF") && (body.size() == 5 || body[body.size() - 6] == '\n')
             ? ExpositionFormat::kOpenMetrics
             : ExpositionFormat::kText;
}

std::string_view MetricTypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
    case MetricType::kGaugeHistogram:
      return "gaugehistogram";
    case MetricType::kSummary:
      return "summary";
    case MetricType::kInfo:
      return "info";
    case MetricType::kStateSet:
      return "stateset";
    case MetricType::kUnknown:
      break;
  }
  return "unknown";
}

core::Status ParseExposition(std::string_view body, ExpositionFormat format,
                             ExpositionVisitor& visitor) {
  return Parser(body, format, visitor).Run();
}

std::string Unescape(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\\' && i + 1 < raw.size()) {
      char next = raw[i + 1];
      if (next == '\\' || next == '"' || next == 'n') {
        out += next == 'n' ? '\n' : next;
        ++i;
        continue;
      }
    }
    out += raw[i];
  }
  return out;
}

core::Result<ParsedExposition> ParseExpositionToValues(std::string_view body,
                                                       ExpositionFormat format) {
  // Owned by the calling thread for one parse.
  class Collector final : public ExpositionVisitor {
   public:
    void OnFamily(const ExpositionFamily& f) override {
      // Text 0.0.4 lets an untyped family come back after another; keep it as one.
      auto it = index_.find(std::string(f.name));
      if (it != index_.end()) {
        current_ = it->second;
        return;
      }
      current_ = out.families.size();
      index_.emplace(std::string(f.name), current_);
      out.families.push_back(
          {std::string(f.name), f.type, Unescape(f.help), std::string(f.unit), {}});
    }
    bool OnSample(const ExpositionFamily&, const ExpositionSample& s) override {
      ParsedSample p;
      p.name = s.name;
      for (const ExpositionLabel& l : s.labels) {
        p.labels.emplace_back(std::string(l.name),
                              l.escaped ? Unescape(l.value) : std::string(l.value));
      }
      p.value = s.value;
      p.timestamp_ms = s.timestamp_ms;
      if (s.exemplar) {
        p.exemplar_value = s.exemplar->value;
        for (const ExpositionLabel& l : s.exemplar->labels) {
          p.exemplar_labels.emplace_back(std::string(l.name), Unescape(l.value));
        }
      }
      out.families[current_].samples.push_back(std::move(p));
      ++out.sample_count;
      return true;
    }
    ParsedExposition out;

   private:
    std::unordered_map<std::string, std::size_t> index_;
    std::size_t current_ = 0;
  };
  Collector c;
  if (core::Status s = ParseExposition(body, format, c); !s) return core::Error{s.error()};
  return std::move(c.out);
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec != std::errc()) return "NaN";
  return std::string(buf, p);
}

}  // namespace obsgate::ingest
