#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"
#include "core/result.hpp"

namespace obsgate::ingest {

// Reads one Prometheus file_sd file: a JSON or YAML list of {targets: ["host:port"], labels: {}}.
// Each target becomes scheme://host:port + metrics_path, unless its group's labels override them
// with __scheme__ or __metrics_path__, as in Prometheus; other labels starting with "__" are
// dropped. The error names the group and what is wrong. Pure: thread-safe.
core::Result<std::vector<core::ScrapeTargetConfig>> ParseFileSd(std::string_view text,
                                                                std::string_view scheme,
                                                                std::string_view metrics_path);

}  // namespace obsgate::ingest
