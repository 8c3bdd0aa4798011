#include "ingest/scrape/scrape_source.hpp"

#include <glob.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include "core/log.hpp"
#include "ingest/scrape/file_sd.hpp"
#include "ingest/scrape/scrape_target.hpp"
#include "net/http_client.hpp"

namespace obsgate::ingest {
namespace {

using net::HttpClient;
using net::HttpClientOptions;
using net::HttpFetch;

using Steady = std::chrono::steady_clock;

// Every target's obsgate_scrape_failures_total starts at 0 for these, so rate() and alerts see
// the first failure: the HTTP client's reasons, then TargetCounter's.
constexpr std::array<const char*, 8> kReasons = {
    "timeout", "connect", "tls", "http_status", "body_too_large", "read", "parse", "sample_limit"};
// Scrapes run on at most this many threads; a target waits for one only when this many targets
// are slow at the same moment (each waits at most `timeout`).
constexpr std::size_t kMaxWorkers = 16;
// The scheduler sleeps at most this long, so nothing it computes can overflow a wait.
constexpr auto kLongestSleep = std::chrono::hours(1);

// FNV-1a: the same for a URL in every run and process, so a restart keeps targets spread.
std::uint64_t StableHash(std::string_view s) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// A target is its URL and labels: a label change makes a new target with a new baseline, as in
// Prometheus.
std::string TargetKey(const core::ScrapeTargetConfig& t) {
  std::string key = t.url;
  for (const auto& [name, value] : t.labels) {
    key += '\0';
    key += name;
    key += '=';
    key += value;
  }
  return key;
}

struct FileStamp {
  ino_t inode = 0;
  off_t size = 0;
  std::int64_t mtime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};

std::vector<std::string> Glob(const std::string& pattern) {
  std::vector<std::string> out;
  glob_t g{};
  if (glob(pattern.c_str(), GLOB_NOSORT, nullptr, &g) == 0) {
    for (std::size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
  }
  globfree(&g);
  std::sort(out.begin(), out.end());
  return out;
}

// The self-metrics of one URL, shared by the targets that have it (a removed target whose scrape
// is still running and its successor). `refs` is guarded by the source's mutex; the metrics are
// thread-safe.
struct TargetMetrics {
  int refs = 0;
  prometheus::Gauge* up = nullptr;
  prometheus::Gauge* duration = nullptr;
  prometheus::Gauge* samples = nullptr;
  std::map<std::string, prometheus::Counter*, std::less<>> failures;
};

// One target being scraped. `counter`, the use of `client` and `was_up` belong to the worker
// scraping it (while `busy`); the other fields are guarded by the source's mutex, but
// `client->Cancel()` may be called by anyone.
struct Target {
  Target(const core::ScrapeSourceConfig& source, core::ScrapeTargetConfig target,
         std::shared_ptr<const SeriesSelector> requests,
         std::shared_ptr<const SeriesSelector> errors)
      : config(std::move(target)),
        counter(source, config.labels, std::move(requests), std::move(errors)) {}

  core::ScrapeTargetConfig config;
  std::unique_ptr<HttpClient> client;
  TargetCounter counter;
  TargetMetrics* metrics = nullptr;
  Steady::time_point next;
  bool busy = false;  // queued or being scraped
  bool removed = false;
  bool was_up = true;  // only so that changes are logged once
};

// Scrapes on a pool of worker threads fed by one scheduler thread. Start and Stop from one
// controlling thread; everything shared is guarded by mu_.
class ScrapeSource final : public Source {
 public:
  ScrapeSource(std::string name, const core::ScrapeSourceConfig& config,
               prometheus::Registry& registry, std::shared_ptr<const SeriesSelector> requests,
               std::shared_ptr<const SeriesSelector> errors)
      : name_(std::move(name)),
        config_(config),
        requests_(std::move(requests)),
        errors_(std::move(errors)),
        up_(prometheus::BuildGauge()
                .Name("obsgate_scrape_up")
                .Help("1 when the target's last scrape succeeded, 0 when it failed.")
                .Register(registry)),
        duration_(prometheus::BuildGauge()
                      .Name("obsgate_scrape_duration_seconds")
                      .Help("How long the target's last scrape took: fetch, parse and count.")
                      .Register(registry)),
        samples_(prometheus::BuildGauge()
                     .Name("obsgate_scrape_samples_scraped")
                     .Help("Samples the target exposed in its last scrape; 0 when none arrived.")
                     .Register(registry)),
        failures_(prometheus::BuildCounter()
                      .Name("obsgate_scrape_failures_total")
                      .Help("Failed scrapes of the target, per reason.")
                      .Register(registry)) {
    client_options_.timeout = config.timeout;
    client_options_.ca_file = config.ca_file;
    client_options_.insecure_skip_verify = config.insecure_skip_verify;
    client_options_.bearer_token = config.bearer_token;
    client_options_.username = config.username;
    client_options_.password = config.password;
    client_options_.accept = kScrapeAccept;
    // Prometheus tells targets how long it will wait, so slow exporters can cut work short.
    client_options_.headers.emplace_back(
        "X-Prometheus-Scrape-Timeout-Seconds",
        std::to_string(static_cast<double>(config.timeout.count()) / 1000.0));
  }

  ~ScrapeSource() override { Stop(); }

  // Refuses static targets the client cannot use (a bad URL, an unreadable CA file).
  core::Status Check() const {
    for (const core::ScrapeTargetConfig& t : config_.targets) {
      auto client = HttpClient::Create(t.url, client_options_);
      if (!client) return core::Error{"target " + t.url + ": " + client.error()};
    }
    return core::Ok{};
  }

  core::Status Start(RecordSink& sink) override {
    std::lock_guard lock(mu_);
    if (started_) return core::Ok{};
    started_ = true;
    sink_ = &sink;
    std::optional<std::vector<core::ScrapeTargetConfig>> desired = RefreshFileSd(true);
    Reconcile(*desired);
    next_refresh_ = Steady::now() + config_.file_sd_refresh;
    scheduler_ = std::thread([this] { Schedule(); });
    return core::Ok{};
  }

  void Stop() override {
    {
      std::lock_guard lock(mu_);
      if (!started_ || stopping_) return;
      stopping_ = true;
      // Scrapes in flight end now rather than at their timeout.
      for (auto& [key, t] : targets_) {
        if (t->busy) t->client->Cancel();
      }
    }
    wake_.notify_all();
    work_.notify_all();
    if (scheduler_.joinable()) scheduler_.join();
    // The scheduler, the only other thread that adds workers, has ended.
    for (std::thread& w : workers_) w.join();
    workers_.clear();
  }

  const std::string& name() const override { return name_; }

 private:
  // Hands due targets to the workers and re-reads file_sd files; owns files_.
  void Schedule() {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      Steady::time_point now = Steady::now();
      if (!config_.file_sd.empty() && now >= next_refresh_) {
        lock.unlock();
        std::optional<std::vector<core::ScrapeTargetConfig>> desired = RefreshFileSd(false);
        lock.lock();
        if (stopping_) break;
        if (desired) Reconcile(*desired);
        next_refresh_ = Steady::now() + config_.file_sd_refresh;
        continue;
      }
      Steady::time_point wake = now + kLongestSleep;
      if (!config_.file_sd.empty()) wake = std::min(wake, next_refresh_);
      for (auto& [key, t] : targets_) {
        if (t->next <= now) {
          // A target whose last scrape still runs (only when every worker is busy with a slow
          // one) skips this slot, as Prometheus never overlaps scrapes of one target.
          if (!t->busy) {
            t->busy = true;
            queue_.push_back(t);
            work_.notify_one();
          }
          while (t->next <= now) t->next += config_.interval;
        }
        wake = std::min(wake, t->next);
      }
      wake_.wait_until(lock, wake, [this] { return stopping_; });
    }
  }

  void Work() {
    std::unique_lock lock(mu_);
    for (;;) {
      work_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      std::shared_ptr<Target> t = std::move(queue_.front());
      queue_.pop_front();
      if (!t->removed) {
        lock.unlock();
        Scrape(*t);
        lock.lock();
      }
      t->busy = false;
      if (t->removed) ReleaseMetrics(*t);
    }
  }

  // One scrape of `t`, by the worker that holds it.
  void Scrape(Target& t) {
    Steady::time_point start = Steady::now();
    HttpFetch fetch = t.client->Get();
    if (fetch.reason == "cancelled") return;  // stopping, or the target went: nothing to say
    core::LocalCounts counts;
    ScrapeOutcome outcome;
    if (fetch.ok) {
      outcome = t.counter.Apply(fetch.body, FormatFromContentType(fetch.content_type), counts);
      t.client->Reuse(std::move(fetch.body));  // the next scrape reads into the same memory
    } else {
      outcome.reason = fetch.reason;
      outcome.error = fetch.error;
    }
    double seconds = std::chrono::duration<double>(Steady::now() - start).count();
    if (outcome.ok) {
      IngestStats stats;
      stats.bytes = fetch.wire_bytes;
      sink_->Deliver(name_, counts, stats);
    }
    TargetMetrics& m = *t.metrics;
    m.up->Set(outcome.ok ? 1 : 0);
    m.duration->Set(seconds);
    m.samples->Set(static_cast<double>(outcome.samples));
    if (!outcome.ok) Failure(m, t.config.url, outcome.reason).Increment();
    if (outcome.ok != t.was_up) {
      if (outcome.ok) {
        log::Info("scrape target is up again", {{"source", name_}, {"target", t.config.url}});
      } else {
        log::Warn("scrape failed; counting nothing from the target until it answers",
                  {{"source", name_},
                   {"target", t.config.url},
                   {"reason", outcome.reason},
                   {"error", outcome.error}});
      }
      t.was_up = outcome.ok;
    }
  }

  prometheus::Counter& Failure(TargetMetrics& m, const std::string& url, std::string_view reason) {
    std::lock_guard lock(mu_);
    auto [it, added] = m.failures.try_emplace(std::string(reason), nullptr);
    if (added) {  // a reason the client learnt after kReasons was written
      it->second = &failures_.Add({{"source", name_}, {"target", url}, {"reason", it->first}});
    }
    return *it->second;
  }

  // Reads the file_sd files that changed since the last call (all when `force`); returns every
  // target the source should have when anything changed. Called by the scheduler (or by Start
  // before it runs); owns files_.
  std::optional<std::vector<core::ScrapeTargetConfig>> RefreshFileSd(bool force) {
    bool changed = force;
    std::map<std::string, FileState> seen;
    for (const std::string& pattern : config_.file_sd) {
      for (const std::string& path : Glob(pattern)) {
        struct stat st {};
        if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
        FileStamp stamp{
            st.st_ino, st.st_size,
            static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
        auto old = files_.find(path);
        if (old != files_.end() && old->second.stamp == stamp) {
          seen.emplace(path, std::move(old->second));
          continue;
        }
        changed = true;
        FileState state;
        state.stamp = stamp;
        if (old != files_.end()) state.targets = std::move(old->second.targets);
        std::ifstream in(path, std::ios::binary);
        std::ostringstream text;
        text << in.rdbuf();
        auto parsed = in ? ParseFileSd(text.str(), config_.scheme, config_.metrics_path)
                         : core::Error{"cannot read the file; check its permissions"};
        if (parsed) {
          state.targets = std::move(parsed).value();
          log::Info("file_sd read",
                    {{"source", name_}, {"file", path}, {"targets", state.targets.size()}});
        } else {
          log::Warn("cannot use a file_sd file; keeping its previous targets",
                    {{"source", name_}, {"file", path}, {"error", parsed.error()}});
        }
        seen.emplace(path, std::move(state));
      }
    }
    if (seen.size() != files_.size()) changed = true;  // a file went away
    files_ = std::move(seen);
    if (!changed) return std::nullopt;
    std::vector<core::ScrapeTargetConfig> desired = config_.targets;
    for (const auto& [path, state] : files_) {
      desired.insert(desired.end(), state.targets.begin(), state.targets.end());
    }
    return desired;
  }

  // Makes targets_ what `desired` says: new targets are created with their first scrape at
  // their offset, and gone ones dropped with their counters. Under mu_.
  void Reconcile(const std::vector<core::ScrapeTargetConfig>& desired) {
    std::map<std::string, const core::ScrapeTargetConfig*> want;
    for (const core::ScrapeTargetConfig& t : desired) want.emplace(TargetKey(t), &t);
    for (auto it = targets_.begin(); it != targets_.end();) {
      if (want.contains(it->first)) {
        ++it;
        continue;
      }
      Target& t = *it->second;
      t.removed = true;
      log::Info("scrape target removed; its series end",
                {{"source", name_}, {"target", t.config.url}});
      if (t.busy) {
        t.client->Cancel();  // the worker releases the metrics when it lets go
      } else {
        ReleaseMetrics(t);
      }
      it = targets_.erase(it);
    }
    for (const auto& [key, config] : want) {
      if (targets_.contains(key)) continue;
      auto client = HttpClient::Create(config->url, client_options_);
      if (!client) {
        log::Warn("cannot scrape a discovered target",
                  {{"source", name_}, {"target", config->url}, {"error", client.error()}});
        continue;
      }
      auto t = std::make_shared<Target>(config_, *config, requests_, errors_);
      t->client = std::move(client).value();
      t->metrics = &AcquireMetrics(config->url);
      t->next = FirstScrape(config->url);
      targets_.emplace(key, std::move(t));
    }
    std::size_t want_workers = std::min(kMaxWorkers, targets_.size());
    while (workers_.size() < want_workers) workers_.emplace_back([this] { Work(); });
  }

  // Like Prometheus, a target is scraped when wall-clock time modulo the interval reaches a
  // stable hash of it, so targets spread over the interval and keep their slot across restarts.
  Steady::time_point FirstScrape(std::string_view url) const {
    auto interval = std::chrono::duration_cast<std::chrono::nanoseconds>(config_.interval).count();
    std::uint64_t period = static_cast<std::uint64_t>(std::max<std::int64_t>(interval, 1));
    std::uint64_t phase = StableHash(url) % period;
    std::uint64_t now =
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count());
    std::uint64_t wait = (phase + period - now % period) % period;
    return Steady::now() + std::chrono::nanoseconds(wait);
  }

  // Under mu_.
  TargetMetrics& AcquireMetrics(const std::string& url) {
    TargetMetrics& m = metrics_[url];
    if (m.refs++ == 0) {
      prometheus::Labels labels{{"source", name_}, {"target", url}};
      m.up = &up_.Add(labels);
      m.duration = &duration_.Add(labels);
      m.samples = &samples_.Add(labels);
      for (const char* reason : kReasons) {
        labels["reason"] = reason;
        m.failures[reason] = &failures_.Add(labels);
      }
    }
    return m;
  }

  // Under mu_. The last target of a URL takes its self-metrics along, so /metrics shows only
  // targets that exist, as Prometheus's up does.
  void ReleaseMetrics(Target& t) {
    if (t.metrics == nullptr) return;
    TargetMetrics& m = *std::exchange(t.metrics, nullptr);
    if (--m.refs > 0) return;
    up_.Remove(m.up);
    duration_.Remove(m.duration);
    samples_.Remove(m.samples);
    for (auto& [reason, counter] : m.failures) failures_.Remove(counter);
    metrics_.erase(t.config.url);
  }

  struct FileState {
    FileStamp stamp;
    std::vector<core::ScrapeTargetConfig> targets;  // the last good read
  };

  const std::string name_;
  const core::ScrapeSourceConfig config_;
  const std::shared_ptr<const SeriesSelector> requests_;
  const std::shared_ptr<const SeriesSelector> errors_;
  HttpClientOptions client_options_;
  prometheus::Family<prometheus::Gauge>& up_;
  prometheus::Family<prometheus::Gauge>& duration_;
  prometheus::Family<prometheus::Gauge>& samples_;
  prometheus::Family<prometheus::Counter>& failures_;

  std::mutex mu_;
  std::condition_variable wake_;  // the scheduler: stopping
  std::condition_variable work_;  // workers: queue_ or stopping
  bool started_ = false;
  bool stopping_ = false;
  RecordSink* sink_ = nullptr;
  std::map<std::string, std::shared_ptr<Target>> targets_;  // by TargetKey
  std::map<std::string, TargetMetrics> metrics_;            // by URL; nodes never move
  std::deque<std::shared_ptr<Target>> queue_;
  std::thread scheduler_;
  std::vector<std::thread> workers_;
  Steady::time_point next_refresh_;

  std::map<std::string, FileState> files_;  // owned by the scheduler
};

}  // namespace

core::Result<std::unique_ptr<Source>> MakeScrapeSource(std::string name,
                                                       const core::ScrapeSourceConfig& config,
                                                       prometheus::Registry& registry) {
  auto requests = SeriesSelector::Parse(config.requests);
  if (!requests) return core::Error{"requests: " + requests.error()};
  auto errors = SeriesSelector::Parse(config.errors);
  if (!errors) return core::Error{"errors: " + errors.error()};
  auto source = std::make_unique<ScrapeSource>(
      std::move(name), config, registry,
      std::make_shared<const SeriesSelector>(std::move(requests).value()),
      std::make_shared<const SeriesSelector>(std::move(errors).value()));
  if (core::Status s = source->Check(); !s) return core::Error{s.error()};
  return std::unique_ptr<Source>(std::move(source));
}

}  // namespace obsgate::ingest
