#pragma once

#include <zlib.h>

#include <regex>
#include <string>

#include "tests/support/http_client.hpp"

namespace obsgate::testing {

// `text` as a gzip member, the way shippers compress a push.
inline std::string Gzip(const std::string& text) {
  z_stream z{};
  deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, text.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(text.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// "total":{"requests":R,"errors":E,...} of one series in /api/v1/deployments.
inline std::string Total(std::uint16_t port, const std::string& deployment,
                         const std::string& version) {
  std::string body = Get(port, "/api/v1/deployments").body;
  std::smatch m;
  std::regex re("\"deployment\":\"" + deployment + "\",\"version\":\"" + version +
                "\",[^}]*\"total\":(\\{[^}]*\\})");
  return std::regex_search(body, m, re) ? m[1].str() : "none in " + body;
}

}  // namespace obsgate::testing
