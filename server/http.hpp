#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace obsgate::server {

struct Header {
  std::string name;
  std::string value;
};

// One HTTP request as a handler sees it; the body is complete and within the size limit.
struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: path and query
  std::string path;    // target up to '?', not decoded
  std::string query;   // after '?', not decoded
  std::vector<Header> headers;
  std::string body;

  // The first header of that name, compared without case; empty when absent.
  std::string_view HeaderValue(std::string_view name) const;
  // A query parameter, percent-decoded; nullopt when absent.
  std::optional<std::string> QueryParam(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<Header> headers;

  static Response Text(int status, std::string body);
  static Response Json(int status, std::string body);
  // {"status":"error","error":"<message>"}, the shape of Prometheus's API errors.
  static Response Error(int status, std::string_view message);
};

// Runs on a server I/O thread; must not block for long.
using Handler = std::function<Response(const Request&)>;

// Decides from a request's headers alone, before its body is read, whether it may go on: so a
// gateway under load or an unauthenticated client never makes it buffer a body. Thread-safe.
class Admission {
 public:
  virtual ~Admission() = default;
  // nullopt: read the body and run the handler, then call Done. Otherwise this response is sent,
  // the body is not read, and the connection is closed.
  virtual std::optional<Response> Admit(const Request& head) = 0;
  // Once for every admitted request, after its handler ran or its body failed to arrive.
  virtual void Done(const Request& head) = 0;
};

std::string PercentDecode(std::string_view s);

}  // namespace obsgate::server
