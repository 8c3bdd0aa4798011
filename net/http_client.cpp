#include "net/http_client.hpp"

#include <poll.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>
#include <charconv>
#include <optional>
#include <utility>  // before asio: its awaitable.hpp uses std::exchange without including it

#include "core/compression.hpp"
#include "core/version.hpp"

namespace obsgate::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

struct Url {
  bool tls = false;
  std::string host;  // without brackets
  std::string port;
  std::string target;
  std::string userinfo;  // only proxy URLs may carry one
};

std::string Bracketed(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

// Parses http(s)://[userinfo@]host[:port][/path]. Messages show scheme and host, never the path
// or credentials.
core::Result<Url> ParseUrl(std::string_view url, bool is_proxy) {
  Url u;
  std::string_view rest;
  if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else if (url.starts_with("https://")) {
    u.tls = true;
    rest = url.substr(8);
  } else if (is_proxy && url.find("://") == std::string_view::npos) {
    rest = url;  // "proxy:3128", as curl and Go read it: an http proxy
  } else {
    std::string_view scheme = url.substr(0, std::min<std::size_t>(url.find(':'), 16));
    return core::Error{"a URL starting with \"" + std::string(scheme) +
                       "\" is not http:// or https://"};
  }
  std::size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  u.target = end == std::string_view::npos ? "/" : std::string(rest.substr(end));
  if (std::size_t hash = u.target.find('#'); hash != std::string::npos) u.target.erase(hash);
  if (u.target.empty() || u.target.front() != '/') u.target.insert(0, "/");
  if (std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
    if (!is_proxy) return core::Error{"credentials in the URL would be logged; use basic_auth"};
    u.userinfo = std::string(authority.substr(0, at));
    authority = authority.substr(at + 1);
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
  if (host.empty()) return core::Error{"a URL has no host"};
  unsigned p = 0;
  if (!port.empty()) {
    auto [last, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc() || last != port.data() + port.size() || p == 0 || p > 65535) {
      return core::Error{"the port of " + std::string(host) + " is not 1 to 65535"};
    }
  }
  u.host = std::string(host);
  std::transform(u.host.begin(), u.host.end(), u.host.begin(),
                 [](unsigned char c) { return std::tolower(c); });
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

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned v = 0;
    if (s[i] == '%' && i + 2 < s.size() &&
        std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16).ptr == s.data() + i + 3) {
      out += static_cast<char>(v);
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::optional<asio::ip::address> ParseIp(const std::string& text) {
  beast::error_code ec;
  auto a = asio::ip::make_address(text, ec);
  if (ec) return std::nullopt;
  return a;
}

// Whether `ip` lies in a CIDR block "10.0.0.0/8" or "fd00::/8".
bool InCidr(const asio::ip::address& ip, std::string_view cidr) {
  std::size_t slash = cidr.find('/');
  auto net = ParseIp(std::string(cidr.substr(0, slash)));
  unsigned bits = 0;
  std::string_view len = cidr.substr(slash + 1);
  if (!net || std::from_chars(len.data(), len.data() + len.size(), bits).ptr != len.end()) {
    return false;
  }
  if (net->is_v4() != ip.is_v4()) return false;
  auto bytes = [](const asio::ip::address& a) {
    std::vector<unsigned char> b;
    if (a.is_v4()) {
      auto v = a.to_v4().to_bytes();
      b.assign(v.begin(), v.end());
    } else {
      auto v = a.to_v6().to_bytes();
      b.assign(v.begin(), v.end());
    }
    return b;
  };
  auto x = bytes(ip), y = bytes(*net);
  if (bits > x.size() * 8) return false;
  for (unsigned i = 0; i < bits; ++i) {
    unsigned mask = 0x80u >> (i % 8);
    if ((x[i / 8] & mask) != (y[i / 8] & mask)) return false;
  }
  return true;
}

// NO_PROXY as curl and Go's net/http read it: comma-separated; "*" matches every host; an entry
// matches the host itself and its subdomains, with or without a leading "." (or "*."); IP
// literals and CIDR blocks match addresses; an optional ":port" limits the entry to that port.
bool Bypassed(const Url& url, std::string_view no_proxy) {
  auto ip = ParseIp(url.host);
  std::size_t start = 0;
  while (start <= no_proxy.size()) {
    std::size_t comma = no_proxy.find(',', start);
    std::string entry(no_proxy.substr(start, comma - start));
    start = comma == std::string_view::npos ? no_proxy.size() + 1 : comma + 1;
    entry.erase(0, entry.find_first_not_of(" \t"));
    entry.erase(entry.find_last_not_of(" \t") + 1);
    std::transform(entry.begin(), entry.end(), entry.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (entry.empty()) continue;
    if (entry == "*") return true;
    if (entry.find('/') != std::string::npos) {
      if (ip && InCidr(*ip, entry)) return true;
      continue;
    }
    std::string host = entry, port;
    if (entry.front() == '[') {
      std::size_t close = entry.find(']');
      if (close == std::string::npos) continue;
      host = entry.substr(1, close - 1);
      if (close + 1 < entry.size() && entry[close + 1] == ':') port = entry.substr(close + 2);
    } else if (std::count(entry.begin(), entry.end(), ':') == 1) {
      host = entry.substr(0, entry.find(':'));
      port = entry.substr(entry.find(':') + 1);
    }
    if (!port.empty() && port != url.port) continue;
    if (auto entry_ip = ParseIp(host)) {
      if (ip && *ip == *entry_ip) return true;
      continue;
    }
    if (host.starts_with("*.")) host.erase(0, 1);
    if (host.starts_with(".")) host.erase(0, 1);
    if (host.empty()) continue;
    if (url.host == host || url.host.ends_with("." + host)) return true;
  }
  return false;
}

struct Proxy {
  std::string host;
  std::string port;
  std::string authorization;  // "Basic ...", or empty
  std::string variable;       // which variable named it, for messages
  std::string Where() const { return Bracketed(host) + ":" + port; }
};

std::optional<std::string> Lookup(const core::Env& env, const char* upper, const char* lower,
                                  std::string* name) {
  for (const char* n : {upper, lower}) {
    if (auto v = env(n); v && !v->empty()) {
      if (name) *name = n;
      return v;
    }
  }
  return std::nullopt;
}

// The proxy for `url`, if the environment names one and NO_PROXY does not exempt the host.
// Loopback is never proxied, as in Go: a proxy cannot reach this machine's own ports.
core::Result<std::optional<Proxy>> FindProxy(const Url& url, const core::Env& env) {
  if (!env) return std::optional<Proxy>{};
  std::string variable;
  auto value = url.tls ? Lookup(env, "HTTPS_PROXY", "https_proxy", &variable)
                       : Lookup(env, "HTTP_PROXY", "http_proxy", &variable);
  if (!value) return std::optional<Proxy>{};
  if (url.host == "localhost" || url.host.ends_with(".localhost")) return std::optional<Proxy>{};
  if (auto ip = ParseIp(url.host); ip && ip->is_loopback()) return std::optional<Proxy>{};
  if (auto no_proxy = Lookup(env, "NO_PROXY", "no_proxy", nullptr);
      no_proxy && Bypassed(url, *no_proxy)) {
    return std::optional<Proxy>{};
  }
  auto parsed = ParseUrl(*value, /*is_proxy=*/true);
  if (!parsed) return core::Error{variable + ": " + parsed.error()};
  if (parsed->tls) {
    return core::Error{variable + " names an https:// proxy; only http:// proxies are supported"};
  }
  Proxy p;
  p.host = parsed->host;
  p.port = parsed->port;
  p.variable = variable;
  if (!parsed->userinfo.empty()) {
    std::string_view info = parsed->userinfo;
    std::size_t colon = info.find(':');
    std::string user = PercentDecode(info.substr(0, colon));
    std::string pass = colon == std::string_view::npos ? "" : PercentDecode(info.substr(colon + 1));
    p.authorization = "Basic " + Base64(user + ":" + pass);
  }
  return std::optional<Proxy>{std::move(p)};
}

bool Idempotent(const HttpCall& call) {
  if (call.method == "GET" || call.method == "HEAD" || call.method == "OPTIONS" ||
      call.method == "TRACE") {
    return true;
  }
  for (const auto& [name, value] : call.headers) {
    if (beast::iequals(name, "Idempotency-Key") || beast::iequals(name, "X-Idempotency-Key")) {
      return true;
    }
  }
  return false;
}

bool HasLineBreak(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

// Loads the client certificate and key the options name, if any. Messages name the files, never
// the key's content.
core::Status UseClientCertificate(ssl::context& context, const HttpClientOptions& o) {
  bool have_cert = !o.client_cert_pem.empty() || !o.client_cert_file.empty();
  bool have_key = !o.client_key_pem.empty() || !o.client_key_file.empty();
  if (!have_cert && !have_key) return core::Ok{};
  if (have_cert != have_key) {
    return core::Error{have_cert ? "a client certificate needs its key; set the client key too"
                                 : "a client key needs its certificate; set the client "
                                   "certificate too"};
  }
  beast::error_code ec;
  if (!o.client_cert_pem.empty()) {
    context.use_certificate_chain(asio::buffer(o.client_cert_pem), ec);
    if (ec) return core::Error{"the client certificate data is not PEM: " + ec.message()};
  } else {
    context.use_certificate_chain_file(o.client_cert_file, ec);
    if (ec) {
      return core::Error{"cannot read the client certificate file " + o.client_cert_file + ": " +
                         ec.message()};
    }
  }
  if (!o.client_key_pem.empty()) {
    context.use_private_key(asio::buffer(o.client_key_pem), ssl::context::pem, ec);
  } else {
    context.use_private_key_file(o.client_key_file, ssl::context::pem, ec);
  }
  // OpenSSL checks the key against the certificate as it loads it.
  if (ec && ec.category() == asio::error::get_ssl_category() &&
      ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH) {
    return core::Error{"the client key does not belong to the client certificate"};
  }
  if (ec) {
    return core::Error{o.client_key_pem.empty()
                           ? "cannot read the client key file " + o.client_key_file
                           : std::string("the client key data is not a PEM private key")};
  }
  if (SSL_CTX_check_private_key(context.native_handle()) != 1) {
    return core::Error{"the client key does not belong to the client certificate"};
  }
  return core::Ok{};
}

// Beast's read loop takes at most 64 KiB per read; the socket buffer is reserved to match.
constexpr std::size_t kReadChunk = 64 * 1024;

// How an exchange ended, for deciding whether it may be sent again.
enum class Failure { kNone, kWrite, kNothingRead, kOther };

}  // namespace

// Owned by the thread calling Get or Send; Cancel posts onto the io_context.
struct HttpClient::Impl {
  std::string url_text;
  Url url;
  std::optional<Proxy> proxy;
  HttpClientOptions options;
  asio::io_context ioc;
  std::optional<ssl::context> tls_context;
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
  // Read buffer for the socket. Beast reads at most its free capacity (and at least 512 bytes) at a
  // time and grows it only on demand, so without a reserve a large body arrives 512 bytes a read.
  beast::flat_buffer buffer;
  // Memory for the next body, handed back by Reuse; empty when the caller kept the last one.
  std::string spare_body;
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

  // An idle kept-alive connection with something to read has been closed by the server (or is
  // about to be): HTTP/1.1 servers send nothing unasked. Checked before reusing it, so a request
  // is never written into a connection that is already gone.
  bool Stale() {
    if (buffer.size() > 0) return true;
    pollfd p{Lowest().socket().native_handle(), POLLIN, 0};
    return ::poll(&p, 1, 0) != 0;
  }

  static void Fail(HttpFetch& out, const char* reason, std::string error) {
    out.ok = false;
    out.reason = reason;
    out.error = std::move(error);
  }
  std::string Where() const { return Bracketed(url.host) + ":" + url.port; }
  std::string HostHeader() const {
    bool default_port = url.port == (url.tls ? "443" : "80");
    return default_port ? Bracketed(url.host) : Where();
  }

  asio::awaitable<bool> Connect(HttpFetch& out, std::chrono::steady_clock::time_point deadline) {
    beast::error_code ec;
    auto token = asio::redirect_error(asio::use_awaitable, ec);
    const std::string& host = proxy ? proxy->host : url.host;
    const std::string& port = proxy ? proxy->port : url.port;
    std::string where =
        proxy ? "the proxy " + proxy->Where() + " (" + proxy->variable + ")" : Where();
    const char* connect_reason = proxy ? "proxy" : "connect";
    if (url.tls) {
      secure.emplace(ioc, *tls_context);
      if (!options.insecure_skip_verify) {
        secure->set_verify_callback(ssl::host_name_verification(url.host));
      }
      // SNI, so virtual hosts behind one address present the right certificate; never an IP
      // literal (RFC 6066).
      if (!ParseIp(url.host)) SSL_set_tlsext_host_name(secure->native_handle(), url.host.c_str());
    } else {
      plain.emplace(ioc);
    }
    Lowest().expires_at(deadline);
    tcp::resolver resolver(ioc);
    auto endpoints = co_await resolver.async_resolve(host, port, token);
    if (ec) {
      Fail(out, connect_reason,
           "cannot resolve " + (proxy ? "the proxy " + proxy->Where() : Bracketed(host)) + ": " +
               ec.message() + (proxy ? "; check " + proxy->variable : ""));
      co_return false;
    }
    co_await Lowest().async_connect(endpoints, token);
    if (ec) {
      Fail(out, ec == beast::error::timeout ? "timeout" : connect_reason,
           (ec == beast::error::timeout ? "connect to " + where + " timed out"
                                        : "cannot connect to " + where + ": " + ec.message()));
      co_return false;
    }
    if (secure && proxy && !co_await Tunnel(out)) co_return false;
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

  // CONNECT host:port through the proxy; TLS with the real host then runs inside the tunnel.
  asio::awaitable<bool> Tunnel(HttpFetch& out) {
    beast::error_code ec;
    auto token = asio::redirect_error(asio::use_awaitable, ec);
    beast::tcp_stream& stream = Lowest();
    http::request<http::empty_body> req(http::verb::connect, Where(), 11);
    req.set(http::field::host, Where());
    req.set(http::field::user_agent, "obsgate/" + std::string(Version()));
    if (!proxy->authorization.empty())
      req.set(http::field::proxy_authorization, proxy->authorization);
    co_await http::async_write(stream, req, token);
    http::response_parser<http::empty_body> parser;
    parser.skip(true);  // a 2xx to CONNECT has no body: the tunnel starts right after the head
    beast::flat_buffer head;
    if (!ec) co_await http::async_read_header(stream, head, parser, token);
    if (ec) {
      Fail(out, ec == beast::error::timeout ? "timeout" : "proxy",
           "the proxy " + proxy->Where() + " did not answer CONNECT to " + Where() + ": " +
               ec.message());
      co_return false;
    }
    int status = parser.get().result_int();
    if (status / 100 != 2) {
      Fail(out, "proxy",
           "the proxy " + proxy->Where() + " refused CONNECT to " + Where() + " with HTTP " +
               std::to_string(status) +
               (status == 407 ? "; check the credentials in " + proxy->variable
                              : "; check " + proxy->variable + " and NO_PROXY"));
      co_return false;
    }
    co_return true;
  }

  template <typename Stream>
  asio::awaitable<bool> Exchange(Stream& stream, const HttpCall& call, bool exact_200,
                                 HttpFetch& out, Failure& failure) {
    beast::error_code ec;
    auto token = asio::redirect_error(asio::use_awaitable, ec);
    const std::string& path = call.target.empty() ? url.target : call.target;
    // Through a proxy without a tunnel the request names the whole URL (absolute form).
    std::string target = proxy && !url.tls ? "http://" + Where() + path : path;
    http::request<http::string_body> req;
    req.version(11);
    if (http::verb v = http::string_to_verb(call.method); v != http::verb::unknown) {
      req.method(v);
    } else {
      req.method_string(call.method);
    }
    req.target(target);
    req.set(http::field::host, HostHeader());
    req.set(http::field::user_agent, "obsgate/" + std::string(Version()));
    req.set(http::field::accept_encoding, "gzip");
    if (!options.accept.empty()) req.set(http::field::accept, options.accept);
    if (!authorization.empty()) req.set(http::field::authorization, authorization);
    if (proxy && !url.tls && !proxy->authorization.empty()) {
      req.set(http::field::proxy_authorization, proxy->authorization);
    }
    for (const auto& [name, value] : options.headers) req.set(name, value);
    for (const auto& [name, value] : call.headers) req.set(name, value);
    if (!call.content_type.empty()) req.set(http::field::content_type, call.content_type);
    req.body() = call.body;
    req.prepare_payload();
    co_await http::async_write(stream, req, token);
    if (ec) {
      failure = ec == beast::error::timeout ? Failure::kOther : Failure::kWrite;
      Fail(out, ec == beast::error::timeout ? "timeout" : "read",
           "cannot send the request to " + Where() + ": " + ec.message());
      co_return false;
    }
    http::response_parser<http::string_body> parser;
    parser.get().body() = std::move(spare_body);
    parser.get().body().clear();
    spare_body.clear();
    buffer.reserve(kReadChunk);
    parser.body_limit(options.max_body_bytes);
    parser.header_limit(64 * 1024);
    if (req.method() == http::verb::head) parser.skip(true);
    std::size_t n = co_await http::async_read(stream, buffer, parser, token);
    if (ec) {
      // Nothing of the answer arrived: the server closed the kept-alive connection meanwhile.
      bool closed = ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
                    ec == asio::error::eof || ec == ssl::error::stream_truncated;
      failure = closed && !parser.got_some() ? Failure::kNothingRead : Failure::kOther;
      const char* reason = ec == beast::error::timeout     ? "timeout"
                           : ec == http::error::body_limit ? "body_too_large"
                                                           : "read";
      Fail(out, reason,
           ec == beast::error::timeout ? "no whole answer from " + Where() + " within " +
                                             std::to_string(options.timeout.count()) + "ms"
           : ec == http::error::body_limit
               ? "the answer from " + Where() + " is larger than " +
                     std::to_string(options.max_body_bytes) + " bytes"
               : "cannot read the answer from " + Where() + ": " + ec.message());
      co_return false;
    }
    out.wire_bytes = n;
    auto& res = parser.get();
    out.status = res.result_int();
    out.content_type = std::string(res[http::field::content_type]);
    out.retry_after = std::string(res[http::field::retry_after]);
    if (!res.keep_alive()) Close();
    std::string encoding(res[http::field::content_encoding]);
    if (encoding == "gzip" || encoding == "x-gzip") {
      auto inflated = core::Gunzip(res.body(), options.max_body_bytes);
      if (!inflated) {
        failure = Failure::kOther;
        Fail(out, "read", inflated.error() + " (from " + Where() + ")");
        co_return false;
      }
      out.body = std::move(inflated).value();
      spare_body = std::move(res.body());
    } else {
      out.body = std::move(res.body());
    }
    if (exact_200 ? out.status != 200 : out.status / 100 != 2) {
      failure = Failure::kOther;
      Fail(out, "http_status", Where() + " answered HTTP " + std::to_string(out.status));
      co_return false;
    }
    out.ok = true;
    co_return true;
  }

  asio::awaitable<void> Run(const HttpCall& call, bool exact_200, HttpFetch& out) {
    auto deadline = std::chrono::steady_clock::now() + options.timeout;
    bool idempotent = Idempotent(call);
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (connected && Stale()) Close();
      bool reused = connected;
      if (!connected && !co_await Connect(out, deadline)) {
        Close();
        co_return;
      }
      Lowest().expires_at(deadline);
      Failure failure = Failure::kNone;
      bool ok = secure ? co_await Exchange(*secure, call, exact_200, out, failure)
                       : co_await Exchange(*plain, call, exact_200, out, failure);
      if (ok) co_return;
      if (out.reason != "http_status") Close();
      // Once more on a new connection, only when the request cannot have been acted on twice:
      // it never got through, or nothing came back and the method may be repeated.
      bool again = failure == Failure::kWrite || (failure == Failure::kNothingRead && idempotent);
      if (!reused || !again || cancelled) co_return;
      out = HttpFetch{};
    }
  }

  HttpFetch Perform(const HttpCall& call, bool exact_200) {
    HttpFetch out;
    if (cancelled) {
      Fail(out, "cancelled", "stopped");
      return out;
    }
    for (const auto& [name, value] : call.headers) {
      if (HasLineBreak(name) || HasLineBreak(value)) {
        Fail(out, "request", "the header " + name + " for " + Where() + " has a line break");
        return out;
      }
    }
    if (HasLineBreak(call.method) || HasLineBreak(call.target) || HasLineBreak(call.content_type) ||
        call.method.empty()) {
      Fail(out, "request", "the request to " + Where() + " has no method or a line break");
      return out;
    }
    ioc.restart();
    asio::co_spawn(ioc, Run(call, exact_200, out), [&out](std::exception_ptr e) {
      // Nothing in Run throws by design (errors come back through redirect_error); still, a
      // bad_alloc must not escape the data path.
      if (e) Fail(out, "read", "internal error while fetching");
    });
    ioc.run();
    if (cancelled && !out.ok) Fail(out, "cancelled", "stopped");
    return out;
  }
};

std::string ProxyFor(std::string_view url, const core::Env& env) {
  auto parsed = ParseUrl(url, /*is_proxy=*/false);
  if (!parsed) return "";
  auto proxy = FindProxy(*parsed, env);
  return proxy && *proxy ? (*proxy)->Where() : "";
}

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpClient::~HttpClient() = default;

core::Result<std::unique_ptr<HttpClient>> HttpClient::Create(std::string_view url,
                                                             HttpClientOptions options) {
  auto parsed = ParseUrl(url, /*is_proxy=*/false);
  if (!parsed) return core::Error{parsed.error()};
  auto impl = std::make_unique<Impl>();
  impl->url_text = std::string(url);
  impl->url = std::move(parsed).value();
  impl->options = std::move(options);
  for (const auto& [name, value] : impl->options.headers) {
    if (HasLineBreak(name) || HasLineBreak(value)) {
      return core::Error{"the header " + name + " has a line break"};
    }
  }
  auto proxy = FindProxy(impl->url, impl->options.env);
  if (!proxy) return core::Error{proxy.error()};
  impl->proxy = std::move(proxy).value();
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
      if (!impl->options.ca_pem.empty()) {
        impl->tls_context->add_certificate_authority(asio::buffer(impl->options.ca_pem), ec);
        if (ec) return core::Error{"the CA certificate data is not PEM: " + ec.message()};
      }
    }
    if (auto status = UseClientCertificate(*impl->tls_context, impl->options); !status) {
      return core::Error{status.error()};
    }
  }
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(impl)));
}

HttpFetch HttpClient::Get() { return impl_->Perform(HttpCall{}, /*exact_200=*/true); }

void HttpClient::Reuse(std::string&& body) {
  if (body.capacity() > impl_->spare_body.capacity()) impl_->spare_body = std::move(body);
}

HttpFetch HttpClient::Send(const HttpCall& call) {
  return impl_->Perform(call, /*exact_200=*/false);
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

std::string PercentEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace obsgate::net
