#pragma once

#include <memory>
#include <string>

#include "core/config.hpp"
#include "core/result.hpp"
#include "ingest/source.hpp"

namespace prometheus {
class Registry;
}

namespace obsgate::ingest {

// Scrapes the /metrics endpoints of `config` (static targets and file_sd files, re-read when they
// change) every interval, each target at a stable offset within the interval, and delivers the
// request and error increases of the selected counters to the sink per series. Self-metrics per
// target (obsgate_scrape_up, _duration_seconds, _samples_scraped, _failures_total{reason}) are
// registered in `registry`, which must outlive the source. Fails when a selector does not compile
// or a static target's URL or the CA file cannot be used.
core::Result<std::unique_ptr<Source>> MakeScrapeSource(std::string name,
                                                       const core::ScrapeSourceConfig& config,
                                                       prometheus::Registry& registry);

// The Accept header Prometheus sends: OpenMetrics first, then text 0.0.4.
inline constexpr const char* kScrapeAccept =
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

}  // namespace obsgate::ingest
