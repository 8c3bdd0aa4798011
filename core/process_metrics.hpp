#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <vector>

namespace obsgate::core {

// The process_* metrics as the Go client names them, read from /proc on each scrape.
// Thread-safe: it keeps no state but the boot time read once.
class ProcessMetrics final : public prometheus::Collectable {
 public:
  ProcessMetrics();
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  double boot_time_seconds_ = 0;
  double ticks_per_second_ = 100;
  double page_size_ = 4096;
};

}  // namespace obsgate::core
