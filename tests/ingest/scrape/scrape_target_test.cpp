#include "ingest/scrape/scrape_target.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

namespace obsgate::ingest {
namespace {

using namespace std::string_literals;

constexpr ExpositionFormat kText = ExpositionFormat::kText;

std::map<std::string, core::Counts> Drain(core::LocalCounts& c) {
  std::map<std::string, core::Counts> out;
  c.Drain([&](const core::SeriesKey& k, const core::Counts& v) {
    out[k.ns + "/" + k.deployment + "/" + k.version] += v;
  });
  return out;
}

class TargetCounterTest : public ::testing::Test {
 protected:
  TargetCounter Make(core::ScrapeSourceConfig config = {},
                     std::map<std::string, std::string> target_labels = {{"namespace", "prod"},
                                                                         {"deployment", "auth"}}) {
    auto requests = SeriesSelector::Parse(config.requests);
    auto errors = SeriesSelector::Parse(config.errors);
    EXPECT_TRUE(requests.ok() && errors.ok());
    return TargetCounter(config, std::move(target_labels),
                         std::make_shared<SeriesSelector>(std::move(requests).value()),
                         std::make_shared<SeriesSelector>(std::move(errors).value()));
  }
  static std::string Body(int ok, int fail) {
    return "# TYPE http_requests_total counter\n"
           "http_requests_total{code=\"200\",version=\"v2\"} " +
           std::to_string(ok) + "\n" + "http_requests_total{code=\"503\",version=\"v2\"} " +
           std::to_string(fail) + "\n";
  }
  core::LocalCounts counts_;
};

TEST_F(TargetCounterTest, FirstScrapeIsTheBaselineThenIncreasesCount) {
  TargetCounter t = Make();
  ASSERT_TRUE(t.Apply(Body(100, 10), kText, counts_).ok);
  auto first = Drain(counts_);
  EXPECT_EQ((first["prod/auth/v2"]), (core::Counts{0, 0, 0, 0}));
  ScrapeOutcome o = t.Apply(Body(150, 13), kText, counts_);
  ASSERT_TRUE(o.ok) << o.error;
  EXPECT_EQ(o.samples, 2u);
  EXPECT_EQ(Drain(counts_)["prod/auth/v2"], (core::Counts{53, 3, 0, 0}));
}

TEST_F(TargetCounterTest, ADropIsACounterResetAndCountsTheNewValue) {
  TargetCounter t = Make();
  t.Apply(Body(100, 10), kText, counts_);
  t.Apply(Body(7, 2), kText, counts_);  // the process restarted
  Drain(counts_);
  t.Apply(Body(7, 2), kText, counts_);
  EXPECT_EQ(Drain(counts_)["prod/auth/v2"], (core::Counts{0, 0, 0, 0}));
  core::LocalCounts c;
  t.Apply(Body(20, 2), kText, c);
  EXPECT_EQ(Drain(c)["prod/auth/v2"], (core::Counts{13, 0, 0, 0}));
}

TEST_F(TargetCounterTest, ResetCountsTheNewValue) {
  TargetCounter t = Make();
  t.Apply(Body(100, 10), kText, counts_);
  Drain(counts_);
  t.Apply(Body(7, 2), kText, counts_);
  EXPECT_EQ(Drain(counts_)["prod/auth/v2"], (core::Counts{9, 2, 0, 0}));
}

TEST_F(TargetCounterTest, ASeriesMissingThenBackCountsFromZero) {
  TargetCounter t = Make();
  t.Apply(Body(100, 10), kText, counts_);
  t.Apply("http_requests_total{code=\"200\",version=\"v2\"} 110\n", kText, counts_);
  EXPECT_EQ(Drain(counts_)["prod/auth/v2"], (core::Counts{10, 0, 0, 0}));
  // The 503 series is back: it restarted from 0 while it was gone.
  t.Apply(Body(110, 4), kText, counts_);
  EXPECT_EQ(Drain(counts_)["prod/auth/v2"], (core::Counts{4, 4, 0, 0}));
}

TEST_F(TargetCounterTest, AFailedScrapeCountsNothingAndKeepsTheBaseline) {
  core::ScrapeSourceConfig config;
  config.sample_limit = 2;
  TargetCounter t = Make(config);
  t.Apply(Body(100, 10), kText, counts_);
  ScrapeOutcome bad = t.Apply(Body(120, 12) + "broken{\n", kText, counts_);
  EXPECT_FALSE(bad.ok);
  EXPECT_EQ(bad.reason, "parse");
  EXPECT_EQ(bad.error, "line 4: expected a label name or '}' in the labels, got end of line");
  ScrapeOutcome over = t.Apply(Body(120, 12) + "other 1\n", kText, counts_);
  EXPECT_FALSE(over.ok);
  EXPECT_EQ(over.reason, "sample_limit");
  EXPECT_TRUE(counts_.empty() || Drain(counts_)["prod/auth/v2"] == core::Counts{});
  t.Apply(Body(130, 13), kText, counts_);
  EXPECT_EQ(Drain(counts_)["prod/auth/v2"], (core::Counts{33, 3, 0, 0}));
}

TEST_F(TargetCounterTest, ANewSeriesInAFailedScrapeIsStillNewAfterIt) {
  TargetCounter t = Make();
  t.Apply(Body(100, 10), kText, counts_);
  std::string added = "http_requests_total{code=\"200\",version=\"v3\"} ";
  EXPECT_FALSE(t.Apply(Body(100, 10) + added + "50\nbroken{\n", kText, counts_).ok);
  Drain(counts_);
  // v3 was never in a good scrape: it started at 0, so all 60 count.
  t.Apply(Body(100, 10) + added + "60\n", kText, counts_);
  EXPECT_EQ(Drain(counts_)["prod/auth/v3"], (core::Counts{60, 0, 0, 0}));
}

TEST_F(TargetCounterTest, ARepeatedLineCountsAgainstThePreviousScrape) {
  TargetCounter t = Make();
  std::string line = "http_requests_total{code=\"200\",version=\"v2\"} ";
  t.Apply(line + "100\n" + line + "100\n", kText, counts_);
  Drain(counts_);
  t.Apply(line + "110\n" + line + "120\n", kText, counts_);
  EXPECT_EQ(Drain(counts_)["prod/auth/v2"].requests, 30u);
  t.Apply(line + "125\n", kText, counts_);
  EXPECT_EQ(Drain(counts_)["prod/auth/v2"].requests, 5u);
}

TEST_F(TargetCounterTest, ManySeriesComeAndGoAcrossScrapes) {
  TargetCounter t = Make();
  auto body = [](int from, int to, int value) {
    std::string b;
    for (int i = from; i < to; ++i) {
      b += "http_requests_total{code=\"200\",pod=\"p" + std::to_string(i) + "\",version=\"v2\"} " +
           std::to_string(value) + "\n";
    }
    return b;
  };
  t.Apply(body(0, 1000, 10), kText, counts_);
  Drain(counts_);
  t.Apply(body(500, 1500, 12), kText, counts_);  // 500 kept (+2 each), 500 new (+12 each)
  EXPECT_EQ(Drain(counts_)["prod/auth/v2"].requests, 500u * 2 + 500u * 12);
  t.Apply(body(0, 1000, 13), kText, counts_);  // 500 back from 0 (+13), 500 kept (+1)
  EXPECT_EQ(Drain(counts_)["prod/auth/v2"].requests, 500u * 13 + 500u * 1);
}

TEST_F(TargetCounterTest, BlanksInALineLeaveItTheSameSeries) {
  TargetCounter t = Make();
  t.Apply("http_requests_total{code=\"200\",version=\"v2\"} 100\n", kText, counts_);
  t.Apply("http_requests_total { code=\"200\" , version=\"v2\" } 150\n", kText, counts_);
  EXPECT_EQ(Drain(counts_)["prod/auth/v2"].requests, 50u);
}

TEST_F(TargetCounterTest, AValueHoldingWhatLooksLikeAnotherLabelIsAnotherSeries) {
  // A label value may hold any byte but a line break, '"' and '\' unescaped: NUL and '=' too.
  TargetCounter t = Make();
  auto body = [](int v2, int other) {
    return "http_requests_total{code=\"200\",version=\"v2\"} " + std::to_string(v2) +
           "\nhttp_requests_total{code=\"200\0version=v2\"} "s + std::to_string(other) + "\n";
  };
  ASSERT_TRUE(t.Apply(body(100, 10), kText, counts_).ok);
  Drain(counts_);
  t.Apply(body(150, 13), kText, counts_);
  auto counts = Drain(counts_);
  EXPECT_EQ(counts["prod/auth/v2"].requests, 50u);
  EXPECT_EQ(counts["prod/auth/unknown"].requests, 3u);
}

TEST_F(TargetCounterTest, CountsKeepTheirVersionWhileVersionsComeAndGo) {
  TargetCounter t = Make();
  auto line = [](std::string_view version, int value) {
    return "http_requests_total{code=\"200\",version=\"" + std::string(version) + "\"} " +
           std::to_string(value) + "\n";
  };
  t.Apply(line("v1", 10) + line("v2", 10), kText, counts_);
  t.Apply(line("v2", 20), kText, counts_);  // v1 is gone
  t.Apply(line("v3", 5) + line("v2", 30), kText, counts_);
  auto counts = Drain(counts_);
  EXPECT_EQ(counts["prod/auth/v1"].requests, 0u);
  EXPECT_EQ(counts["prod/auth/v2"].requests, 20u);
  EXPECT_EQ(counts["prod/auth/v3"].requests, 5u);
  t.Apply(line("v3", 8) + line("v2", 31), kText, counts_);
  counts = Drain(counts_);
  EXPECT_EQ(counts["prod/auth/v2"].requests, 1u);
  EXPECT_EQ(counts["prod/auth/v3"].requests, 3u);
}

TEST_F(TargetCounterTest, HonorLabelsDecidesWhoseDeploymentWins) {
  std::string body = "http_requests_total{deployment=\"billing\",code=\"200\"} 1\n";
  std::string later = "http_requests_total{deployment=\"billing\",code=\"200\"} 5\n";
  TargetCounter target_wins = Make();
  target_wins.Apply(body, kText, counts_);
  target_wins.Apply(later, kText, counts_);
  EXPECT_EQ(Drain(counts_)["prod/auth/unknown"].requests, 4u);
  core::ScrapeSourceConfig honor;
  honor.honor_labels = true;
  TargetCounter sample_wins = Make(honor);
  sample_wins.Apply(body, kText, counts_);
  sample_wins.Apply(later, kText, counts_);
  EXPECT_EQ(Drain(counts_)["prod/billing/unknown"].requests, 4u);
}

TEST_F(TargetCounterTest, AHistogramCountCanBeTheRequests) {
  core::ScrapeSourceConfig config;
  config.requests = "rpc_seconds_count";
  config.errors = "rpc_seconds_count{status!~\"ok|\"}";
  TargetCounter t = Make(config, {{"deployment", "api"}});
  auto body = [](int ok, int err) {
    return "# TYPE rpc_seconds histogram\nrpc_seconds_bucket{status=\"ok\",le=\"+Inf\"} " +
           std::to_string(ok) + "\nrpc_seconds_count{status=\"ok\"} " + std::to_string(ok) +
           "\nrpc_seconds_count{status=\"internal\"} " + std::to_string(err) + "\n";
  };
  t.Apply(body(10, 1), kText, counts_);
  t.Apply(body(30, 6), kText, counts_);
  EXPECT_EQ(Drain(counts_)["unknown/api/unknown"], (core::Counts{25, 5, 0, 0}));
}

TEST(SeriesSelectorTest, ParsesPromQLMatchers) {
  auto s = SeriesSelector::Parse("x{code=~\"5..\", path!=\"/health\"}");
  ASSERT_TRUE(s.ok()) << s.error();
  ExpositionLabel five[] = {{"code", "503", false}, {"path", "/a", false}};
  ExpositionLabel health[] = {{"code", "500", false}, {"path", "/health", false}};
  ExpositionLabel ok[] = {{"code", "200", false}};
  EXPECT_TRUE(s->Matches("x", five));
  EXPECT_FALSE(s->Matches("x", health));
  EXPECT_FALSE(s->Matches("x", ok));
  EXPECT_FALSE(s->Matches("y", five));
  EXPECT_FALSE(SeriesSelector::Parse("x{code=~\"(\"}").ok());
  EXPECT_FALSE(SeriesSelector::Parse("x{code>\"1\"}").ok());
}

}  // namespace
}  // namespace obsgate::ingest
