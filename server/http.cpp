#include "server/http.hpp"

#include <strings.h>

#include "core/json.hpp"

namespace obsgate::server {

std::string_view Request::HeaderValue(std::string_view name) const {
  for (const Header& h : headers) {
    if (h.name.size() == name.size() && strncasecmp(h.name.data(), name.data(), name.size()) == 0) {
      return h.value;
    }
  }
  return {};
}

std::optional<std::string> Request::QueryParam(std::string_view name) const {
  std::string_view q = query;
  while (!q.empty()) {
    auto amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    auto eq = pair.find('=');
    if (PercentDecode(pair.substr(0, eq)) == name) {
      return eq == std::string_view::npos ? std::string() : PercentDecode(pair.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

std::string PercentDecode(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

Response Response::Text(int status, std::string body) {
  return Response{status, "text/plain; charset=utf-8", std::move(body), {}};
}

Response Response::Json(int status, std::string body) {
  return Response{status, "application/json", std::move(body), {}};
}

Response Response::Error(int status, std::string_view message) {
  return Json(status, "{\"status\":\"error\",\"error\":" + core::JsonQuote(message) + "}\n");
}

}  // namespace obsgate::server
