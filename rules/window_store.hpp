#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/clock.hpp"
#include "core/counts.hpp"
#include "core/series.hpp"
#include "core/units.hpp"

namespace obsgate::rules {

struct WindowOptions {
  core::Duration resolution = std::chrono::seconds(1);
  core::Duration horizon = std::chrono::hours(1);  // the longest window a rule may ask for
  std::size_t max_series = 200'000;
  core::Duration idle_ttl = std::chrono::hours(1);  // no new counts this long: forgotten
  std::size_t max_versions = 16;                    // versions remembered per deployment
};

// Sums over a window. Fractional only where a window edge falls inside a coarse bucket of an old
// part of the window; windows up to 10 resolutions long are exact.
struct WindowCounts {
  double requests = 0;
  double errors = 0;
  double log_lines = 0;
  double error_lines = 0;

  // errors / requests, or nullopt ("no data") when there were no requests.
  std::optional<double> ErrorRate() const;
  std::optional<double> LogErrorRatio() const;
};

// What an expression reads of one series. Implemented by the store's series and by tests.
class SeriesData {
 public:
  virtual ~SeriesData() = default;
  virtual WindowCounts Window(core::Duration window) const = 0;
  // Time since this version was first seen; nullopt when unknown.
  virtual std::optional<core::Duration> Age() const = 0;
  // The longest window up to `window` whose sum is exact (it starts on a stored snapshot), so
  // two series compared over it are compared over the very same seconds.
  virtual core::Duration Exact(core::Duration window) const { return window; }
  // The window that ended `ago` before now: a version no longer serving is judged by its last
  // traffic.
  virtual WindowCounts WindowEndingAgo(core::Duration window, core::Duration ago) const = 0;
  // Time since counts last arrived, in whole ticks back to the end of the tick that holds them
  // (for WindowEndingAgo); nullopt when unknown.
  virtual std::optional<core::Duration> Idle() const = 0;
};

struct VersionInfo {
  std::string version;
  core::TimePoint first_seen;
};

// What the orchestrator says a version seen in logs really is: Kubernetes log paths carry the
// pod-template-hash, the orchestrator knows it as image tag v2, rolled out at `since`.
struct ResolvedVersion {
  std::string version;
  core::TimePoint since;  // when the rollout began; the epoch when unknown
};
using VersionResolver = std::function<std::optional<ResolvedVersion>(const core::SeriesKey&)>;

// Rolling counts per series: cumulative totals, plus snapshots of them at tick times kept in
// tiers (1s for 10s, 10s for 1m, 1m for 15m, 5m for 1h, then coarser), so a window sum is the
// total now minus the total at its start, interpolated inside one bucket. About 47 snapshots per
// series for a one-hour horizon: 8 bytes each while the series' counts grow by less than 2^16
// over the horizon, 8 more each once they do. Thread-safe: one mutex, taken once per Merge
// (ingest threads, once per batch) and once per Tick (the rule thread); never per line.
class WindowStore {
 public:
  WindowStore(WindowOptions options, const core::Clock& clock);

  // Adds what an ingest thread counted and clears it.
  void Merge(core::LocalCounts& local);
  // Adds counts that happened at `at`, in the past (records replayed from a log), and clears
  // them: every window reaching back to `at` includes them, as if they had been merged then, and
  // a version first seen then is as old as that. Older than the horizon: in the totals only.
  void MergeAt(core::LocalCounts& local, core::TimePoint at);
  // Forgets every series of these deployments (ns, deployment), as if they had gone idle: their
  // records now go to another replica. Returns how many series were forgotten.
  std::size_t Forget(const std::vector<std::pair<std::string, std::string>>& deployments);
  // Consulted for each key the store has not resolved yet: a key it maps is counted under the
  // version it names, and that version's age counts from the rollout. Set before ingest starts.
  void SetVersionResolver(VersionResolver resolver);
  // Records the totals at the clock's current time and forgets idle series.
  void Tick();

  // A series as rule evaluation sees it, valid during ForEach only.
  class SeriesRef final : public SeriesData {
   public:
    WindowCounts Window(core::Duration window) const override;
    std::optional<core::Duration> Age() const override;
    core::Duration Exact(core::Duration window) const override;
    WindowCounts WindowEndingAgo(core::Duration window, core::Duration ago) const override;
    std::optional<core::Duration> Idle() const override;
    // The series of the version first seen before this one, if the store holds it.
    std::optional<SeriesRef> Baseline() const;
    const core::SeriesKey& key() const;
    // Stable while the series lives; reused after it is evicted.
    std::uint32_t id() const { return index_; }
    core::Counts total() const;
    core::TimePoint first_seen() const;
    core::TimePoint last_seen() const;

   private:
    friend class WindowStore;
    SeriesRef(const WindowStore& store, std::uint32_t index) : store_(&store), index_(index) {}
    const WindowStore* store_;
    std::uint32_t index_;
  };
  // Visits every series under the lock; fn must not call back into the store.
  void ForEach(const std::function<void(const SeriesRef&)>& fn) const;

  // Sums over the window ending at the last tick; nullopt for an unknown series.
  std::optional<WindowCounts> Window(const core::SeriesKey& key, core::Duration window) const;
  std::optional<core::Counts> Total(const core::SeriesKey& key) const;
  // Versions of a deployment in the order they were first seen, oldest first.
  std::vector<VersionInfo> Versions(const std::string& ns, const std::string& deployment) const;
  // The version first seen just before key.version: what a new release is compared with.
  std::optional<std::string> Baseline(const core::SeriesKey& key) const;

