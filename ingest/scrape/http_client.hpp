#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace obsgate::ingest {

// How one scrape target is fetched.
struct HttpClientOptions {
  std::chrono::milliseconds timeout{10'000};  // the whole GET: connect, TLS, request, body
  std::string ca_file;                        // besides the system CAs
  bool insecure_skip_verify = false;
  std::string bearer_token;  // secrets: never in messages
  std::string username;
  std::string password;
  std::string accept;                          // the Accept header
  std::uint64_t max_body_bytes = 64ull << 20;  // decoded; past it the fetch fails
};

// One answer, or why there is none. `reason` is a short label for a failure metric.
struct HttpFetch {
  bool ok = false;
  std::string reason;  // "timeout", "connect", "tls", "http_status", "body_too_large", "read"
  std::string error;   // for people: what failed and where
  int status = 0;
  std::string content_type;
  std::string body;  // gunzipped when the server sent gzip
  std::uint64_t wire_bytes = 0;
};

// A keep-alive HTTP/1.1 client for one URL (http or https), with a deadline per GET and gzip.
// Owned by one thread at a time; Cancel is thread-safe.
class HttpClient {
 public:
  // Fails on a URL that is not http(s)://host[:port][/path] or a CA file that cannot be read.
  static core::Result<std::unique_ptr<HttpClient>> Create(std::string_view url,
                                                          HttpClientOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // GETs the URL, reusing the connection when the server kept it open.
  HttpFetch Get();
  // Ends a Get in progress (it fails with reason "cancelled") and any later one.
  void Cancel();

  const std::string& url() const;

 private:
  struct Impl;
  explicit HttpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace obsgate::ingest
