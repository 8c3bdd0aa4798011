#include "app/deployments_api.hpp"

#include "core/json.hpp"
#include "core/time.hpp"

namespace obsgate::app {
namespace {}  // namespace

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
      const std::pair<const char*, std::optional<double>> fields[] = {
          {"requests", w.requests},           {"errors", w.errors},
          {"error_rate", w.ErrorRate()},      {"log_lines", w.log_lines},
          {"log_error_lines", w.error_lines}, {"log_error_ratio", w.LogErrorRatio()}};
      out += "\":{";
      for (std::size_t f = 0; f < std::size(fields); ++f) {
        out += (f ? ",\"" : "\"") + std::string(fields[f].first) +
               "\":" + core::JsonNumber(fields[f].second);
      }
      out += '}';
    }
    out += "}}";
  });
  out += "]}\n";
  return out;
}

}  // namespace obsgate::app
