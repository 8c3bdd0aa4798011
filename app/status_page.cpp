#include "app/status_page.hpp"

#include <string>

#include "server/http_server.hpp"

namespace obsgate::app {
namespace {

std::string_view ContentTypeOf(std::string_view name) {
  if (name.ends_with(".html")) return "text/html; charset=utf-8";
  if (name.ends_with(".css")) return "text/css; charset=utf-8";
  if (name.ends_with(".js")) return "text/javascript; charset=utf-8";
  if (name.ends_with(".svg")) return "image/svg+xml";
  if (name.ends_with(".png")) return "image/png";
  return "application/octet-stream";
}

// The ETag list of If-None-Match contains this tag (or is "*").
bool Matches(std::string_view if_none_match, std::string_view etag) {
  if (if_none_match.empty()) return false;
  if (if_none_match == "*") return true;
  std::size_t pos = 0;
  while (pos < if_none_match.size()) {
    std::size_t comma = if_none_match.find(',', pos);
    std::string_view one = if_none_match.substr(
        pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    while (!one.empty() && one.front() == ' ') one.remove_prefix(1);
    while (!one.empty() && one.back() == ' ') one.remove_suffix(1);
    if (one.starts_with("W/")) one.remove_prefix(2);  // weak comparison, as RFC 9110 says for GET
    if (one == etag) return true;
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return false;
}

server::Response Serve(const server::Request& request, const StatusPageFile& file) {
  server::Response r;
  r.content_type = std::string(ContentTypeOf(file.name));
  // no-cache: kept, but revalidated on every load, so a new binary's page shows at once.
  r.headers = {{"Cache-Control", "no-cache"},
               {"ETag", file.etag},
               {"Content-Security-Policy",
                "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"},
               {"X-Content-Type-Options", "nosniff"},
               {"Referrer-Policy", "no-referrer"}};
  if (Matches(request.HeaderValue("if-none-match"), file.etag)) {
    r.status = 304;
    return r;
  }
  r.status = 200;
  r.body.assign(reinterpret_cast<const char*>(file.data), file.size);
  return r;
}

}  // namespace

const StatusPageFile* FindStatusPageFile(std::string_view name) {
  for (std::size_t i = 0; i < kStatusPageFilesCount; ++i) {
    if (name == kStatusPageFiles[i].name) return &kStatusPageFiles[i];
  }
  return nullptr;
}

void InstallStatusPage(server::HttpServer& server) {
  using server::Request;
  using server::Response;
  server.Route("GET", "/", "status_page", [](const Request& r) {
    const StatusPageFile* index = FindStatusPageFile("index.html");
    if (!index) return Response::Error(500, "this binary was built without its status page");
    return Serve(r, *index);
  });
  server.Route("GET", "/ui/*", "status_page", [](const Request& r) {
    std::string_view name = std::string_view(r.path).substr(std::string_view("/ui/").size());
    const StatusPageFile* file = FindStatusPageFile(name);
    if (!file) {
      return Response::Error(
          404, "no such file of the status page: " + std::string(name) + "; the page is at /");
    }
    return Serve(r, *file);
  });
}

}  // namespace obsgate::app
