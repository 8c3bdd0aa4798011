#include "rules/window_store.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace obsgate::rules {
namespace {

using core::Counts;

std::uint32_t Low(std::uint64_t v) { return static_cast<std::uint32_t>(v); }

std::uint32_t LowOf(const Counts& c, std::size_t i) {
  switch (i) {
    case 0:
      return Low(c.requests);
    case 1:
      return Low(c.errors);
    case 2:
      return Low(c.log_lines);
    default:
      return Low(c.error_lines);
  }
}

// A snapshot block's 32-bit base of counter k: its bytes, in the block's first words.
std::uint32_t BaseOf(const std::uint16_t* block, std::size_t k) {
  std::uint32_t base;
  std::memcpy(&base, block + 2 * k, sizeof base);
  return base;
}

void SetBase(std::uint16_t* block, std::size_t k, std::uint32_t base) {
  std::memcpy(block + 2 * k, &base, sizeof base);
}

// (snapshot every, covering) in resolutions; the last tier used stretches to the horizon.
constexpr std::int64_t kTierTable[][2] = {{1, 10},
                                          {10, 60},
                                          {60, 900},
                                          {300, 3600},
                                          {900, 6 * 3600},
                                          {3600, 24 * 3600},
                                          {6 * 3600, 7 * 24 * 3600}};

}  // namespace

std::optional<double> WindowCounts::ErrorRate() const {
  if (requests <= 0) return std::nullopt;
  return errors / requests;
}

std::optional<double> WindowCounts::LogErrorRatio() const {
  if (log_lines <= 0) return std::nullopt;
  return error_lines / log_lines;
}

WindowStore::WindowStore(WindowOptions options, const core::Clock& clock)
    : options_(options), clock_(clock) {
  std::int64_t horizon =
      std::max<std::int64_t>(1, (options_.horizon.count() + options_.resolution.count() - 1) /
                                    options_.resolution.count());
  std::size_t offset = 0;
  for (std::size_t i = 0; i < std::size(kTierTable); ++i) {
    std::int64_t every = kTierTable[i][0];
    std::int64_t cover = kTierTable[i][1];
    bool last = cover >= horizon || i + 1 == std::size(kTierTable);
    if (last) cover = horizon;
    Tier t{every, (cover + every - 1) / every + 1, offset};
    offset += static_cast<std::size_t>(t.slots) * kCounters;
    tiers_.push_back(t);
    if (last) break;
  }
  values_ = offset;
  block_ = kBaseWords + values_;
  last_tick_ = TickOf(clock_.Now());
}

std::int64_t WindowStore::TickOf(core::TimePoint t) const {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::int64_t res = options_.resolution.count();
  return ms >= 0 ? ms / res : -((-ms + res - 1) / res);
}

core::TimePoint WindowStore::TimeOf(std::int64_t tick) const {
  return core::TimePoint(
      std::chrono::duration_cast<core::TimePoint::duration>(options_.resolution * tick));
}

std::string WindowStore::DeploymentId(const std::string& ns, const std::string& deployment) {
  std::string id = ns;
  id.push_back('\0');
  id += deployment;
  return id;
}

void WindowStore::Merge(core::LocalCounts& local) {
  if (local.empty()) return;
  core::TimePoint now = clock_.Now();
  std::lock_guard lock(mu_);
  local.Drain([&](const core::SeriesKey& key, const Counts& counts) {
    Series& s = series_[Resolve(key)];
    s.total += counts;
    s.last_seen = now;
  });
}

void WindowStore::MergeAt(core::LocalCounts& local, core::TimePoint at) {
  if (local.empty()) return;
  std::lock_guard lock(mu_);
  // A count merged at `at` is in the first snapshot taken after it.
  const std::int64_t from = TickOf(at) + 1;
  local.Drain([&](const core::SeriesKey& key, const Counts& counts) {
    std::uint32_t index = Resolve(key);
    Series& s = series_[index];
    bool fresh = s.total == Counts{};
    s.total += counts;
    s.last_seen = fresh ? at : std::max(s.last_seen, at);
    if (at < s.first_seen) {
      s.first_seen = at;
      for (VersionInfo& v : s.deployment->versions) {
        if (v.version == s.key->version) v.first_seen = std::min(v.first_seen, at);
      }
    }
    if (from <= last_tick_) BackdateLocked(index, from, counts);
  });
}

