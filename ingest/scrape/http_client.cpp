#include "ingest/scrape/http_client.hpp"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <charconv>
#include <fstream>
#include <optional>
#include <utility>  // before asio: its awaitable.hpp uses std::exchange without including it

#include "core/version.hpp"
#include "ingest/compression.hpp"

namespace obsgate::ingest {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

struct Url {
  bool tls = false;
  std::string host;
  std::string port;
  std::string target;
};

core::Result<Url> ParseUrl(std::string_view url) {
  Url u;
  std::string_view rest;
  if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else if (url.starts_with("https://")) {
    u.tls = true;
    rest = url.substr(8);
  } else {
    return core::Error{"\"" + std::string(url) + "\" is not an http:// or https:// URL"};
  }
  std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  u.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (authority.find('@') != std::string_view::npos) {
    return core::Error{"credentials in the URL would be logged; use basic_auth instead"};
  }
  std::string_view host = authority, port;
  if (!authority.empty() && authority.front() == '[') {
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return core::Error{"unclosed '[' in the URL's host"};
    host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return core::Error{"expected ':' after ']' in the URL"};
      port = authority.substr(close + 2);
    }
  } else if (std::size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return core::Error{"the URL \"" + std::string(url) + "\" has no host"};
  unsigned p = 0;
  if (!port.empty()) {
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc() || end != port.data() + port.size() || p == 0 || p > 65535) {
      return core::Error{"the port in \"" + std::string(url) + "\" is not 1 to 65535"};
    }
  }
  u.host = std::string(host);
  u.port = port.empty() ? (u.tls ? "443" : "80") : std::string(port);
  return u;
}

