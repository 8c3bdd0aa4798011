#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "server/http.hpp"

namespace obsgate::server {

// True when an Authorization header is exactly "Bearer <token>". Compared in constant time, so a
// token cannot be guessed byte by byte from response times.
bool BearerMatches(std::string_view authorization, std::string_view token);

// The 401 a request without the token gets, naming what to send (never the token).
Response BearerRefusal();

// Admits a request only with the bearer token, before its body is read; `refused` runs for each
// one turned away (a counter). Thread-safe.
std::shared_ptr<Admission> BearerAdmission(std::string token, std::function<void()> refused);

}  // namespace obsgate::server
