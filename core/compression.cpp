#include "core/compression.hpp"

#include <zlib.h>

namespace obsgate::core {

core::Result<std::string> Gunzip(std::string_view body, std::size_t max_bytes) {
  z_stream z{};
  // 15 + 32: accept gzip and zlib headers alike.
  if (inflateInit2(&z, 15 + 32) != Z_OK) return core::Error{"cannot start gzip decoding"};
  std::string out;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data()));
  z.avail_in = static_cast<uInt>(body.size());
  int rc = Z_OK;
  char buf[65536];
  while (rc != Z_STREAM_END) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&z);
      return core::Error{"body is not valid gzip" +
                         std::string(z.msg ? std::string(": ") + z.msg : "")};
    }
    out.append(buf, sizeof buf - z.avail_out);
    if (out.size() > max_bytes) {
      inflateEnd(&z);
      return core::Error{"gzip body inflates past " + std::to_string(max_bytes) +
                         " bytes; send smaller batches"};
    }
    if (rc == Z_OK && z.avail_in == 0 && z.avail_out != 0) {
      inflateEnd(&z);
      return core::Error{"gzip body is truncated"};
    }
  }
  inflateEnd(&z);
  return out;
}

}  // namespace obsgate::core
