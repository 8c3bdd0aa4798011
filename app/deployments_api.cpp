#include "app/deployments_api.hpp"

#include <charconv>
#include <cmath>

#include "core/json.hpp"
#include "core/time.hpp"

namespace obsgate::app {
namespace {

void AppendNumber(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  char buf[32];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, p);
}

void AppendRate(std::string& out, std::optional<double> v) {
  if (v) {
    AppendNumber(out, *v);
  } else {
    out += "null";
  }
}

}  // namespace

std::string DeploymentsJson(const rules::WindowStore& store) {
  using namespace std::chrono_literals;
  std::string out = "{\"status\":\"success\",\"data\":[";
  bool first = true;
  store.ForEach([&](const rules::WindowStore::SeriesRef& s) {
    if (!first) out += ',';
    first = false;
    const core::SeriesKey& k = s.key();
    core::Counts t = s.total();
    out += "{\"namespace\":" + core::JsonQuote(k.ns) +
           ",\"deployment\":" + core::JsonQuote(k.deployment) +
           ",\"version\":" + core::JsonQuote(k.version) + ",\"first_seen\":\"" +
           core::FormatRfc3339(s.first_seen()) + "\",\"last_seen\":\"" +
           core::FormatRfc3339(s.last_seen()) +
           "\",\"total\":{\"requests\":" + std::to_string(t.requests) +
           ",\"errors\":" + std::to_string(t.errors) +
           ",\"log_lines\":" + std::to_string(t.log_lines) +
           ",\"log_error_lines\":" + std::to_string(t.error_lines) + "},\"windows\":{";
    const std::pair<const char*, core::Duration> windows[] = {
        {"1m", 1min}, {"5m", 5min}, {"15m", 15min}};
    for (std::size_t i = 0; i < std::size(windows); ++i) {
      rules::WindowCounts w = s.Window(windows[i].second);
      out += i ? ",\"" : "\"";
      out += windows[i].first;
      out += "\":{\"requests\":";
      AppendNumber(out, w.requests);
      out += ",\"errors\":";
      AppendNumber(out, w.errors);
      out += ",\"error_rate\":";
      AppendRate(out, w.ErrorRate());
      out += ",\"log_lines\":";
      AppendNumber(out, w.log_lines);
      out += ",\"log_error_lines\":";
      AppendNumber(out, w.error_lines);
      out += ",\"log_error_ratio\":";
      AppendRate(out, w.LogErrorRatio());
      out += '}';
    }
    out += "}}";
  });
  out += "]}\n";
  return out;
}

}  // namespace obsgate::app
