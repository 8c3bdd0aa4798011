#pragma once

#include <cstddef>
#include <string>
#include <string_view>

// Byte scans and string unescaping shared by the docker framer and the JSON classifier: the two
// read JSON on every log line, so both find string ends 16 bytes at a time.
namespace obsgate::ingest {

// The first '"' or '\\' in [p, end); end when there is none.
const char* FindQuoteOrBackslash(const char* p, const char* end);

// The first '"', '\\' or control byte (< 0x20, which JSON forbids unescaped in a string) in
// [p, end); end when there is none.
const char* FindStringSpecial(const char* p, const char* end);

enum class UnescapeResult : unsigned char { kOk, kBadEscape, kUnterminated };

// Unescapes the JSON string body `raw` (the bytes between its quotes, escapes kept) into
// `buffer`, which grows as needed and never shrinks, and views the result in `value`. \uXXXX
// becomes UTF-8; a lone surrogate becomes U+FFFD. kBadEscape for an unknown escape or a \u
// without four hex digits.
UnescapeResult Unescape(std::string_view raw, std::string& buffer, std::string_view& value);

// The same for a string starting at `p` (just after its opening quote), found and unescaped in one
// pass: p ends just after the closing quote. kUnterminated when `end` comes first.
UnescapeResult UnescapeString(const char*& p, const char* end, std::string& buffer,
                              std::string_view& value);

}  // namespace obsgate::ingest
