#include "rollback/swarm/engine_client.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <utility>  // before asio's awaitable.hpp, which uses std::exchange without including it

#include "core/version.hpp"
#include "net/http_client.hpp"

namespace obsgate::rollback::swarm {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using local = asio::local::stream_protocol;

constexpr std::uint64_t kMaxBody = 16ull
                                   << 20;  // a service is a few KiB; a list, far less than this

// HTTP/1.1 over the engine's unix socket; net::HttpClient speaks TCP only.
class UnixEngineClient final : public EngineClient {
 public:
  UnixEngineClient(std::string path, std::chrono::milliseconds timeout)
      : path_(std::move(path)), timeout_(timeout), where_("the Docker Engine at unix://" + path_) {}

  EngineReply Send(std::string_view method, const std::string& target,
                   const std::string& body) override {
    EngineReply out;
    asio::io_context ioc;
    asio::co_spawn(ioc, Exchange(ioc, method, target, body, out), [&out](std::exception_ptr e) {
      if (e) {
        out.failure = EngineReply::Failure::kNoAnswer;
        out.error = "internal error while talking to the Docker Engine";
      }
    });
    ioc.run();
    return out;
  }

  const std::string& where() const override { return where_; }

 private:
  asio::awaitable<void> Exchange(asio::io_context& ioc, std::string_view method,
                                 const std::string& target, const std::string& body,
                                 EngineReply& out) {
    beast::error_code ec;
    auto token = asio::redirect_error(asio::use_awaitable, ec);
    beast::basic_stream<local> stream(ioc);
    stream.expires_after(timeout_);
    co_await stream.async_connect(local::endpoint(path_), token);
    if (ec) {
      out.failure = EngineReply::Failure::kNotSent;
      out.error = "cannot connect to " + where_ + ": " + ec.message() +
                  (ec == asio::error::no_permission || ec == asio::error::access_denied
                       ? "; the user running obsgate needs access to the socket (the docker group)"
                       : "; is the engine running and the socket mounted?");
      co_return;
    }
    http::request<http::string_body> req;
    req.version(11);
    req.method_string(beast::string_view(method.data(), method.size()));
    req.target(target);
    req.set(http::field::host, "docker");  // what the docker CLI sends over a socket
    req.set(http::field::user_agent, "obsgate/" + std::string(Version()));
    if (!body.empty()) req.set(http::field::content_type, "application/json");
    req.body() = body;
    req.keep_alive(false);
    req.prepare_payload();
    co_await http::async_write(stream, req, token);
    if (ec) {
      out.failure = EngineReply::Failure::kNoAnswer;
      out.error = "cannot send to " + where_ + ": " + ec.message();
      co_return;
    }
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxBody);
    co_await http::async_read(stream, buffer, parser, token);
    if (ec) {
      out.failure = EngineReply::Failure::kNoAnswer;
      out.error =
          ec == beast::error::timeout
              ? "no answer from " + where_ + " within " + std::to_string(timeout_.count()) + "ms"
              : "cannot read the answer from " + where_ + ": " + ec.message();
      co_return;
    }
    auto& res = parser.get();
    out.status = res.result_int();
    out.body = std::move(res.body());
  }

  std::string path_;
  std::chrono::milliseconds timeout_;
  std::string where_;
};

// tcp://host:port through the project's HTTP(S) client.
class TcpEngineClient final : public EngineClient {
 public:
  TcpEngineClient(std::unique_ptr<net::HttpClient> client, std::string where)
      : client_(std::move(client)), where_(std::move(where)) {}

  EngineReply Send(std::string_view method, const std::string& target,
                   const std::string& body) override {
    net::HttpCall call;
    call.method = std::string(method);
    call.target = target;
    call.body = body;
    if (!body.empty()) call.content_type = "application/json";
    net::HttpFetch f = client_->Send(call);
    EngineReply out;
    if (f.ok || f.reason == "http_status") {
      out.status = f.status;
      out.body = std::move(f.body);
      return out;
    }
    bool not_sent = f.reason == "connect" || f.reason == "tls" || f.reason == "request" ||
                    f.reason == "proxy" || f.reason == "cancelled";
    out.failure = not_sent ? EngineReply::Failure::kNotSent : EngineReply::Failure::kNoAnswer;
    out.error = "the Docker Engine: " + f.error;
    return out;
  }

  const std::string& where() const override { return where_; }

 private:
  std::unique_ptr<net::HttpClient> client_;
  std::string where_;
};

}  // namespace

core::Result<std::unique_ptr<EngineClient>> EngineClient::Create(
    const core::SwarmOrchestratorConfig& config) {
  auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(config.timeout);
  std::string_view host = config.host;
  if (host.starts_with("unix://")) {
    std::string path(host.substr(7));
    if (path.empty() || path.front() != '/') {
      return core::Error{"swarm host " + config.host +
                         " names no absolute socket path; write unix:///var/run/docker.sock"};
    }
    return std::unique_ptr<EngineClient>(new UnixEngineClient(std::move(path), timeout));
  }
  if (host.starts_with("tcp://")) {
    std::string authority(host.substr(6));
    if (std::size_t slash = authority.find('/'); slash != std::string::npos) {
      authority.erase(slash);
    }
    bool tls = !config.ca_file.empty() || !config.cert_file.empty() || !config.key_file.empty();
    net::HttpClientOptions options;
    options.timeout = timeout;
    options.ca_file = config.ca_file;
    options.client_cert_file = config.cert_file;
    options.client_key_file = config.key_file;
    options.accept = "application/json";
    options.max_body_bytes = kMaxBody;
    std::string url = (tls ? "https://" : "http://") + authority;
    auto client = net::HttpClient::Create(url, std::move(options));
    if (!client) return core::Error{"swarm host " + config.host + ": " + client.error()};
    return std::unique_ptr<EngineClient>(
        new TcpEngineClient(std::move(client).value(), "the Docker Engine at " + config.host));
  }
  return core::Error{"swarm host " + config.host +
                     " is neither unix:///path nor tcp://host:port (as DOCKER_HOST is written)"};
}

}  // namespace obsgate::rollback::swarm
