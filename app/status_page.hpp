#pragma once

#include <cstddef>
#include <string_view>

namespace obsgate::server {
class HttpServer;
}

namespace obsgate::app {

// One file of the status page (app/status_page/), compiled into the binary at build time by
// cmake/EmbedFiles.cmake.
struct StatusPageFile {
  const char* name;  // relative to app/status_page/, like "status.js"
  const unsigned char* data;
  std::size_t size;
  const char* etag;  // quoted, from the file's SHA-256
};
extern const StatusPageFile kStatusPageFiles[];
extern const std::size_t kStatusPageFilesCount;

// The embedded file of that name; nullptr when there is none.
const StatusPageFile* FindStatusPageFile(std::string_view name);

// GET / (the page) and GET /ui/<file> (its stylesheet and script). The page reads /api/v1/* from
// the browser; every response forbids anything not from the gateway itself (CSP default-src
// 'self') and is revalidated on each load by its ETag.
void InstallStatusPage(server::HttpServer& server);

}  // namespace obsgate::app
