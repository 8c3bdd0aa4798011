#include "app/deployments_api.hpp"

#include "core/json.hpp"
#include "core/time.hpp"
#include "rules/expr.hpp"

namespace obsgate::app {
namespace {

constexpr int kHistoryBuckets = 15;
constexpr core::Duration kHistoryBucket = std::chrono::minutes(1);

// The rules' own comparison, so the page shows the p-value a rule would act on. The threshold
// does not matter: only the recorded measurements are read.
const rules::Expression& Comparison() {
  static const rules::Expression e = *rules::Expression::Compile("worse_than_baseline(5m, 0.01)");
  return e;
}

std::optional<double> Measured(const rules::Evaluation& ev, std::string_view name) {
  for (const rules::Measurement& m : ev.measurements) {
    if (m.name == name) return m.value;
  }
  return std::nullopt;
}

}  // namespace

std::string DeploymentsJson(const rules::WindowStore& store, const ingest::Handovers& handovers) {
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
    out += '}';
    if (auto h = handovers.find({k.ns, k.deployment}); h != handovers.end()) {
      out += ",\"handover\":{\"share\":" + core::JsonQuote(h->second.share) + ",\"at\":\"" +
             core::FormatRfc3339(h->second.at) + "\",\"windows\":\"" +
             (h->second.rebuilt ? "rebuilt from the log" : "start empty at the handover") + "\"}";
    }
    out += '}';
  });
  out += "]}\n";
  return out;
}

std::string DeploymentHistoryJson(const rules::WindowStore& store) {
  std::string out =
      "{\"status\":\"success\",\"data\":{\"end\":\"" + core::FormatRfc3339(store.LastTick()) +
      "\",\"bucket_seconds\":" + std::to_string(kHistoryBucket.count() / 1000) + ",\"series\":[";
  bool first = true;
  store.ForEach([&](const rules::WindowStore::SeriesRef& s) {
    const core::SeriesKey& k = s.key();
    std::string requests, errors;
    for (int i = kHistoryBuckets - 1; i >= 0; --i) {
      rules::WindowCounts w = s.WindowEndingAgo(kHistoryBucket, i * kHistoryBucket);
      requests += core::JsonNumber(w.requests) + (i ? "," : "");
      errors += core::JsonNumber(w.errors) + (i ? "," : "");
    }
    std::string baseline = "null";
    if (std::optional<rules::WindowStore::SeriesRef> b = s.Baseline()) {
      rules::Evaluation ev = Comparison().Evaluate(s, &*b, /*record=*/true);
      baseline = "{\"version\":" + core::JsonQuote(b->key().version) +
                 ",\"window\":\"5m\",\"error_rate\":" +
                 core::JsonNumber(Measured(ev, "baseline.error_rate(5m)")) +
                 ",\"requests\":" + core::JsonNumber(Measured(ev, "baseline.requests(5m)")) +
                 ",\"p_value\":" + core::JsonNumber(Measured(ev, "p_value(5m, 0.01)")) + "}";
    }
    out += std::string(first ? "" : ",") + "{\"namespace\":" + core::JsonQuote(k.ns) +
           ",\"deployment\":" + core::JsonQuote(k.deployment) +
           ",\"version\":" + core::JsonQuote(k.version) + ",\"requests\":[" + requests +
           "],\"errors\":[" + errors + "],\"baseline\":" + baseline + "}";
    first = false;
  });
  return out + "]}}\n";
}

}  // namespace obsgate::app
