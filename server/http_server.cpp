#include "server/http_server.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "core/log.hpp"

namespace obsgate::server {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

struct RouteEntry {
  std::string method;
  std::string path;
  std::string name;
  Handler handler;
  std::shared_ptr<Admission> admission;

  // "/api/v1/silences/*" matches "/api/v1/silences/<anything but empty>".
  bool Matches(std::string_view p) const {
    if (path.ends_with("/*")) {
      std::string_view prefix = std::string_view(path).substr(0, path.size() - 1);
      return p.size() > prefix.size() && p.starts_with(prefix);
    }
    return p == path;
  }
};

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

// How long a closing connection keeps reading what the client still sends, so the client sees
// our error response instead of a reset.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr std::size_t kReadChunk = 4096;

}  // namespace

class HttpServer::Impl : public std::enable_shared_from_this<HttpServer::Impl> {
 public:
  class Session;

  Impl(ServerOptions options, prometheus::Registry& registry)
      : options_(std::move(options)),
        ioc_(options_.threads),
        acceptor_(net::make_strand(ioc_)),
        requests_(prometheus::BuildCounter()
                      .Name("obsgate_http_requests_total")
                      .Help("HTTP requests served by obsgate, by route and status code.")
                      .Register(registry)),
        durations_(prometheus::BuildHistogram()
                       .Name("obsgate_http_request_duration_seconds")
                       .Help("Time from a request's last byte read to its response, by route.")
                       .Register(registry)) {}

  core::Status Start();
  bool Stop(std::chrono::milliseconds grace);
  void Accept();
  Response Dispatch(Request& req, std::string& route_name);
  const RouteEntry* FindRoute(const std::string& method, const std::string& path) const {
    for (const RouteEntry& r : routes_) {
      if (r.method == method && r.Matches(path)) return &r;
    }
    return nullptr;
  }
  void Observe(const std::string& route, int status, double seconds);
  void PostToSessions(void (*action)(Session&));

  ServerOptions options_;
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  std::vector<std::thread> threads_;
  std::vector<RouteEntry> routes_;
  std::atomic<bool> stopping_{false};
  bool running_ = false;
  std::uint16_t port_ = 0;

  std::mutex mu_;
  std::condition_variable sessions_done_;
  std::uint64_t next_id_ = 0;
  std::map<std::uint64_t, std::weak_ptr<Session>> sessions_;

  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& durations_;
};