void WindowStore::BackdateLocked(std::uint32_t index, std::int64_t from, const Counts& c) {
  Series& s = series_[index];
  for (const Tier& tier : tiers_) {
    const std::int64_t newest = last_tick_ / tier.every * tier.every;
    const std::int64_t oldest = newest - (tier.slots - 1) * tier.every;
    std::int64_t first = std::max(oldest, (from + tier.every - 1) / tier.every * tier.every);
    for (std::int64_t k = first; k <= newest; k += tier.every) {
      // Zeros before its birth, whatever the slot holds (a former occupant's snapshot).
      Values v = Stored(s, Block(index), tier, k);
      for (std::size_t i = 0; i < kCounters; ++i) v[i] += LowOf(c, i);
      Snapshot(index, tier, k, v);
    }
  }
  s.birth_tick = std::min(s.birth_tick, from);
}

std::size_t WindowStore::Forget(
    const std::vector<std::pair<std::string, std::string>>& deployments) {
  std::lock_guard lock(mu_);
  std::vector<const DeploymentVersions*> leaving;
  for (const auto& [ns, deployment] : deployments) {
    auto it = versions_.find(DeploymentId(ns, deployment));
    if (it != versions_.end()) leaving.push_back(&it->second);
  }
  if (leaving.empty()) return 0;
  std::sort(leaving.begin(), leaving.end());
  std::size_t forgotten = 0;
  // A deployment's version list names its newest versions only; its series name it.
  for (std::uint32_t i = 0; i < series_.size(); ++i) {
    if (!series_[i].live() ||
        !std::binary_search(leaving.begin(), leaving.end(), series_[i].deployment)) {
      continue;
    }
    EvictLocked(i);
    ++forgotten;
  }
  return forgotten;
}

void WindowStore::SetVersionResolver(VersionResolver resolver) {
  std::lock_guard lock(mu_);
  resolver_ = std::move(resolver);
  resolved_.clear();
}

std::uint32_t WindowStore::Resolve(const core::SeriesKey& key) {
  if (!resolver_) return FindOrCreate(key);
  auto it = resolved_.find(key);
  if (it == resolved_.end()) {
    std::optional<ResolvedVersion> r = resolver_(key);
    // Unmapped keys are asked again next time: the orchestrator may learn of them later.
    if (!r || r->version.empty()) return FindOrCreate(key);
    it = resolved_
             .emplace(key, std::pair{core::SeriesKey{key.ns, key.deployment, r->version}, r->since})
             .first;
  }
  std::uint32_t index = FindOrCreate(it->second.first);
  core::TimePoint since = it->second.second;
  Series& s = series_[index];
  if (since != core::TimePoint{} && since < s.first_seen) {
    s.first_seen = since;
    DeploymentVersions& d = *s.deployment;
    for (VersionInfo& v : d.versions) {
      if (v.version == it->second.first.version) v.first_seen = std::min(v.first_seen, since);
    }
  }
  return index;
}

std::uint32_t WindowStore::FindOrCreate(const core::SeriesKey& wanted) {
  if (auto it = index_.find(wanted); it != index_.end()) return it->second;
  const core::SeriesKey* key = &wanted;
  core::SeriesKey overflow{"", kOverflowDeployment, ""};
  if (index_.size() >= options_.max_series) {
    ++overflowed_;
    if (auto it = index_.find(overflow); it != index_.end()) return it->second;
    key = &overflow;  // one series more than the cap, so nothing is lost
  }
  std::uint32_t idx;
  if (!free_.empty()) {
    idx = free_.back();
    free_.pop_back();
  } else {
    idx = static_cast<std::uint32_t>(series_.size());
    if (idx / kChunkSeries >= snapshots_.size()) {
      // Not zeroed here: each slot is, whenever it is taken, so untouched pages cost no memory.
      snapshots_.emplace_back(new std::uint16_t[kChunkSeries * block_]);
    }
    series_.emplace_back();
  }
  // Zero bases and steps: before its birth a series' totals were zero, so every snapshot holds a
  // value it could have had, and the smallest of them is a base the next step can rise from.
  std::fill_n(Block(idx), block_, std::uint16_t{0});
  auto [it, inserted] = index_.emplace(*key, idx);
  Series& s = series_[idx];
  s = Series{};
  s.key = &it->first;
  s.birth_tick = last_tick_ + 1;
  s.first_seen = s.last_seen = clock_.Now();
  NoteVersion(it->first, idx);
  return idx;
}

void WindowStore::EvictLocked(std::uint32_t index) {
  Series& s = series_[index];
  DeploymentVersions& dv = *s.deployment;
  for (std::uint32_t& v : dv.series) {
    if (v == index) v = kNoSeries;
  }
  if (--dv.live_series == 0) versions_.erase(DeploymentId(s.key->ns, s.key->deployment));
  index_.erase(*s.key);
  s = Series{};
  free_.push_back(index);
}

