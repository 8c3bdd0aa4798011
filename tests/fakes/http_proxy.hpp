#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace obsgate::fakes {

// A forward HTTP proxy on 127.0.0.1 as squid behaves: CONNECT host:port opens a tunnel, an
// absolute-form request (GET http://host:port/path) is forwarded, one per connection. Every host
// name leads to 127.0.0.1 at the port asked for, so tests can name origins the test machine
// cannot resolve. Thread-safe.
class HttpProxy {
 public:
  HttpProxy();
  ~HttpProxy();
  HttpProxy(const HttpProxy&) = delete;
  HttpProxy& operator=(const HttpProxy&) = delete;

  std::uint16_t port() const { return port_; }
  // Answer every CONNECT with this status (403, 407, 502, ...) instead of opening the tunnel.
  void RefuseConnect(int status) { refuse_status_ = status; }

  // What the proxy saw, in order: CONNECT targets, absolute-form targets, Proxy-Authorization
  // values (empty when absent), one per request.
  std::vector<std::string> connect_targets() const;
  std::vector<std::string> forwarded_targets() const;
  std::vector<std::string> authorizations() const;

 private:
  void Serve(int client);

  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<int> refuse_status_{0};
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::vector<std::string> connects_;
  std::vector<std::string> forwards_;
  std::vector<std::string> authorizations_;
  std::vector<int> open_fds_;
  std::vector<std::thread> workers_;
  std::thread acceptor_;
};

// Relays TCP connections on 127.0.0.1 to another local port and counts them: how a test sees
// whether a client reused its connection. Thread-safe.
class TcpRelay {
 public:
  explicit TcpRelay(std::uint16_t to_port);
  ~TcpRelay();
  TcpRelay(const TcpRelay&) = delete;
  TcpRelay& operator=(const TcpRelay&) = delete;

  std::uint16_t port() const { return port_; }
  int connections() const { return connections_; }

 private:
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::uint16_t to_port_ = 0;
  std::atomic<int> connections_{0};
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::vector<int> open_fds_;
  std::vector<std::thread> workers_;
  std::thread acceptor_;
};

}  // namespace obsgate::fakes
