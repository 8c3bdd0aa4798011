#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
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
  // A matched series as the good scrapes saw it. `seen` is 1 + the good scrape that last had it (0:
  // none yet); a series whose `seen` is not the previous scrape's is absent, as if forgotten.
  struct Last {
    double value = 0;
    std::uint64_t seen = 0;
    // The value from the previous good scrape while this one has seen the series already: a body
    // may repeat a line, and each repeat counts against the previous scrape.
    double before = 0;
    bool had_before = false;
  };
  // Hashes a key once per lookup (std::hash over the bytes); not noexcept, so libstdc++ keeps each
  // node's hash and neither a lookup walking a bucket nor a rehash hashes a stored key again.
  struct KeyHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view key) const;
  };
  // Where a matched sample counts; views into the body, target_labels_ or unescaped_.
  struct Matched {
    Last* last;         // null: a series new to the map, its key in fresh_keys_[fresh]
    std::size_t fresh;  // index into fresh_keys_ when `last` is null
    std::string_view ns, deployment, version;
    double value;
    bool request, error;
  };
  // One of the series labels (namespace, deployment, version): its name and the target's value.
  struct SeriesLabel {
    std::string name;  // empty: not configured, always "unknown"
    std::optional<std::string> from_target;
  };
  std::string_view Label(const SeriesLabel& label, std::span<const ExpositionLabel> labels);
  double Increase(Last& last, double value) const;

  std::uint64_t sample_limit_;
  bool honor_labels_;
  SeriesLabel ns_, deployment_, version_;
  std::shared_ptr<const SeriesSelector> requests_;
  std::shared_ptr<const SeriesSelector> errors_;
  // Every series matched in the last good scrape (and some older, until swept), keyed by the sample
  // name and labels as written ("name\0label=value..."), which is stable for one target. Kept
  // across scrapes so a steady target allocates nothing.
  std::unordered_map<std::string, Last, KeyHash, std::equal_to<>> series_;
  std::uint64_t generation_ = 0;  // good scrapes so far
  // Scratch for one Apply, kept for their capacity.
  std::string key_;
  std::vector<Matched> matched_;
  std::vector<std::string> fresh_keys_;
  std::deque<std::string> unescaped_;  // a deque: views into it stay valid as it grows
};

}  // namespace obsgate::ingest
