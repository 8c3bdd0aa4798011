#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "core/result.hpp"
#include "server/http.hpp"

namespace prometheus {
class Registry;
}

namespace obsgate::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;  // 0 picks a free port; port() tells which
  int threads = 2;
  std::uint64_t max_header_bytes = 16 * 1024;
  std::uint64_t max_body_bytes = 16 * 1024 * 1024;
  std::chrono::milliseconds read_timeout{30'000};
  std::chrono::milliseconds idle_timeout{120'000};
};

// An HTTP/1.1 server with keep-alive, size limits and time-outs; handlers run on its I/O threads.
// Route() before Start(); Start() and Stop() from one controlling thread, never from a handler.
class HttpServer {
 public:
  HttpServer(ServerOptions options, prometheus::Registry& registry);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // `name` labels the route's metrics (obsgate_http_requests_total{handler}). A path ending in
  // "/*" takes every path under it (the handler reads the rest from Request::path).
  void Route(std::string method, std::string path, std::string name, Handler handler,
             std::shared_ptr<Admission> admission = nullptr);

  // Binds and starts serving; an error says which address could not be used and why.
  core::Status Start();
  std::uint16_t port() const;

  // Stops accepting and closes idle connections; requests in flight get `grace` to finish, then
  // every connection is closed. True when all finished within the grace period.
  bool Stop(std::chrono::milliseconds grace);

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace obsgate::server
