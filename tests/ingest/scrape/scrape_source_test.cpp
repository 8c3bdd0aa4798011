// The scrape loop against a fake /metrics target on loopback whose counters the tests advance.
#include "ingest/scrape/scrape_source.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <atomic>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "server/http_server.hpp"
#include "tests/support/process.hpp"

namespace obsgate::ingest {
namespace {

using namespace std::chrono_literals;

// Everything a source delivered, summed per "ns/deployment/version". Thread-safe.
class SummingSink final : public RecordSink {
 public:
  void Deliver(std::string_view source, core::LocalCounts& counts,
               const IngestStats& stats) override {
    std::lock_guard lock(mu_);
    EXPECT_EQ(source, "scrape-test");
    counts.Drain([&](const core::SeriesKey& k, const core::Counts& c) {
      totals_[k.ns + "/" + k.deployment + "/" + k.version] += c;
    });
    bytes_ += stats.bytes;
    ++deliveries_;
  }
  core::Counts Total(const std::string& series) {
    std::lock_guard lock(mu_);
    return totals_[series];
  }
  int deliveries() {
    std::lock_guard lock(mu_);
    return deliveries_;
  }
  std::uint64_t bytes() {
    std::lock_guard lock(mu_);
    return bytes_;
  }

 private:
  std::mutex mu_;
  std::map<std::string, core::Counts> totals_;
  int deliveries_ = 0;
  std::uint64_t bytes_ = 0;
};

// A /metrics endpoint with two counters the test sets; it can be slow or go away. Thread-safe.
class FakeTarget {
 public:
  explicit FakeTarget(std::uint16_t port = 0) { Up(port); }
  ~FakeTarget() {
    slow_ = false;
    Down();
  }

  void Up(std::uint16_t port) {
    server::ServerOptions options;
    options.port = port;
    options.threads = 4;  // a slow answer holds one
    server_ = std::make_unique<server::HttpServer>(options, registry_);
    server_->Route("GET", "/metrics", "metrics", [this](const server::Request& req) {
      {
        std::lock_guard lock(mu_);
        accept_ = std::string(req.HeaderValue("accept"));
      }
      for (int i = 0; i < 500 && slow_; ++i) std::this_thread::sleep_for(10ms);
      server::Response r = server::Response::Text(200, Body());
      r.content_type = openmetrics_ ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                                    : "text/plain; version=0.0.4; charset=utf-8";
      return r;
    });
    ASSERT_TRUE(server_->Start().ok());
    port_ = server_->port();
  }
  void Down() {
    if (server_) server_->Stop(100ms);
    server_.reset();
  }

  void Set(int ok, int failed) {
    std::lock_guard lock(mu_);
    ok_ = ok;
    failed_ = failed;
  }
  void Add(int ok, int failed) {
    std::lock_guard lock(mu_);
    ok_ += ok;
    failed_ += failed;
  }
  std::string accept() {
    std::lock_guard lock(mu_);
    return accept_;
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/metrics"; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::uint16_t port() const { return port_; }

  std::atomic<bool> slow_{false};
  std::atomic<bool> openmetrics_{false};

 private:
  std::string Body() {
    std::lock_guard lock(mu_);
    // OpenMetrics names a counter family without its _total suffix.
    std::string family = openmetrics_ ? "http_requests" : "http_requests_total";
    std::string body = "# HELP " + family + " Requests served.\n# TYPE " + family +
                       " counter\nhttp_requests_total{code=\"200\",version=\"v2\"} " +
                       std::to_string(ok_) + "\nhttp_requests_total{code=\"503\",version=\"v2\"} " +
                       std::to_string(failed_) +
                       "\n# TYPE process_open_fds gauge\nprocess_open_fds 12\n";
    if (openmetrics_) body += "# EOF\n";
    return body;
  }

  prometheus::Registry registry_;
  std::unique_ptr<server::HttpServer> server_;
  std::uint16_t port_ = 0;
  std::mutex mu_;
  int ok_ = 1000;
  int failed_ = 10;
  std::string accept_;
};

// The value of one self-metric of `target`, or nullopt when the registry has no such series.
std::optional<double> Metric(prometheus::Registry& registry, std::string_view name,
                             const std::string& target, std::string_view reason = {}) {
  for (const prometheus::MetricFamily& f : registry.Collect()) {
    if (f.name != name) continue;
    for (const prometheus::ClientMetric& m : f.metric) {
      bool match = true;
      for (const prometheus::ClientMetric::Label& l : m.label) {
        if (l.name == "target" && l.value != target) match = false;
        if (l.name == "reason" && l.value != reason) match = false;
      }
      if (match) return f.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
    }
  }
  return std::nullopt;
}

// Polls `done` until it holds or a generous deadline passes (the machine may be loaded).
bool Eventually(const std::function<bool()>& done, std::chrono::seconds deadline = 30s) {
  auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return done();
}

class ScrapeSourceTest : public ::testing::Test {
 protected:
  ScrapeSourceTest() {
    config_.interval = 100ms;
    config_.timeout = 100ms;
  }
  ~ScrapeSourceTest() override {
    if (source_) source_->Stop();
  }

