#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace obsgate::testing {

struct HttpReply {
  int status = 0;    // 0 when no response arrived
  std::string head;  // status line and headers
  std::string body;
  std::string Header(std::string_view name) const;
};

// A raw TCP connection to 127.0.0.1, so tests can send malformed and slow requests too.
class Connection {
 public:
  explicit Connection(std::uint16_t port);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  bool connected() const { return fd_ >= 0; }
  bool Send(std::string_view bytes);
  // Reads one response (Content-Length or until close); nullopt when none arrives in time.
  std::optional<HttpReply> ReadReply(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // True once the server has closed the connection (read gives EOF or reset) within timeout.
  bool WaitClosed(std::chrono::milliseconds timeout);

 private:
  int fd_ = -1;
  std::string pending_;
};

HttpReply Get(std::uint16_t port, std::string_view path);
HttpReply Post(std::uint16_t port, std::string_view path, std::string_view body,
               std::vector<std::pair<std::string, std::string>> headers = {});

// A port that was free a moment ago, for peers that cannot bind port 0 and report it.
std::uint16_t FreePort();

}  // namespace obsgate::testing
