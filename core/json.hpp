#pragma once

#include <string>
#include <string_view>

namespace obsgate::core {

// Appends s to out as a JSON string body (no quotes), escaping quotes, backslashes and control
// characters; invalid UTF-8 bytes become U+FFFD so the output is always valid JSON.
void AppendJsonEscaped(std::string& out, std::string_view s);

// s as a quoted JSON string.
std::string JsonQuote(std::string_view s);

}  // namespace obsgate::core
