#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/series.hpp"

namespace obsgate::core {

// What is counted for every series: requests with an HTTP status, those that failed, log lines,
// and log lines that report an error.
struct Counts {
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;
  std::uint64_t log_lines = 0;
  std::uint64_t error_lines = 0;

  Counts& operator+=(const Counts& o) {
    requests += o.requests;
    errors += o.errors;
    log_lines += o.log_lines;
    error_lines += o.error_lines;
    return *this;
  }
  Counts& operator-=(const Counts& o) {
    requests -= o.requests;
    errors -= o.errors;
    log_lines -= o.log_lines;
    error_lines -= o.error_lines;
    return *this;
  }
  bool operator==(const Counts&) const = default;
};

// Counts gathered by one ingest thread between two merges into the window store, so the hot path
// takes no lock. Owned by one thread.
class LocalCounts {
 public:
  // The counts of (ns, deployment, version); consecutive lines of one stream hit a cache.
  Counts& At(std::string_view ns, std::string_view deployment, std::string_view version) {
    // The same series as the line before, compared part by part without packing the key.
    if (last_ != nullptr && ns == last_parts_[0] && deployment == last_parts_[1] &&
        version == last_parts_[2]) {
      return *last_;
    }
    scratch_.clear();
    Pack(ns);
    Pack(deployment);
    Pack(version);
    if (last_ != nullptr && scratch_ == last_key_) return *last_;
    auto it = map_.find(std::string_view(scratch_));
    if (it == map_.end()) it = map_.emplace(scratch_, Counts{}).first;
    last_key_ = scratch_;
    std::string_view packed = last_key_;
    for (std::string_view& part : last_parts_) part = Unpacked(packed);
    last_ = &it->second;
    return it->second;
  }

  // The counts At returned last, null after a Drain. Each series keeps its address until Drain,
  // so it names the series too.
  const Counts* last() const { return last_; }
  // The namespace and deployment of the series At returned last; empty after a Drain.
  std::string_view last_ns() const { return last_parts_[0]; }
  std::string_view last_deployment() const { return last_parts_[1]; }

  bool empty() const { return map_.empty(); }
  std::size_t size() const { return map_.size(); }

  // Calls f(const SeriesKey&, const Counts&) for each series, then forgets them all.
  template <typename F>
  void Drain(F&& f) {
    SeriesKey key;
    for (const auto& [packed, counts] : map_) {
      std::string_view p = packed;
      Unpack(p, key.ns);
      Unpack(p, key.deployment);
      Unpack(p, key.version);
      f(static_cast<const SeriesKey&>(key), counts);
    }
    map_.clear();
    last_ = nullptr;
    last_key_.clear();
    last_parts_ = {};
  }

 private:
  // Length-prefixed, so any bytes may appear in a label; a label is at most 64 KiB - 1.
  void Pack(std::string_view s) {
    std::size_t n = s.size() < 0xFFFF ? s.size() : 0xFFFF;
    scratch_.push_back(static_cast<char>(n >> 8));
    scratch_.push_back(static_cast<char>(n & 0xFF));
    scratch_.append(s.substr(0, n));
  }
  // The next part of a packed key, viewed; `p` moves past it.
  static std::string_view Unpacked(std::string_view& p) {
    std::size_t n = (static_cast<unsigned char>(p[0]) << 8) | static_cast<unsigned char>(p[1]);
    std::string_view part = p.substr(2, n);
    p.remove_prefix(2 + n);
    return part;
  }
  static void Unpack(std::string_view& p, std::string& out) { out.assign(Unpacked(p)); }

  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>()(s);
    }
  };
  std::unordered_map<std::string, Counts, Hash, std::equal_to<>> map_;
  std::string scratch_;
  std::string last_key_;
  std::array<std::string_view, 3> last_parts_;  // ns, deployment, version, viewing last_key_
  Counts* last_ = nullptr;
};

}  // namespace obsgate::core