void WindowStore::NoteVersion(const core::SeriesKey& key, std::uint32_t index) {
  DeploymentVersions& d = versions_[DeploymentId(key.ns, key.deployment)];
  series_[index].deployment = &d;
  ++d.live_series;
  for (std::size_t i = 0; i < d.versions.size(); ++i) {
    if (d.versions[i].version == key.version) {
      d.series[i] = index;
      return;
    }
  }
  d.versions.push_back(VersionInfo{key.version, clock_.Now()});
  d.series.push_back(index);
  if (d.versions.size() > options_.max_versions) {
    d.versions.erase(d.versions.begin());
    d.series.erase(d.series.begin());
  }
}

std::size_t WindowStore::At(const Tier& tier, std::int64_t tick) {
  return tier.offset + static_cast<std::size_t>((tick / tier.every) % tier.slots) * kCounters;
}

void WindowStore::Snapshot(std::uint32_t index, const Tier& tier, std::int64_t tick,
                           const Values& v) {
  Series& s = series_[index];
  const std::size_t at = At(tier, tick);
  std::uint16_t* block = Block(index);
  for (std::size_t k = 0; k < kCounters; ++k) {
    std::uint32_t step = v[k] - BaseOf(block, k);
    if (step > 0xFFFF && !s.high) {
      Rebase(block, at / kCounters, k);
      step = v[k] - BaseOf(block, k);
      if (step > 0xFFFF) Widen(s);
    }
    block[kBaseWords + at + k] = static_cast<std::uint16_t>(step);
    if (s.high) s.high[at + k] = static_cast<std::uint16_t>(step >> 16);
  }
}

void WindowStore::Rebase(std::uint16_t* block, std::size_t skip, std::size_t k) const {
  std::uint16_t* steps = block + kBaseWords;
  std::uint16_t least = 0xFFFF;
  for (std::size_t i = 0; i < values_ / kCounters; ++i) {
    if (i != skip) least = std::min(least, steps[i * kCounters + k]);
  }
  for (std::size_t i = 0; i < values_ / kCounters; ++i) {
    // The skipped snapshot is about to be overwritten; what it holds meanwhile is never read.
    steps[i * kCounters + k] = i == skip ? 0 : steps[i * kCounters + k] - least;
  }
  SetBase(block, k, BaseOf(block, k) + least);
}

void WindowStore::Widen(Series& s) const { s.high.reset(new std::uint16_t[values_]()); }

inline WindowStore::Values WindowStore::Stored(const Series& s, const std::uint16_t* block,
                                               const Tier& tier, std::int64_t tick) {
  Values v{};
  if (tick < s.birth_tick) return v;
  const std::size_t at = At(tier, tick);
  // The four bases and the four steps, each loaded at once.
  std::uint32_t base[kCounters];
  std::uint16_t step[kCounters];
  std::memcpy(base, block, sizeof base);
  std::memcpy(step, block + kBaseWords + at, sizeof step);
  if (s.high) [[unlikely]] {
    for (std::size_t k = 0; k < kCounters; ++k) {
      v[k] = base[k] + (step[k] | std::uint32_t{s.high[at + k]} << 16);
    }
    return v;
  }
  for (std::size_t k = 0; k < kCounters; ++k) v[k] = base[k] + step[k];
  return v;
}

void WindowStore::Tick() {
  core::TimePoint now = clock_.Now();
  std::int64_t tick = TickOf(now);
  std::lock_guard lock(mu_);
  if (tick <= last_tick_) return;
  const std::int64_t prev = last_tick_;
  for (std::uint32_t i = 0; i < series_.size(); ++i) {
    Series& s = series_[i];
    if (!s.live()) continue;
    if (now - s.last_seen >= options_.idle_ttl) {
      EvictLocked(i);
      ++evicted_;
      continue;
    }
    // Totals at the previous tick: what every tick skipped since (a stalled process) records.
    const Values before = Stored(s, Block(i), tiers_[0], prev);
    const Values total = {LowOf(s.total, 0), LowOf(s.total, 1), LowOf(s.total, 2),
                          LowOf(s.total, 3)};
    for (const Tier& tier : tiers_) {
      std::int64_t first = (prev / tier.every + 1) * tier.every;
      std::int64_t last = (tick / tier.every) * tier.every;
      if (first > last) continue;
      first = std::max(first, last - (tier.slots - 1) * tier.every);
      for (std::int64_t k = first; k <= last; k += tier.every) {
        Snapshot(i, tier, k, k == tick ? total : before);
      }
    }
  }
  last_tick_ = tick;
}

