#include "server/bearer.hpp"

#include <openssl/crypto.h>

namespace obsgate::server {
namespace {

class Bearer final : public Admission {
 public:
  Bearer(std::string token, std::function<void()> refused)
      : token_(std::move(token)), refused_(std::move(refused)) {}

  std::optional<Response> Admit(const Request& head) override {
    if (BearerMatches(head.HeaderValue("authorization"), token_)) return std::nullopt;
    if (refused_) refused_();
    return BearerRefusal();
  }
  void Done(const Request&) override {}

 private:
  const std::string token_;
  const std::function<void()> refused_;
};

}  // namespace

bool BearerMatches(std::string_view authorization, std::string_view token) {
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.size() != kBearer.size() + token.size() ||
      authorization.substr(0, kBearer.size()) != kBearer) {
    return false;
  }
  return CRYPTO_memcmp(authorization.data() + kBearer.size(), token.data(), token.size()) == 0;
}

Response BearerRefusal() {
  Response r = Response::Error(
      401,
      "missing or wrong bearer token; send Authorization: Bearer <the token obsgate was given>");
  r.headers.push_back({"WWW-Authenticate", "Bearer realm=\"obsgate\""});
  return r;
}

std::shared_ptr<Admission> BearerAdmission(std::string token, std::function<void()> refused) {
  return std::make_shared<Bearer>(std::move(token), std::move(refused));
}

}  // namespace obsgate::server