// One connection. Owned by its pending asynchronous operations; runs on its own strand.
class HttpServer::Impl::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<Impl> server, tcp::socket&& socket, std::uint64_t id)
      : server_(std::move(server)), stream_(std::move(socket)), id_(id) {}

  ~Session() {
    Release();
    std::lock_guard lock(server_->mu_);
    server_->sessions_.erase(id_);
    server_->sessions_done_.notify_all();
  }

  void Run() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->WaitForRequest(); });
  }

  net::any_io_executor get_executor() { return stream_.get_executor(); }

  // Called on the strand when the server stops: an idle connection closes now.
  void OnServerStop() {
    if (idle_) {
      beast::error_code ec;
      stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
      stream_.close();
    }
  }

  void Close() {
    if (!stream_.socket().is_open()) return;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

 private:
  void WaitForRequest() {
    if (server_->stopping_) return Close();
    if (buffer_.size() > 0) return ReadRequest();  // a pipelined request is already here
    idle_ = true;
    stream_.expires_after(server_->options_.idle_timeout);
    stream_.async_read_some(buffer_.prepare(kReadChunk),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              self->idle_ = false;
                              if (ec) return self->Close();
                              self->buffer_.commit(n);
                              self->ReadRequest();
                            });
  }

  void ReadRequest() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_->options_.max_header_bytes));
    parser_->body_limit(server_->options_.max_body_bytes);
    stream_.expires_after(server_->options_.read_timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnHeader(ec); });
  }

  // Headers are in: admit the request (or not) before its body is read.
  void OnHeader(beast::error_code ec) {
    if (ec) return OnRead(ec);
    const auto& h = parser_->get();
    head_ = Request{};
    head_.method = std::string(h.method_string());
    head_.target = std::string(h.target());
    auto q = head_.target.find('?');
    head_.path = head_.target.substr(0, q);
    if (q != std::string::npos) head_.query = head_.target.substr(q + 1);
    for (const auto& field : h) {
      head_.headers.push_back(Header{std::string(field.name_string()), std::string(field.value())});
    }
    if (const RouteEntry* r = server_->FindRoute(head_.method, head_.path); r && r->admission) {
      if (std::optional<Response> refused = r->admission->Admit(head_)) {
        server_->Observe(r->name, refused->status, 0);
        return Send(*refused, h.version(), false);
      }
      admitted_ = r->admission;
    }
    if (parser_->is_done()) return OnRead({});
    if (beast::iequals(h[http::field::expect], "100-continue")) {
      return net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                              [self = shared_from_this()](beast::error_code ec, std::size_t) {
                                if (ec) return self->OnRead(ec);
                                self->ReadBody();
                              });
    }
    ReadBody();
  }

  void ReadBody() {
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnRead(ec); });
  }

  void Release() {
    if (admitted_) {
      admitted_->Done(head_);
      admitted_.reset();
    }
  }

  void OnRead(beast::error_code ec) {
    if (ec) Release();
    if (ec == http::error::end_of_stream || ec == net::error::eof ||
        ec == net::error::connection_reset || ec == net::error::operation_aborted) {
      return Close();
    }
    if (ec == beast::error::timeout) {
      server_->Observe("other", 408, 0);
      return SendError(408, "the request did not arrive in time; send it whole within " +
                                std::to_string(server_->options_.read_timeout.count()) + "ms");
    }
    if (ec == http::error::header_limit) {
      server_->Observe("other", 431, 0);
      return SendError(431, "request headers are larger than the limit of " +
                                std::to_string(server_->options_.max_header_bytes) + " bytes");
    }
    if (ec == http::error::body_limit) {
      server_->Observe("other", 413, 0);
      return SendError(413, "request body is larger than the limit of " +
                                std::to_string(server_->options_.max_body_bytes) +
                                " bytes; send smaller batches");
    }
    if (ec) {
      server_->Observe("other", 400, 0);
      return SendError(400, "malformed HTTP request: " + ec.message());
    }
    Handle(parser_->release());
  }

  void Handle(http::request<http::string_body>&& raw) {
    auto start = Clock::now();
    Request req = head_;  // the headers, parsed once in OnHeader
    req.body = std::move(raw.body());
    std::string route;
    Response res = server_->Dispatch(req, route);
    Release();
    server_->Observe(route, res.status,
                     std::chrono::duration<double>(Clock::now() - start).count());
    bool keep_alive = raw.keep_alive() && !server_->stopping_;
    Send(res, raw.version(), keep_alive);
  }

  void Send(const Response& r, unsigned version, bool keep_alive) {
    res_.emplace(static_cast<http::status>(r.status), version);
    for (const Header& h : r.headers) res_->set(h.name, h.value);
    res_->keep_alive(keep_alive);
    // A 204 has no body and, by RFC 9110, no Content-Length either.
    if (r.status != 204) {
      res_->set(http::field::content_type, r.content_type);
      res_->body() = r.body;
      res_->prepare_payload();
    }
    stream_.expires_after(server_->options_.read_timeout);
    http::async_write(stream_, *res_,
                      [self = shared_from_this(), keep_alive](beast::error_code ec, std::size_t) {
                        self->res_.reset();
                        if (ec) return self->Close();
                        if (!keep_alive) return self->Linger();
                        self->WaitForRequest();
                      });
  }

  void SendError(int status, const std::string& message) {
    Send(Response::Error(status, message), 11, false);
  }

  // Half-close, then read and drop what the client still sends until it closes or time is up.
  void Linger() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    // When stopping, the response is out and nothing more will be read: no need to wait.
    if (ec || server_->stopping_) return Close();
    stream_.expires_after(kLingerTime);
    Drain();
  }

  void Drain() {
    buffer_.clear();
    stream_.async_read_some(buffer_.prepare(kReadChunk),
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              if (ec) return self->Close();
                              self->Drain();
                            });
  }

  std::shared_ptr<Impl> server_;
  beast::tcp_stream stream_;
  std::uint64_t id_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::string_body>> res_;
  bool idle_ = false;
  Request head_;                         // the headers of the request being read
  std::shared_ptr<Admission> admitted_;  // set while an admitted request is in progress
};

core::Status HttpServer::Impl::Start() {
  std::string where = options_.host + ":" + std::to_string(options_.port);
  beast::error_code ec;
  tcp::resolver resolver(ioc_);
  auto results = resolver.resolve(options_.host, std::to_string(options_.port),
                                  tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || results.empty()) {
    return core::Error{"cannot listen on " + where + ": cannot resolve the host (" + ec.message() +
                       "); use an IP address such as 127.0.0.1"};
  }
  tcp::endpoint endpoint = results.begin()->endpoint();
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return core::Error{"cannot listen on " + where + ": " + ec.message() +
                       "; is another process using the port?"};
  }
  port_ = acceptor_.local_endpoint().port();
  running_ = true;
  Accept();
  for (int i = 0; i < options_.threads; ++i) {
    threads_.emplace_back([this] { ioc_.run(); });
  }
  return core::Ok{};
}

