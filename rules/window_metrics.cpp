#include "rules/window_metrics.hpp"

namespace obsgate::rules {
namespace {

prometheus::MetricFamily Family(const char* name, const char* help, prometheus::MetricType type) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  return f;
}

void AddValue(prometheus::MetricFamily& f, std::vector<prometheus::ClientMetric::Label> labels,
              double value) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  if (f.type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(std::move(m));
}

}  // namespace

std::vector<prometheus::MetricFamily> WindowMetrics::Collect() const {
  using prometheus::MetricType;
  auto requests = Family("obsgate_requests_total",
                         "Requests with an HTTP status seen in logs and scrapes, per series.",
                         MetricType::Counter);
  auto errors = Family("obsgate_errors_total",
                       "Requests whose status counts as an error (5xx by default), per series.",
                       MetricType::Counter);
  auto lines =
      Family("obsgate_log_lines_total", "Log lines counted, per series.", MetricType::Counter);
  auto error_lines = Family("obsgate_log_error_lines_total",
                            "Log lines at error level or matching an error pattern, per series.",
                            MetricType::Counter);
  store_.ForEach([&](const WindowStore::SeriesRef& s) {
    const core::SeriesKey& k = s.key();
    std::vector<prometheus::ClientMetric::Label> labels = {
        {"namespace", k.ns}, {"deployment", k.deployment}, {"version", k.version}};
    core::Counts t = s.total();
    AddValue(requests, labels, static_cast<double>(t.requests));
    AddValue(errors, labels, static_cast<double>(t.errors));
    AddValue(lines, labels, static_cast<double>(t.log_lines));
    AddValue(error_lines, labels, static_cast<double>(t.error_lines));
  });
  auto series = Family("obsgate_series", "Series held in the window store.", MetricType::Gauge);
  AddValue(series, {}, static_cast<double>(store_.size()));
  auto evicted =
      Family("obsgate_series_evicted_total",
             "Series forgotten after being idle for the configured time.", MetricType::Counter);
  AddValue(evicted, {}, static_cast<double>(store_.evicted_series()));
  auto overflow = Family("obsgate_series_overflow_total",
                         "New series counted in the overflow series because the cap was reached.",
                         MetricType::Counter);
  AddValue(overflow, {}, static_cast<double>(store_.overflowed_series()));
  return {std::move(requests), std::move(errors),  std::move(lines),   std::move(error_lines),
          std::move(series),   std::move(evicted), std::move(overflow)};
}

}  // namespace obsgate::rules
