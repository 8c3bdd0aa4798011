#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/config.hpp"
#include "core/counts.hpp"
#include "core/result.hpp"
#include "ingest/scrape/exposition.hpp"

namespace re2 {
class RE2;
}

namespace obsgate::ingest {

// A PromQL series selector, name{label="v", label!="v", label=~"re", label!~"re"}; regexes are
// anchored, as in PromQL, and run with RE2. Immutable once built: thread-safe.
class SeriesSelector {
 public:
  static core::Result<SeriesSelector> Parse(std::string_view text);
  SeriesSelector(SeriesSelector&&) noexcept;
  SeriesSelector& operator=(SeriesSelector&&) noexcept;
  ~SeriesSelector();

  bool Matches(std::string_view name, std::span<const ExpositionLabel> labels) const;

 private:
  struct Matcher;
  SeriesSelector();
  std::string name_;
  std::vector<Matcher> matchers_;
};

// What one scrape gave, for the self-metrics.
struct ScrapeOutcome {
  bool ok = false;
  std::string reason;  // failure label: "parse", "sample_limit"
  std::string error;
  std::uint64_t samples = 0;
};

// Turns successive scrapes of one target into request and error increases per series, with
// Prometheus's counter-reset rule. Owned by the target's scraping thread.
class TargetCounter {
 public:
  TargetCounter(const core::ScrapeSourceConfig& config,
                std::map<std::string, std::string> target_labels,
                std::shared_ptr<const SeriesSelector> requests,
                std::shared_ptr<const SeriesSelector> errors);

  // Parses one body whole; on success adds the increases since the last good scrape to `out`.
  // A failed scrape (bad body, too many samples) counts nothing and keeps the previous values.
  ScrapeOutcome Apply(std::string_view body, ExpositionFormat format, core::LocalCounts& out);

 private:
  struct Last {
    double value = 0;
    std::uint64_t generation = 0;
  };
  std::uint64_t sample_limit_;
  bool honor_labels_;
  core::StaticLabels label_names_;
  std::map<std::string, std::string> target_labels_;
  std::shared_ptr<const SeriesSelector> requests_;
  std::shared_ptr<const SeriesSelector> errors_;
  // Keyed by sample name and labels as written, which is stable for one target.
  std::unordered_map<std::string, Last> last_requests_;
  std::unordered_map<std::string, Last> last_errors_;
  std::uint64_t generation_ = 0;  // good scrapes so far
};

}  // namespace obsgate::ingest