// How much each counter grew from tick `t` (fractional, in the past) to the last tick.
void WindowStore::SinceLocked(std::uint32_t index, double t, double out[kCounters]) const {
  const Series& s = series_[index];
  const std::int64_t now = last_tick_;
  const std::uint16_t* block = Block(index);
  const Values at_now = Stored(s, block, tiers_[0], now);
  if (t < static_cast<double>(s.birth_tick)) {
    for (std::size_t k = 0; k < kCounters; ++k) out[k] = at_now[k];
    return;
  }
  if (t >= static_cast<double>(now)) {
    for (std::size_t k = 0; k < kCounters; ++k) out[k] = 0;
    return;
  }
  // The finest tier that still holds a snapshot at or before t.
  const std::int64_t whole = static_cast<std::int64_t>(std::floor(t));
  const Tier* tier = &tiers_.back();
  std::int64_t a = 0;
  for (const Tier& tr : tiers_) {
    std::int64_t newest = now - now % tr.every;
    std::int64_t candidate = whole - ((whole % tr.every) + tr.every) % tr.every;
    if (newest - candidate <= (tr.slots - 1) * tr.every) {
      tier = &tr;
      a = candidate;
      break;
    }
    a = newest - (tr.slots - 1) * tr.every;  // beyond the horizon: clamp to the oldest
  }
  t = std::max(t, static_cast<double>(a));
  // The total was 0 just before birth: a sharper lower bracket than a coarse snapshot.
  a = std::max(a, s.birth_tick - 1);
  std::int64_t b = a + tier->every;
  const Tier* tier_b = tier;
  if (b > now) {
    b = now;
    tier_b = &tiers_[0];
  }
  double frac = b > a ? (t - static_cast<double>(a)) / static_cast<double>(b - a) : 0;
  const Values va = Stored(s, block, *tier, a);
  const Values vb = frac > 0 ? Stored(s, block, *tier_b, b) : va;
  for (std::size_t k = 0; k < kCounters; ++k) {
    out[k] = static_cast<double>(static_cast<std::uint32_t>(at_now[k] - va[k])) -
             frac * static_cast<double>(static_cast<std::uint32_t>(vb[k] - va[k]));
  }
}

WindowCounts WindowStore::WindowLocked(std::uint32_t index, core::Duration window,
                                       core::Duration ago) const {
  WindowCounts out;
  if (last_tick_ < series_[index].birth_tick) return out;  // not in any window yet
  const double res = static_cast<double>(options_.resolution.count());
  const double end = static_cast<double>(last_tick_) - static_cast<double>(ago.count()) / res;
  const double start = end - static_cast<double>(window.count()) / res;
  double from_start[kCounters], from_end[kCounters];
  SinceLocked(index, start, from_start);
  SinceLocked(index, end, from_end);
  out.requests = from_start[0] - from_end[0];
  out.errors = from_start[1] - from_end[1];
  out.log_lines = from_start[2] - from_end[2];
  out.error_lines = from_start[3] - from_end[3];
  return out;
}

WindowCounts WindowStore::SeriesRef::Window(core::Duration window) const {
  return store_->WindowLocked(index_, std::min(window, store_->options_.horizon), {});
}
WindowCounts WindowStore::SeriesRef::WindowEndingAgo(core::Duration window,
                                                     core::Duration ago) const {
  ago = std::min(ago, store_->options_.horizon);
  return store_->WindowLocked(index_, std::min(window, store_->options_.horizon - ago), ago);
}
std::optional<core::Duration> WindowStore::SeriesRef::Idle() const {
  auto idle = std::chrono::duration_cast<core::Duration>(store_->TimeOf(store_->last_tick_) -
                                                         store_->series_[index_].last_seen);
  // Counts are stored at the end of the tick they arrive in, and a window ending mid-tick takes
  // that tick's counts in proportion: ending at the moment of the last counts would take almost
  // none of a burst that came early in its tick. Whole ticks, so the window ends after them.
  const core::Duration::rep res = store_->options_.resolution.count();
  if (idle.count() <= 0) return core::Duration(0);
  return core::Duration((idle.count() - 1) / res * res);
}
std::optional<core::Duration> WindowStore::SeriesRef::Age() const {
  auto age = store_->TimeOf(store_->last_tick_) - store_->series_[index_].first_seen;
  return std::chrono::duration_cast<core::Duration>(std::max(age, decltype(age){}));
}
core::Duration WindowStore::SeriesRef::Exact(core::Duration window) const {
  const std::int64_t now = store_->last_tick_;
  const std::int64_t res = store_->options_.resolution.count();
  const std::int64_t w = std::min(window, store_->options_.horizon).count() / res;
  const std::int64_t start = now - w;
  for (const Tier& t : store_->tiers_) {
    std::int64_t newest = (now / t.every) * t.every;
    std::int64_t floor = start >= 0 ? start / t.every * t.every : start;
    if (newest - floor <= (t.slots - 1) * t.every) {
      std::int64_t aligned = (start + t.every - 1) / t.every * t.every;
      return core::Duration((now - std::min(aligned, now)) * res);
    }
  }
  return window;
}

