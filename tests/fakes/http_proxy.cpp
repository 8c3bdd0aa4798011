#include "tests/fakes/http_proxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <stdexcept>

namespace obsgate::fakes {
namespace {

int Listen(std::uint16_t& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd, 64) != 0 || ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error("the fake cannot listen on 127.0.0.1");
  }
  port = ntohs(addr.sin_port);
  return fd;
}

int ConnectLocal(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return fd;
  if (fd >= 0) ::close(fd);
  return -1;
}

bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Copies bytes both ways until either side closes.
void Pipe(int a, int b) {
  char buf[16384];
  pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
  while (::poll(fds, 2, -1) > 0) {
    for (int i = 0; i < 2; ++i) {
      if (fds[i].revents == 0) continue;
      ssize_t n = ::recv(fds[i].fd, buf, sizeof buf, 0);
      if (n <= 0 || !SendAll(fds[1 - i].fd, std::string_view(buf, static_cast<std::size_t>(n)))) {
        return;
      }
    }
  }
}

// Accepts until stopping, running `serve` on a thread per connection.
void AcceptLoop(int listener, std::atomic<bool>& stopping, std::mutex& mu,
                std::vector<int>& open_fds, std::vector<std::thread>& workers,
                const std::function<void(int)>& serve) {
  while (!stopping) {
    pollfd p{listener, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::lock_guard lock(mu);
    open_fds.push_back(fd);
    workers.emplace_back(serve, fd);
  }
}

void StopAll(int listener, std::atomic<bool>& stopping, std::thread& acceptor, std::mutex& mu,
             std::vector<int>& open_fds, std::vector<std::thread>& workers) {
  stopping = true;
  if (acceptor.joinable()) acceptor.join();
  {
    std::lock_guard lock(mu);
    for (int fd : open_fds) ::shutdown(fd, SHUT_RDWR);
  }
  for (auto& w : workers) w.join();
  for (int fd : open_fds) ::close(fd);
  ::close(listener);
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// The port of "host:port" or "http://host:port/...", or 0.
std::uint16_t PortOf(std::string_view authority) {
  if (std::size_t scheme = authority.find("://"); scheme != std::string_view::npos) {
    authority.remove_prefix(scheme + 3);
    authority = authority.substr(0, authority.find('/'));
  }
  std::size_t colon = authority.rfind(':');
  if (colon == std::string_view::npos) return 80;
  return static_cast<std::uint16_t>(std::stoi(std::string(authority.substr(colon + 1))));
}

}  // namespace

HttpProxy::HttpProxy() {
  listener_ = Listen(port_);
  acceptor_ = std::thread([this] {
    AcceptLoop(listener_, stopping_, mu_, open_fds_, workers_, [this](int fd) { Serve(fd); });
  });
}

HttpProxy::~HttpProxy() { StopAll(listener_, stopping_, acceptor_, mu_, open_fds_, workers_); }

std::vector<std::string> HttpProxy::connect_targets() const {
  std::lock_guard lock(mu_);
  return connects_;
}
std::vector<std::string> HttpProxy::forwarded_targets() const {
  std::lock_guard lock(mu_);
  return forwards_;
}
std::vector<std::string> HttpProxy::authorizations() const {
  std::lock_guard lock(mu_);
  return authorizations_;
}

void HttpProxy::Serve(int client) {
  std::string data;
  char buf[4096];
  std::size_t end;
  while ((end = data.find("\r\n\r\n")) == std::string::npos) {
    ssize_t n = ::recv(client, buf, sizeof buf, 0);
    if (n <= 0) return;
    data.append(buf, static_cast<std::size_t>(n));
  }
  std::string head = data.substr(0, end + 2);
  std::string rest = data.substr(end + 4);
  std::size_t line_end = head.find("\r\n");
  std::string line = head.substr(0, line_end);
  std::string method = line.substr(0, line.find(' '));
  std::string target = line.substr(method.size() + 1, line.rfind(' ') - method.size() - 1);
  // The headers, without the proxy's own; a forwarded request closes after its answer.
  std::string authorization, forwarded_headers;
  std::size_t content_length = 0;
  for (std::size_t pos = line_end + 2; pos < head.size();) {
    std::size_t eol = head.find("\r\n", pos);
    std::string header = head.substr(pos, eol - pos);
    pos = eol + 2;
    std::size_t colon = header.find(':');
    std::string name = Lower(header.substr(0, colon));
    std::string value = header.substr(header.find_first_not_of(' ', colon + 1));
    if (name == "proxy-authorization") authorization = value;
    if (name == "content-length") content_length = std::stoul(value);
    if (name != "proxy-authorization" && name != "proxy-connection" && name != "connection") {
      forwarded_headers += header + "\r\n";
    }
  }
  {
    std::lock_guard lock(mu_);
    authorizations_.push_back(authorization);
    (method == "CONNECT" ? connects_ : forwards_).push_back(target);
  }
  if (method == "CONNECT" && refuse_status_ != 0) {
    SendAll(client, "HTTP/1.1 " + std::to_string(refuse_status_.load()) +
                        " Refused\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    return;
  }
  int upstream = ConnectLocal(PortOf(target));
  if (upstream < 0) {
    SendAll(client, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    return;
  }
  if (method == "CONNECT") {
    SendAll(client, "HTTP/1.1 200 Connection established\r\n\r\n");
    SendAll(upstream, rest);
  } else {
    std::size_t path = target.find('/', target.find("://") + 3);
    std::string origin_form = path == std::string::npos ? "/" : target.substr(path);
    while (rest.size() < content_length) {
      ssize_t n = ::recv(client, buf, sizeof buf, 0);
      if (n <= 0) break;
      rest.append(buf, static_cast<std::size_t>(n));
    }
    SendAll(upstream, method + " " + origin_form + " HTTP/1.1\r\n" + forwarded_headers +
                          "Connection: close\r\n\r\n" + rest);
  }
  Pipe(client, upstream);
  ::close(upstream);
  ::shutdown(client, SHUT_RDWR);
}

TcpRelay::TcpRelay(std::uint16_t to_port) : to_port_(to_port) {
  listener_ = Listen(port_);
  acceptor_ = std::thread([this] {
    AcceptLoop(listener_, stopping_, mu_, open_fds_, workers_, [this](int client) {
      ++connections_;
      int upstream = ConnectLocal(to_port_);
      if (upstream < 0) return;
      Pipe(client, upstream);
      ::close(upstream);
      ::shutdown(client, SHUT_RDWR);
    });
  });
}

TcpRelay::~TcpRelay() { StopAll(listener_, stopping_, acceptor_, mu_, open_fds_, workers_); }

}  // namespace obsgate::fakes