  // The time of the last tick: "now" for every window.
  core::TimePoint LastTick() const;
  std::size_t size() const;
  std::uint64_t overflowed_series() const;  // new series refused because of max_series
  std::uint64_t evicted_series() const;
  // Bytes held for series (snapshots, totals, keys, index), for capacity planning.
  std::size_t MemoryBytes() const;
  const WindowOptions& options() const { return options_; }

 private:
  struct Tier {
    std::int64_t every = 1;  // in ticks
    std::int64_t slots = 0;
    std::size_t offset = 0;  // first value of this tier within a series' snapshots
  };
  static constexpr std::size_t kCounters = 4;
  using Values = std::array<std::uint32_t, kCounters>;
  struct DeploymentVersions;
  struct Series {
    const core::SeriesKey* key = nullptr;      // points at the index's key
    DeploymentVersions* deployment = nullptr;  // its entry in versions_ (nodes do not move)
    core::Counts total;
    std::int64_t birth_tick = 0;  // the first tick whose snapshot includes its counts
    core::TimePoint first_seen;
    core::TimePoint last_seen;  // when counts last arrived
    // The high halves of its steps, once a 16-bit step could not hold one; null before.
    std::unique_ptr<std::uint16_t[]> high;
    // A slot in use has a key; an evicted one is reset to Series{}. No flag of its own: 8 bytes
    // less per series.
    bool live() const { return key != nullptr; }
  };

  std::uint32_t FindOrCreate(const core::SeriesKey& key);
  void EvictLocked(std::uint32_t index);
  // Adds `c` to every snapshot from tick `from` on, taking the series' birth back to it.
  void BackdateLocked(std::uint32_t index, std::int64_t from, const core::Counts& c);
  std::uint32_t Resolve(const core::SeriesKey& key);
  // Where the snapshot of `tick` starts within a series' values.
  static std::size_t At(const Tier& tier, std::int64_t tick);
  void Snapshot(std::uint32_t index, const Tier& tier, std::int64_t tick, const Values& v);
  // The totals (low 32 bits) snapshotted at `tick`, or zeros before the series was born; `block`
  // is the series' own. Inline, defined in the .cpp that alone calls it: a window reads up to 6.
  static inline Values Stored(const Series& s, const std::uint16_t* block, const Tier& tier,
                              std::int64_t tick);
  // Moves counter k's base up to the smallest step of every snapshot but `skip`.
  void Rebase(std::uint16_t* block, std::size_t skip, std::size_t k) const;
  // Gives s 32-bit steps: high halves, all zero, beside the block's low ones.
  void Widen(Series& s) const;
  WindowCounts WindowLocked(std::uint32_t index, core::Duration window, core::Duration ago) const;
  void SinceLocked(std::uint32_t index, double tick, double out[kCounters]) const;
  void NoteVersion(const core::SeriesKey& key, std::uint32_t index);
  std::int64_t TickOf(core::TimePoint t) const;
  core::TimePoint TimeOf(std::int64_t tick) const;

  const WindowOptions options_;
  const core::Clock& clock_;
  std::vector<Tier> tiers_;
  std::size_t values_ = 0;  // snapshots times counters, per series
  std::size_t block_ = 0;   // uint16 words per series: the bases, then a step per value

  mutable std::mutex mu_;
  std::int64_t last_tick_ = 0;
  std::unordered_map<core::SeriesKey, std::uint32_t, core::SeriesKeyHash> index_;
  VersionResolver resolver_;
  // Keys the resolver mapped, to the key they are counted under and the rollout time.
  std::unordered_map<core::SeriesKey, std::pair<core::SeriesKey, core::TimePoint>,
                     core::SeriesKeyHash>
      resolved_;
  // Series and their snapshots (block_ words per series slot) live in chunks of kChunkSeries
  // slots: growing never copies them, nor leaves a freed slab behind for the heap to keep. A block
  // is kCounters 32-bit bases, two words each, then per value its 16-bit step above the base.
  static constexpr std::size_t kChunkSeries = 4096;
  static constexpr std::size_t kBaseWords = 2 * kCounters;
  std::deque<Series> series_;
  std::vector<std::uint32_t> free_;
  std::vector<std::unique_ptr<std::uint16_t[]>> snapshots_;
  std::uint16_t* Block(std::uint32_t index) const {
    return snapshots_[index / kChunkSeries].get() + (index % kChunkSeries) * block_;
  }
  static constexpr std::uint32_t kNoSeries = 0xFFFFFFFF;
  struct DeploymentVersions {
    std::vector<VersionInfo> versions;
    std::vector<std::uint32_t> series;  // per version, its series index or kNoSeries
    std::size_t live_series = 0;
  };
  static std::string DeploymentId(const std::string& ns, const std::string& deployment);
  std::unordered_map<std::string, DeploymentVersions> versions_;  // key: ns + '\0' + deployment
  std::uint64_t overflowed_ = 0;
  std::uint64_t evicted_ = 0;
};

// Where counts go when max_series is reached: still counted, in one series of this name.
inline constexpr const char* kOverflowDeployment = "overflow";

}  // namespace obsgate::rules
