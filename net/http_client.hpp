#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/config_reader.hpp"  // core::Env
#include "core/result.hpp"

namespace obsgate::net {

// How requests to one origin are made.
struct HttpClientOptions {
  std::chrono::milliseconds timeout{10'000};  // one whole exchange: connect, TLS, request, body
  std::string ca_file;                        // besides the system CAs
  std::string ca_pem;  // PEM text of CAs to trust besides the system CAs (kubeconfig's -data)
  bool insecure_skip_verify = false;
  // A client certificate (chain) and its key, from files or as PEM text; the text wins when both
  // are given. The key is a secret: never in messages.
  std::string client_cert_file;
  std::string client_key_file;
  std::string client_cert_pem;
  std::string client_key_pem;
  std::string bearer_token;  // secrets: never in messages
  std::string username;
  std::string password;
  std::string accept;                                        // the Accept header
  std::vector<std::pair<std::string, std::string>> headers;  // sent with every request
  std::uint64_t max_body_bytes = 64ull << 20;                // decoded; past it the fetch fails
  // HTTPS_PROXY / HTTP_PROXY / NO_PROXY (and their lower-case forms) are read from here; a null
  // Env means no proxy.
  core::Env env;
};

// One request; the target defaults to the client URL's path and query.
struct HttpCall {
  std::string method = "GET";
  std::string target;  // "/v2/enqueue"; empty: the URL's own
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// One answer, or why there is none. `reason` is a short label for a failure metric. Messages
// name host:port, never the path or query (webhook URLs carry their secret there).
struct HttpFetch {
  bool ok = false;     // an answer with a 2xx status (Get: exactly 200, as Prometheus scrapes)
  std::string reason;  // "timeout", "connect", "proxy", "tls", "http_status", "body_too_large",
                       // "read", "cancelled", "request" (a header with a line break)
  std::string error;   // for people: what failed and where
  int status = 0;      // 0 when no answer arrived
  std::string content_type;
  std::string retry_after;  // the Retry-After header as sent, or empty
  std::string body;         // gunzipped when the server sent gzip; kept on error statuses too
  std::uint64_t wire_bytes = 0;
};

// A keep-alive HTTP/1.1 client for one origin (http or https): TLS verified against the system
// CAs (and an optional CA file) with SNI, a deadline per exchange, gzip, connection reuse, and
// HTTPS_PROXY/HTTP_PROXY/NO_PROXY. Owned by one thread at a time; Cancel is thread-safe.
class HttpClient {
 public:
  // Fails on a URL that is not http(s)://host[:port][/path], a CA or client certificate that
  // cannot be read, or a client key that does not match its certificate.
  static core::Result<std::unique_ptr<HttpClient>> Create(std::string_view url,
                                                          HttpClientOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // GETs the URL, reusing the connection when the server kept it open.
  HttpFetch Get();
  // Hands back the body of an earlier answer, so the next one is read into its memory instead of a
  // new allocation: for a caller that fetches large bodies over and over (a scrape target).
  void Reuse(std::string&& body);
  // Sends one request to the URL's origin, reusing the connection when the server kept it open.
  HttpFetch Send(const HttpCall& call);
  // Ends an exchange in progress (it fails with reason "cancelled") and any later one.
  void Cancel();

  const std::string& url() const;

 private:
  struct Impl;
  explicit HttpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The proxy ("host:port") a request to `url` goes through under `env`'s HTTPS_PROXY, HTTP_PROXY
// and NO_PROXY, or empty when it goes direct: for logging the route at start. Loopback hosts
// always go direct.
std::string ProxyFor(std::string_view url, const core::Env& env);

// RFC 3986 percent-encoding of everything but unreserved characters, for one path segment or
// query value.
std::string PercentEncode(std::string_view s);

}  // namespace obsgate::net
