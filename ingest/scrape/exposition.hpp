#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace obsgate::ingest {

// The two wire formats a /metrics endpoint answers in.
enum class ExpositionFormat {
  kText,         // Prometheus text 0.0.4 (text/plain; version=0.0.4)
  kOpenMetrics,  // OpenMetrics 1.0 (application/openmetrics-text; version=1.0.0)
};

// The format a Content-Type names; text 0.0.4 for anything else, as Prometheus falls back.
ExpositionFormat FormatFromContentType(std::string_view content_type);
// For bodies read from files: OpenMetrics when the last line is "# EOF", else text 0.0.4.
ExpositionFormat SniffFormat(std::string_view body);

enum class MetricType {
  kUnknown,  // "untyped" in text 0.0.4
  kCounter,
  kGauge,
  kHistogram,
  kGaugeHistogram,
  kSummary,
  kInfo,
  kStateSet,
};
std::string_view MetricTypeName(MetricType type);

// Views into the parsed body; valid while the body is. Escaped text stays escaped (see Unescape).
struct ExpositionLabel {
  std::string_view name;
  std::string_view value;  // raw, as written between the quotes
  bool escaped = false;    // value holds a backslash escape
};

struct ExpositionFamily {
  std::string_view name;
  MetricType type = MetricType::kUnknown;
  std::string_view help;  // raw; HELP escapes (\\, \n, and in OpenMetrics \") intact
  std::string_view unit;  // OpenMetrics only
};

struct Exemplar {
  std::span<const ExpositionLabel> labels;
  double value = 0;
  std::optional<double> timestamp;  // seconds
};

struct ExpositionSample {
  std::string_view name;  // the whole sample name: "http_requests_total", "x_bucket"
  std::span<const ExpositionLabel> labels;
  double value = 0;
  std::optional<std::int64_t> timestamp_ms;
  std::optional<Exemplar> exemplar;  // OpenMetrics only
  std::uint32_t line = 0;            // 1-based
};

// What the parser calls, in body order. Samples of one family come between its OnFamily and the
// next. Calls happen on the parsing thread; the views die when the call returns unless the body
// outlives them (they point into it or into the parser's scratch).
class ExpositionVisitor {
 public:
  virtual ~ExpositionVisitor() = default;
  virtual void OnFamily(const ExpositionFamily& family) = 0;
  // Return false to stop parsing (Parse then returns the error "stopped").
  virtual bool OnSample(const ExpositionFamily& family, const ExpositionSample& sample) = 0;
};

// Parses `body` in `format` without copying it. On the first malformed line, stops and returns
// "line N: expected ..., got ...". Never throws, never reads past the body. Samples before the
// bad line have been visited: callers that need all-or-nothing (the scraper does) must buffer.
core::Status ParseExposition(std::string_view body, ExpositionFormat format,
                             ExpositionVisitor& visitor);

// Resolves \\, \" and \n in a label value or HELP text.
std::string Unescape(std::string_view raw);

// An exposition read whole into owned values: for `obsgate metrics-dump` and tests, where
// convenience beats speed.
struct ParsedSample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;  // unescaped, in written order
  double value = 0;
  std::optional<std::int64_t> timestamp_ms;
  std::optional<double> exemplar_value;
  std::vector<std::pair<std::string, std::string>> exemplar_labels;
};
struct ParsedFamily {
  std::string name;
  MetricType type = MetricType::kUnknown;
  std::string help;  // unescaped
  std::string unit;
  std::vector<ParsedSample> samples;
};
struct ParsedExposition {
  std::vector<ParsedFamily> families;
  std::size_t sample_count = 0;
};
core::Result<ParsedExposition> ParseExpositionToValues(std::string_view body,
                                                       ExpositionFormat format);

// A number as Prometheus writes it: integers plainly, others shortest round-trip, NaN, +Inf, -Inf.
std::string FormatValue(double v);

}  // namespace obsgate::ingest