std::string Base64(std::string_view in) {
  static constexpr char kChars[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                 (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += kChars[(v >> 18) & 63];
    out += kChars[(v >> 12) & 63];
    out += kChars[(v >> 6) & 63];
    out += kChars[v & 63];
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += kChars[(v >> 18) & 63];
    out += kChars[(v >> 12) & 63];
    out += i + 1 < in.size() ? kChars[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

}  // namespace

// Owned by the thread calling Get; Cancel posts onto the io_context.
struct HttpClient::Impl {
  std::string url_text;
  Url url;
  HttpClientOptions options;
  asio::io_context ioc;
  std::optional<ssl::context> tls_context;
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
  beast::flat_buffer buffer;
  bool connected = false;
  std::atomic<bool> cancelled{false};
  std::string authorization;

  beast::tcp_stream& Lowest() { return secure ? beast::get_lowest_layer(*secure) : *plain; }

  void Close() {
    beast::error_code ignored;
    if (secure) beast::get_lowest_layer(*secure).socket().close(ignored);
    if (plain) plain->socket().close(ignored);
    secure.reset();
    plain.reset();
    connected = false;
    buffer.clear();
  }

  static void Fail(HttpFetch& out, const char* reason, std::string error) {
    out.ok = false;
    out.reason = reason;
    out.error = std::move(error);
  }
  std::string Where() const { return url.host + ":" + url.port; }

  asio::awaitable<bool> Connect(HttpFetch& out, std::chrono::steady_clock::time_point deadline) {
    beast::error_code ec;
    auto token = asio::redirect_error(asio::use_awaitable, ec);
    tcp::resolver resolver(ioc);
    auto endpoints = co_await resolver.async_resolve(url.host, url.port, token);
    if (ec) {
      Fail(out, "connect", "cannot resolve " + url.host + ": " + ec.message());
      co_return false;
    }
    if (url.tls) {
      secure.emplace(ioc, *tls_context);
      if (!options.insecure_skip_verify) {
        secure->set_verify_callback(ssl::host_name_verification(url.host));
      }
      // SNI, so virtual hosts behind one address present the right certificate.
      SSL_set_tlsext_host_name(secure->native_handle(), url.host.c_str());
    } else {
      plain.emplace(ioc);
    }
    Lowest().expires_at(deadline);
    co_await Lowest().async_connect(endpoints, token);
    if (ec) {
      Fail(out, ec == beast::error::timeout ? "timeout" : "connect",
           (ec == beast::error::timeout ? "connect to " + Where() + " timed out"
                                        : "cannot connect to " + Where() + ": " + ec.message()));
      co_return false;
    }
    if (secure) {
      co_await secure->async_handshake(ssl::stream_base::client, token);
      if (ec) {
        Fail(out, ec == beast::error::timeout ? "timeout" : "tls",
             "TLS handshake with " + Where() + " failed: " + ec.message() +
                 (ec == beast::error::timeout ? "" : "; check ca_file or insecure_skip_verify"));
        co_return false;
      }
    }
    connected = true;
    co_return true;
  }

  template <typename Stream>
  asio::awaitable<bool> Exchange(Stream& stream, HttpFetch& out, bool& retry) {
    beast::error_code ec;
    auto token = asio::redirect_error(asio::use_awaitable, ec);
    http::request<http::empty_body> req(http::verb::get, url.target, 11);
    req.set(http::field::host, url.host);
    req.set(http::field::user_agent, "obsgate/" + std::string(Version()));
    req.set(http::field::accept_encoding, "gzip");
    if (!options.accept.empty()) req.set(http::field::accept, options.accept);
    if (!authorization.empty()) req.set(http::field::authorization, authorization);
    // Prometheus tells targets how long it will wait, so slow exporters can cut work short.
    req.set("X-Prometheus-Scrape-Timeout-Seconds",
            std::to_string(static_cast<double>(options.timeout.count()) / 1000.0));
    co_await http::async_write(stream, req, token);
    if (ec) {
      retry = ec != beast::error::timeout;
      Fail(out, ec == beast::error::timeout ? "timeout" : "read",
           "cannot send the request to " + Where() + ": " + ec.message());
      co_return false;
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(options.max_body_bytes);
    parser.header_limit(64 * 1024);
    std::size_t n = co_await http::async_read(stream, buffer, parser, token);
    if (ec) {
      // A kept-alive connection the server closed meanwhile: try once on a new one.
      retry = ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
              ec == asio::error::eof;
      const char* reason = ec == beast::error::timeout     ? "timeout"
                           : ec == http::error::body_limit ? "body_too_large"
                                                           : "read";
      Fail(out, reason,
           ec == beast::error::timeout
               ? "no whole answer from " + Where() + " within " +
                     std::to_string(options.timeout.count()) + "ms"
               : "cannot read the answer from " + Where() + ": " + ec.message());
      co_return false;
    }
    out.wire_bytes = n;
    auto& res = parser.get();
    out.status = res.result_int();
    out.content_type = std::string(res[http::field::content_type]);
    if (!res.keep_alive()) Close();
    std::string encoding(res[http::field::content_encoding]);
    if (encoding == "gzip" || encoding == "x-gzip") {
      auto inflated = Gunzip(res.body(), options.max_body_bytes);
      if (!inflated) {
        Fail(out, "read", inflated.error() + " (from " + Where() + ")");
        co_return false;
      }
      out.body = std::move(inflated).value();
    } else {
      out.body = std::move(res.body());
    }
    if (out.status != 200) {
      Fail(out, "http_status",
           Where() + url.target + " answered HTTP " + std::to_string(out.status));
      co_return false;
    }
    out.ok = true;
    co_return true;
  }

  asio::awaitable<void> Run(HttpFetch& out) {
    auto deadline = std::chrono::steady_clock::now() + options.timeout;
    for (int attempt = 0; attempt < 2; ++attempt) {
      bool reused = connected;
      if (!connected && !co_await Connect(out, deadline)) {
        Close();
        co_return;
      }
      Lowest().expires_at(deadline);
      bool retry = false;
      bool ok =
          secure ? co_await Exchange(*secure, out, retry) : co_await Exchange(*plain, out, retry);
      if (ok) co_return;
      if (out.reason != "http_status") Close();
      if (!(reused && retry) || cancelled) co_return;
      out = HttpFetch{};
    }
  }
};

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpClient::~HttpClient() = default;

core::Result<std::unique_ptr<HttpClient>> HttpClient::Create(std::string_view url,
                                                             HttpClientOptions options) {
  auto parsed = ParseUrl(url);
  if (!parsed) return core::Error{parsed.error()};
  auto impl = std::make_unique<Impl>();
  impl->url_text = std::string(url);
  impl->url = std::move(parsed).value();
  impl->options = std::move(options);
  if (!impl->options.bearer_token.empty()) {
    impl->authorization = "Bearer " + impl->options.bearer_token;
  } else if (!impl->options.username.empty()) {
    impl->authorization = "Basic " + Base64(impl->options.username + ":" + impl->options.password);
  }
  if (impl->url.tls) {
    impl->tls_context.emplace(ssl::context::tls_client);
    beast::error_code ec;
    if (impl->options.insecure_skip_verify) {
      impl->tls_context->set_verify_mode(ssl::verify_none);
    } else {
      impl->tls_context->set_verify_mode(ssl::verify_peer);
      impl->tls_context->set_default_verify_paths(ec);
      if (!impl->options.ca_file.empty()) {
        impl->tls_context->load_verify_file(impl->options.ca_file, ec);
        if (ec) {
          return core::Error{"cannot read the CA file " + impl->options.ca_file + ": " +
                             ec.message()};
        }
      }
    }
  }
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(impl)));
}

HttpFetch HttpClient::Get() {
  HttpFetch out;
  if (impl_->cancelled) {
    Impl::Fail(out, "cancelled", "stopped");
    return out;
  }
  impl_->ioc.restart();
  asio::co_spawn(impl_->ioc, impl_->Run(out), [&out](std::exception_ptr e) {
    // Nothing in Run throws by design (errors come back through redirect_error); still, a
    // bad_alloc must not escape the data path.
    if (e) Impl::Fail(out, "read", "internal error while fetching");
  });
  impl_->ioc.run();
  if (impl_->cancelled && !out.ok) Impl::Fail(out, "cancelled", "stopped");
  return out;
}

void HttpClient::Cancel() {
  impl_->cancelled = true;
  // Only the sockets close: the coroutine still holds the streams and ends on the error.
  asio::post(impl_->ioc, [impl = impl_.get()] {
    beast::error_code ignored;
    if (impl->secure) beast::get_lowest_layer(*impl->secure).socket().close(ignored);
    if (impl->plain) impl->plain->socket().close(ignored);
  });
}

const std::string& HttpClient::url() const { return impl_->url_text; }

}  // namespace obsgate::ingest
