#pragma once

#include <deque>
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
#include "core/series.hpp"
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
  // False when no sample of this name can match, whatever its labels.
  bool MatchesName(std::string_view name) const { return name_.empty() || name == name_; }

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

// A matched series as the good scrapes saw it. `seen` is 1 + the good scrape that last had it (0:
// none yet); a series whose `seen` is not the previous scrape's is absent, as if forgotten.
struct SeriesReading {
  // What the selectors and series labels make of the series: its key decides them, so they are
  // worked out when it is added, not on every scrape. `destination` indexes TargetCounter's.
  bool request = false;
  bool error = false;
  std::uint32_t destination = 0;
  double value = 0;
  std::uint64_t seen = 0;
  // The value from the previous good scrape while this one has seen the series already: a body may
  // repeat a line, and each repeat counts against the previous scrape.
  double before = 0;
  bool had_before = false;
};

// The series of one target by key (the sample name and labels, see TargetCounter::Key), for
// TargetCounter. Found by a 64-bit hash and confirmed by comparing the whole key, so two series
// never share an entry. A target writes its series in the same order every scrape, so a lookup
// first compares the entry after the last one found: most lookups then read memory in order, not at
// random, and hash nothing. Owned by the target's scraping thread.
class SeriesTable {
 public:
  static constexpr std::uint32_t kAbsent = ~std::uint32_t{0};

  // The entry's index, or kAbsent. Indexes stay valid until Retain.
  std::uint32_t Find(std::string_view key);
  std::uint32_t FindOrAdd(std::string_view key);
  SeriesReading& operator[](std::uint32_t i) { return entries_[i].reading; }
  std::size_t size() const { return entries_.size(); }
  void Reserve(std::size_t series);
  // Drops the entries whose reading `keep` refuses, keeping the others in order.
  template <typename Keep>
  void Retain(Keep&& keep) {
    std::erase_if(entries_, [&](const Entry& e) { return !keep(e.reading); });
    Rebuild(slots_.size());
  }

 private:
  struct Entry {
    std::uint64_t hash;
    std::string key;
    SeriesReading reading;
  };
  static std::uint64_t Hash(std::string_view key);
  std::uint32_t Probe(std::string_view key, std::uint64_t hash);
  void Place(std::uint32_t i);
  void Rebuild(std::size_t slots);

  std::vector<Entry> entries_;  // in the order they were added
  // Open addressing with linear probing, a power of two at most half full: 0 is empty, otherwise
  // the hash's upper 32 bits and entry index + 1.
  std::vector<std::uint64_t> slots_;
  std::uint32_t next_ = 0;  // the entry after the last one found
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
  // A matched sample. Only a series new to the table (series == kAbsent, its key in
  // fresh_keys_[fresh]) needs the rest: views into the body, target_labels_ or unescaped_.
  struct Matched {
    std::uint32_t series;
    std::uint32_t fresh;
    double value;
    std::string_view ns, deployment, version;
    bool request, error;
  };
  // One of the series labels (namespace, deployment, version): its name and the target's value.
  struct SeriesLabel {
    std::string name;  // empty: not configured, always "unknown"
    std::optional<std::string> from_target;
  };
  std::string_view Key(const ExpositionSample& sample, std::string_view body);
  std::string_view Label(const SeriesLabel& label, std::span<const ExpositionLabel> labels);
  std::uint32_t Destination(std::string_view ns, std::string_view deployment,
                            std::string_view version);
  void ForgetUnusedDestinations();
  double Increase(SeriesReading& last, double value) const;

  std::uint64_t sample_limit_;
  bool honor_labels_;
  SeriesLabel ns_, deployment_, version_;
  std::shared_ptr<const SeriesSelector> requests_;
  std::shared_ptr<const SeriesSelector> errors_;
  // Every series matched in the last good scrape. Kept across scrapes so a steady target allocates
  // nothing.
  SeriesTable series_;
  // The (namespace, deployment, version) of those series, each once, so a scrape looks each up in
  // its LocalCounts once rather than once per sample.
  std::vector<core::SeriesKey> destinations_;
  std::unordered_map<core::SeriesKey, std::uint32_t, core::SeriesKeyHash> destination_index_;
  std::uint64_t generation_ = 0;  // good scrapes so far
  // Scratch for one Apply, kept for their capacity.
  std::string key_;
  std::vector<Matched> matched_;
  std::vector<std::string> fresh_keys_;
  // By destination: its entry in this Apply's LocalCounts, or null until a sample needs it.
  std::vector<core::Counts*> destination_counts_;
  std::deque<std::string> unescaped_;  // a deque: views into it stay valid as it grows
};

}  // namespace obsgate::ingest