void HttpServer::Impl::Accept() {
  acceptor_.async_accept(net::make_strand(ioc_), [self = shared_from_this()](beast::error_code ec,
                                                                             tcp::socket socket) {
    if (ec == net::error::operation_aborted || !self->acceptor_.is_open()) return;
    if (!ec) {
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);  // responses go out whole, no Nagle wait
      std::shared_ptr<Session> session;
      {
        std::lock_guard lock(self->mu_);
        std::uint64_t id = self->next_id_++;
        session = std::make_shared<Session>(self, std::move(socket), id);
        self->sessions_[id] = session;
      }
      session->Run();
    } else {
      // Usually descriptor exhaustion; keep accepting rather than go deaf.
      log::Warn("accept failed", {{"error", ec.message()}});
    }
    self->Accept();
  });
}

Response HttpServer::Impl::Dispatch(Request& req, std::string& route_name) {
  bool path_known = false;
  for (const RouteEntry& r : routes_) {
    if (!r.Matches(req.path)) continue;
    path_known = true;
    if (r.method != req.method) continue;
    route_name = r.name;
    try {
      return r.handler(req);
    } catch (const std::exception& e) {
      log::Error("handler failed", {{"handler", r.name}, {"error", e.what()}});
      return Response::Error(500, "internal error; the gateway log has the details");
    }
  }
  route_name = "other";
  if (path_known) {
    std::string allowed;
    for (const RouteEntry& r : routes_) {
      if (r.Matches(req.path)) allowed += (allowed.empty() ? "" : ", ") + r.method;
    }
    Response res = Response::Error(
        405, "method " + req.method + " is not allowed on " + req.path + "; use " + allowed);
    res.headers.push_back(Header{"Allow", allowed});
    return res;
  }
  return Response::Error(404, "no such endpoint: " + req.path);
}

void HttpServer::Impl::Observe(const std::string& route, int status, double seconds) {
  requests_.Add({{"handler", route}, {"code", std::to_string(status)}}).Increment();
  durations_
      .Add({{"handler", route}}, prometheus::Histogram::BucketBoundaries{.005, .01, .025, .05, .1,
                                                                         .25, .5, 1, 2.5, 5, 10})
      .Observe(seconds);
}

void HttpServer::Impl::PostToSessions(void (*action)(Session&)) {
  // Copies are taken under the lock and dropped outside it: the last reference to a session may
  // be one of them, and its destructor takes the lock.
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, weak] : sessions_) {
      if (auto s = weak.lock()) live.push_back(std::move(s));
    }
  }
  for (auto& s : live) {
    net::post(s->get_executor(), [s, action] { action(*s); });
  }
}

bool HttpServer::Impl::Stop(std::chrono::milliseconds grace) {
  if (!running_) return true;
  running_ = false;
  stopping_ = true;
  net::post(acceptor_.get_executor(), [self = shared_from_this()] {
    beast::error_code ec;
    self->acceptor_.close(ec);
  });
  PostToSessions([](Session& s) { s.OnServerStop(); });
  bool clean;
  {
    std::unique_lock lock(mu_);
    clean = sessions_done_.wait_for(lock, grace, [this] { return sessions_.empty(); });
  }
  // Past the grace period, close what is left; the I/O threads end once no work remains.
  PostToSessions([](Session& s) { s.Close(); });
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  return clean;
}

HttpServer::HttpServer(ServerOptions options, prometheus::Registry& registry)
    : impl_(std::make_shared<Impl>(std::move(options), registry)) {}

HttpServer::~HttpServer() { Stop(std::chrono::milliseconds(0)); }

void HttpServer::Route(std::string method, std::string path, std::string name, Handler handler,
                       std::shared_ptr<Admission> admission) {
  impl_->routes_.push_back(RouteEntry{std::move(method), std::move(path), std::move(name),
                                      std::move(handler), std::move(admission)});
}

core::Status HttpServer::Start() { return impl_->Start(); }
std::uint16_t HttpServer::port() const { return impl_->port_; }
bool HttpServer::Stop(std::chrono::milliseconds grace) { return impl_->Stop(grace); }

}  // namespace obsgate::server
