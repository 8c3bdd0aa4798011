#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "tests/support/http_client.hpp"

namespace obsgate::testing {

// One second of shop/auth traffic at `version`, pushed as NDJSON: n requests, the first e failing.
inline void PushSecond(std::uint16_t port, const std::string& version, int n, int e) {
  std::string body;
  for (int i = 0; i < n; ++i) body += i < e ? "{\"status\":503}\n" : "{\"status\":200}\n";
  HttpReply r = Post(port, "/api/v1/logs?namespace=shop&deployment=auth&version=" + version, body);
  ASSERT_EQ(r.status, 200) << r.body;
}

}  // namespace obsgate::testing
