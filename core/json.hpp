#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace obsgate::core {

// Appends s to out as a JSON string body (no quotes), escaping quotes, backslashes and control
// characters; invalid UTF-8 bytes become U+FFFD so the output is always valid JSON.
void AppendJsonEscaped(std::string& out, std::string_view s);

// The UTF-8 bytes of one code point (up to U+10FFFF; the caller checks surrogates).
void AppendUtf8(std::string& out, std::uint32_t cp);
// s as a quoted JSON string.
std::string JsonQuote(std::string_view s);

// The shortest text that reads back as v; "null" for no value, NaN or infinity (JSON has none).
std::string JsonNumber(std::optional<double> v);

}  // namespace obsgate::core
