#pragma once

// What two ways of counting the same lines must agree on, for the fuzz targets that compare them.

#include <cstdint>
#include <map>
#include <string>
#include <tuple>

#include "ingest/pipeline.hpp"

namespace obsgate::fuzz {

using Totals =
    std::map<std::string, std::tuple<std::uint64_t, std::uint64_t, std::uint64_t, std::uint64_t>>;

// The counter's counts by series; it forgets them.
inline Totals Drain(ingest::LineCounter& counter) {
  Totals t;
  counter.counts().Drain([&](const core::SeriesKey& k, const core::Counts& c) {
    auto& [requests, errors, lines, error_lines] = t[k.ns + '\0' + k.deployment + '\0' + k.version];
    requests += c.requests;
    errors += c.errors;
    lines += c.log_lines;
    error_lines += c.error_lines;
  });
  return t;
}

// Both counters counted the same series and statistics; both start again from nothing.
inline bool DrainSame(ingest::LineCounter& a, ingest::LineCounter& b) {
  if (Drain(a) != Drain(b)) return false;
  const ingest::IngestStats& x = a.stats();
  const ingest::IngestStats& y = b.stats();
  const bool same =
      std::tie(x.lines, x.bytes, x.docker_errors, x.cri_errors, x.unattributed, x.truncated) ==
      std::tie(y.lines, y.bytes, y.docker_errors, y.cri_errors, y.unattributed, y.truncated);
  a.stats() = {};
  b.stats() = {};
  return same;
}

}  // namespace obsgate::fuzz
