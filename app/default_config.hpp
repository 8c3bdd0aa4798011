#pragma once

#include <string_view>

namespace obsgate::app {

// What `obsgate run` uses without --config: everything on 127.0.0.1, nothing outside needed.
inline constexpr std::string_view kDefaultConfig = R"(# obsgate's embedded default configuration
listen: 127.0.0.1:9464
server:
  threads: 2
  max_header_size: 16KiB
  max_body_size: 16MiB
  read_timeout: 30s
  idle_timeout: 2m
  shutdown_timeout: 10s
sources:
  # Loki-compatible push (POST /loki/api/v1/push) and NDJSON push (POST /api/v1/logs)
  - http: {formats: [loki, ndjson, otlp]}
)";

inline constexpr std::string_view kDefaultConfigName = "<embedded default>";

}  // namespace obsgate::app
