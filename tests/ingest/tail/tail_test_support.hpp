#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "core/counts.hpp"
#include "ingest/source.hpp"

namespace obsgate::ingest::testing {

// Sums everything delivered, per deployment and in total. Thread-safe.
class SummingSink final : public RecordSink {
 public:
  void Deliver(std::string_view, core::LocalCounts& counts, const IngestStats& stats) override {
    std::lock_guard lock(mu_);
    counts.Drain([&](const core::SeriesKey& key, const core::Counts& c) {
      total_ += c;
      by_deployment_[key.deployment] += c;
    });
    stats_ += stats;
  }
  core::Counts Total() const {
    std::lock_guard lock(mu_);
    return total_;
  }
  core::Counts Of(const std::string& deployment) const {
    std::lock_guard lock(mu_);
    auto it = by_deployment_.find(deployment);
    return it == by_deployment_.end() ? core::Counts{} : it->second;
  }
  IngestStats Stats() const {
    std::lock_guard lock(mu_);
    return stats_;
  }

 private:
  mutable std::mutex mu_;
  core::Counts total_;
  std::map<std::string, core::Counts> by_deployment_;
  IngestStats stats_;
};

// Polls `done` until it holds; deadlines are generous because the machine may be busy.
inline bool WaitUntil(const std::function<bool()>& done,
                      std::chrono::milliseconds deadline = std::chrono::seconds(30)) {
  auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

// Appends with O_APPEND, as a logging process would.
inline void Append(const std::string& path, std::string_view text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  ::close(fd);
}

// `ok` request lines with status 200 and `failed` with 500, of deployment `app`.
inline std::string Requests(int ok, int failed, std::string_view app = "svc") {
  std::string out;
  for (int i = 0; i < ok; ++i) out += "{\"app\":\"" + std::string(app) + "\",\"status\":200}\n";
  for (int i = 0; i < failed; ++i) {
    out += "{\"app\":\"" + std::string(app) + "\",\"status\":500}\n";
  }
  return out;
}

// The value of one counter or gauge series in `registry`; -1 when it is not there.
inline double MetricValue(prometheus::Registry& registry, const std::string& name,
                          const std::map<std::string, std::string>& labels) {
  for (const auto& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const auto& m : family.metric) {
      std::map<std::string, std::string> have;
      for (const auto& l : m.label) have[l.name] = l.value;
      bool match = true;
      for (const auto& [k, v] : labels) match = match && have[k] == v;
      if (!match) continue;
      return family.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
    }
  }
  return -1;
}

}  // namespace obsgate::ingest::testing