std::optional<WindowStore::SeriesRef> WindowStore::SeriesRef::Baseline() const {
  // By index, without building keys: rule evaluation asks this for every series on every tick.
  const Series& self = store_->series_[index_];
  const DeploymentVersions& d = *self.deployment;
  for (std::size_t i = 1; i < d.series.size(); ++i) {
    if (d.series[i] != index_) continue;
    if (d.series[i - 1] == kNoSeries) return std::nullopt;
    return SeriesRef(*store_, d.series[i - 1]);
  }
  return std::nullopt;
}
const core::SeriesKey& WindowStore::SeriesRef::key() const { return *store_->series_[index_].key; }
core::Counts WindowStore::SeriesRef::total() const { return store_->series_[index_].total; }
core::TimePoint WindowStore::SeriesRef::first_seen() const {
  return store_->series_[index_].first_seen;
}
core::TimePoint WindowStore::SeriesRef::last_seen() const {
  return store_->series_[index_].last_seen;
}

core::TimePoint WindowStore::LastTick() const {
  std::lock_guard lock(mu_);
  return TimeOf(last_tick_);
}

void WindowStore::ForEach(const std::function<void(const SeriesRef&)>& fn) const {
  std::lock_guard lock(mu_);
  for (std::uint32_t i = 0; i < series_.size(); ++i) {
    if (series_[i].live()) fn(SeriesRef(*this, i));
  }
}

std::optional<WindowCounts> WindowStore::Window(const core::SeriesKey& key,
                                                core::Duration window) const {
  std::lock_guard lock(mu_);
  auto it = index_.find(key);
  if (it == index_.end()) return std::nullopt;
  return WindowLocked(it->second, std::min(window, options_.horizon), {});
}

std::optional<core::Counts> WindowStore::Total(const core::SeriesKey& key) const {
  std::lock_guard lock(mu_);
  auto it = index_.find(key);
  if (it == index_.end()) return std::nullopt;
  return series_[it->second].total;
}

std::vector<VersionInfo> WindowStore::Versions(const std::string& ns,
                                               const std::string& deployment) const {
  std::lock_guard lock(mu_);
  auto it = versions_.find(DeploymentId(ns, deployment));
  if (it == versions_.end()) return {};
  return it->second.versions;
}

std::optional<std::string> WindowStore::Baseline(const core::SeriesKey& key) const {
  std::lock_guard lock(mu_);
  auto it = versions_.find(DeploymentId(key.ns, key.deployment));
  if (it == versions_.end()) return std::nullopt;
  const auto& v = it->second.versions;
  for (std::size_t i = 1; i < v.size(); ++i) {
    if (v[i].version == key.version) return v[i - 1].version;
  }
  return std::nullopt;
}

std::size_t WindowStore::size() const {
  std::lock_guard lock(mu_);
  return index_.size();
}

std::uint64_t WindowStore::overflowed_series() const {
  std::lock_guard lock(mu_);
  return overflowed_;
}

std::uint64_t WindowStore::evicted_series() const {
  std::lock_guard lock(mu_);
  return evicted_;
}

std::size_t WindowStore::MemoryBytes() const {
  std::lock_guard lock(mu_);
  std::size_t bytes = snapshots_.size() * kChunkSeries * block_ * sizeof(std::uint16_t) +
                      series_.size() * sizeof(Series) + index_.bucket_count() * sizeof(void*);
  for (const Series& s : series_) {
    if (s.high) bytes += values_ * sizeof(std::uint16_t);
  }
  // An unordered_map node: next pointer, the pair, the cached hash.
  constexpr std::size_t kNode =
      sizeof(void*) + sizeof(std::pair<core::SeriesKey, std::uint32_t>) + sizeof(std::size_t);
  for (const auto& [key, idx] : index_) {
    bytes += kNode;
    for (const std::string* s : {&key.ns, &key.deployment, &key.version}) {
      if (s->capacity() > 15) bytes += s->capacity() + 1;
    }
  }
  return bytes;
}

}  // namespace obsgate::rules
