#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <vector>

#include "rules/window_store.hpp"

namespace obsgate::rules {

// Exposes the window store on /metrics: obsgate_requests_total, obsgate_errors_total,
// obsgate_log_lines_total and obsgate_log_error_lines_total per {namespace,deployment,version},
// and the store's own size, evictions and overflow. Thread-safe: reads the store under its lock.
class WindowMetrics final : public prometheus::Collectable {
 public:
  explicit WindowMetrics(const WindowStore& store) : store_(store) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const WindowStore& store_;
};

}  // namespace obsgate::rules