  void Start() {
    auto s = MakeScrapeSource("scrape-test", config_, registry_);
    ASSERT_TRUE(s.ok()) << s.error();
    source_ = std::move(s).value();
    ASSERT_TRUE(source_->Start(sink_).ok());
  }
  static core::ScrapeTargetConfig Static(const FakeTarget& t, std::string deployment = "auth") {
    return {t.url(), {{"namespace", "prod"}, {"deployment", std::move(deployment)}}};
  }
  // Waits for `n` more good scrapes than now.
  bool MoreScrapes(int n) {
    int base = sink_.deliveries();
    return Eventually([&] { return sink_.deliveries() >= base + n; });
  }
  bool TotalBecomes(const std::string& series, core::Counts want) {
    return Eventually([&] { return sink_.Total(series) == want; });
  }

  core::ScrapeSourceConfig config_;
  prometheus::Registry registry_;
  SummingSink sink_;
  std::unique_ptr<Source> source_;
};

TEST_F(ScrapeSourceTest, DeliversExactlyTheCounterIncreases) {
  FakeTarget target;
  config_.targets = {Static(target)};
  Start();
  ASSERT_TRUE(MoreScrapes(1));  // the baseline: 1000 and 10 are not counted
  EXPECT_EQ(sink_.Total("prod/auth/v2"), (core::Counts{0, 0, 0, 0}));
  target.Add(53, 3);
  ASSERT_TRUE(TotalBecomes("prod/auth/v2", {56, 3, 0, 0})) << sink_.Total("prod/auth/v2").requests;
  target.Add(10, 0);
  ASSERT_TRUE(TotalBecomes("prod/auth/v2", {66, 3, 0, 0}));
  // Later scrapes of unchanged counters add nothing.
  ASSERT_TRUE(MoreScrapes(3));
  EXPECT_EQ(sink_.Total("prod/auth/v2"), (core::Counts{66, 3, 0, 0}));
  EXPECT_EQ(Metric(registry_, "obsgate_scrape_up", target.url()), 1);
  EXPECT_EQ(Metric(registry_, "obsgate_scrape_samples_scraped", target.url()), 3);
  EXPECT_GT(*Metric(registry_, "obsgate_scrape_duration_seconds", target.url()), 0);
  EXPECT_EQ(Metric(registry_, "obsgate_scrape_failures_total", target.url(), "timeout"), 0);
  EXPECT_GT(sink_.bytes(), 0u);
}

TEST_F(ScrapeSourceTest, AsksForOpenMetricsFirstAndReadsIt) {
  FakeTarget target;
  target.openmetrics_ = true;
  config_.targets = {Static(target)};
  Start();
  ASSERT_TRUE(MoreScrapes(1));
  target.Add(5, 1);
  ASSERT_TRUE(TotalBecomes("prod/auth/v2", {6, 1, 0, 0}));
  EXPECT_THAT(target.accept(), ::testing::StartsWith("application/openmetrics-text;version=1.0.0"));
  EXPECT_THAT(target.accept(), ::testing::HasSubstr("text/plain;version=0.0.4;q=0.5"));
}

TEST_F(ScrapeSourceTest, ACounterThatDropsRestartedAndCountsItsNewValue) {
  FakeTarget target;
  config_.targets = {Static(target)};
  Start();
  ASSERT_TRUE(MoreScrapes(1));
  target.Set(7, 2);  // the service restarted and served 7 requests since
  ASSERT_TRUE(TotalBecomes("prod/auth/v2", {9, 2, 0, 0}));
  target.Add(3, 0);
  ASSERT_TRUE(TotalBecomes("prod/auth/v2", {12, 2, 0, 0}));
}

TEST_F(ScrapeSourceTest, ATargetThatGoesDownIsCountedAsFailingThenCountsAgain) {
  FakeTarget target;
  config_.targets = {Static(target)};
  Start();
  ASSERT_TRUE(MoreScrapes(1));
  std::uint16_t port = target.port();
  target.Down();
  ASSERT_TRUE(Eventually([&] {
    return Metric(registry_, "obsgate_scrape_up", target.url()) == 0 &&
           Metric(registry_, "obsgate_scrape_failures_total", target.url(), "connect") >= 1;
  })) << Metric(registry_, "obsgate_scrape_failures_total", target.url(), "connect").value_or(-1);
  EXPECT_EQ(Metric(registry_, "obsgate_scrape_samples_scraped", target.url()), 0);
  // Requests served while the target could not be reached are counted when it answers again.
  target.Add(40, 4);
  target.Up(port);
  ASSERT_TRUE(
      Eventually([&] { return Metric(registry_, "obsgate_scrape_up", target.url()) == 1; }));
  ASSERT_TRUE(TotalBecomes("prod/auth/v2", {44, 4, 0, 0}));
}

TEST_F(ScrapeSourceTest, ATargetSlowerThanTheTimeoutFailsWithReasonTimeout) {
  FakeTarget target;
  config_.interval = 300ms;
  config_.timeout = 150ms;
  config_.targets = {Static(target)};
  target.slow_ = true;
  Start();
  ASSERT_TRUE(Eventually([&] {
    return Metric(registry_, "obsgate_scrape_failures_total", target.url(), "timeout") >= 2;
  }));
  EXPECT_EQ(Metric(registry_, "obsgate_scrape_up", target.url()), 0);
  EXPECT_EQ(sink_.deliveries(), 0);
  target.slow_ = false;
  ASSERT_TRUE(
      Eventually([&] { return Metric(registry_, "obsgate_scrape_up", target.url()) == 1; }));
}

// Writes a file_sd file whole, as Kubernetes updates a mounted ConfigMap: a rename.
void WriteFileSd(const testing::TempDir& dir, const std::string& text) {
  std::string tmp = dir.Write("targets.json.tmp", text);
  ASSERT_EQ(std::rename(tmp.c_str(), (dir.path() + "/targets.json").c_str()), 0);
}

std::string Group(const FakeTarget& t, const std::string& deployment) {
  return "{\"targets\": [\"" + t.address() + "\"], \"labels\": {\"namespace\": \"prod\", " +
         "\"deployment\": \"" + deployment + "\"}}";
}

TEST_F(ScrapeSourceTest, FileSdAddsAndRemovesTargetsAndARemovedTargetEndsItsSeries) {
  FakeTarget a, b;
  testing::TempDir dir;
  WriteFileSd(dir, "[" + Group(a, "a") + "]");
  config_.file_sd = {dir.path() + "/*.json"};
  config_.file_sd_refresh = 100ms;
  Start();
  ASSERT_TRUE(Eventually([&] { return Metric(registry_, "obsgate_scrape_up", a.url()) == 1; }));
  EXPECT_EQ(Metric(registry_, "obsgate_scrape_up", b.url()), std::nullopt);

  WriteFileSd(dir, "[" + Group(a, "a") + ", " + Group(b, "b") + "]");
  ASSERT_TRUE(Eventually([&] { return Metric(registry_, "obsgate_scrape_up", b.url()) == 1; }));
  a.Add(5, 0);
  b.Add(7, 1);
  ASSERT_TRUE(TotalBecomes("prod/a/v2", {5, 0, 0, 0}));
  ASSERT_TRUE(TotalBecomes("prod/b/v2", {8, 1, 0, 0}));

  // a goes: its self-metrics go with it, and what it serves meanwhile is not counted.
  WriteFileSd(dir, "[" + Group(b, "b") + "]");
  ASSERT_TRUE(Eventually([&] {
    return Metric(registry_, "obsgate_scrape_up", a.url()) == std::nullopt &&
           Metric(registry_, "obsgate_scrape_failures_total", a.url(), "timeout") == std::nullopt;
  }));
  a.Add(100, 0);
  ASSERT_TRUE(MoreScrapes(3));
  EXPECT_EQ(sink_.Total("prod/a/v2"), (core::Counts{5, 0, 0, 0}));

  // a comes back as a new target: its first scrape is a new baseline, not an increase of 100.
  WriteFileSd(dir, "[" + Group(a, "a") + ", " + Group(b, "b") + "]");
  ASSERT_TRUE(Eventually([&] { return Metric(registry_, "obsgate_scrape_up", a.url()) == 1; }));
  ASSERT_TRUE(MoreScrapes(2));
  a.Add(1, 0);
  ASSERT_TRUE(TotalBecomes("prod/a/v2", {6, 0, 0, 0}));
  ASSERT_TRUE(MoreScrapes(3));
  EXPECT_EQ(sink_.Total("prod/a/v2"), (core::Counts{6, 0, 0, 0}));
}

TEST_F(ScrapeSourceTest, ABadFileSdFileKeepsItsPreviousTargets) {
  FakeTarget a;
  testing::TempDir dir;
  WriteFileSd(dir, "[" + Group(a, "a") + "]");
  config_.file_sd = {dir.path() + "/targets.json"};
  config_.file_sd_refresh = 100ms;
  Start();
  ASSERT_TRUE(Eventually([&] { return Metric(registry_, "obsgate_scrape_up", a.url()) == 1; }));
  WriteFileSd(dir, "[{\"targets\": ");  // half written
  ASSERT_TRUE(MoreScrapes(5));
  EXPECT_EQ(Metric(registry_, "obsgate_scrape_up", a.url()), 1);
}

TEST_F(ScrapeSourceTest, RefusesABadSelectorOrTargetURL) {
  config_.targets = {{"http://127.0.0.1:1/metrics", {}}};
  config_.requests = "http_requests_total{code=~\"(\"}";
  auto bad_selector = MakeScrapeSource("scrape-test", config_, registry_);
  ASSERT_FALSE(bad_selector.ok());
  EXPECT_THAT(bad_selector.error(), ::testing::HasSubstr("requests: bad regex for code"));

  config_.requests = "http_requests_total";
  config_.targets = {{"http://127.0.0.1:99999/metrics", {}}};
  auto bad_url = MakeScrapeSource("scrape-test", config_, registry_);
  ASSERT_FALSE(bad_url.ok());
  EXPECT_THAT(bad_url.error(), ::testing::HasSubstr("is not 1 to 65535"));
}

TEST_F(ScrapeSourceTest, StopsWhileAScrapeIsInFlightAndIsIdempotent) {
  FakeTarget target;
  config_.interval = 10s;
  config_.timeout = 10s;
  config_.targets = {Static(target)};
  target.slow_ = true;
  Start();
  ASSERT_TRUE(Eventually([&] { return !target.accept().empty(); }, 30s));
  source_->Stop();  // would wait out the 10s timeout if the scrape were not cancelled
  source_->Stop();
  EXPECT_EQ(sink_.deliveries(), 0);
}

}  // namespace
}  // namespace obsgate::ingest
