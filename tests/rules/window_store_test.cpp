#include "rules/window_store.hpp"

#include <gtest/gtest.h>

namespace obsgate::rules {
namespace {

using namespace std::chrono_literals;
using core::SeriesKey;

class WindowStoreTest : public ::testing::Test {
 protected:
  // Counts n requests with e errors (and as many log lines) for key, then advances one second
  // and ticks.
  void Second(const SeriesKey& key, std::uint64_t n, std::uint64_t e) {
    core::Counts& c = local_.At(key.ns, key.deployment, key.version);
    c.requests += n;
    c.errors += e;
    c.log_lines += n;
    c.error_lines += e;
    store_.Merge(local_);
    clock_.Advance(1s);
    store_.Tick();
  }
  void Idle(std::chrono::seconds s) {
    for (int i = 0; i < s.count(); ++i) {
      clock_.Advance(1s);
      store_.Tick();
    }
  }
  WindowCounts W(const SeriesKey& key, core::Duration d) { return *store_.Window(key, d); }

  core::FakeClock clock_;
  WindowStore store_{WindowOptions{}, clock_};
  core::LocalCounts local_;
  SeriesKey auth_{"prod", "auth", "v1"};
};

TEST_F(WindowStoreTest, ShortWindowsAreExact) {
  for (int i = 1; i <= 10; ++i) Second(auth_, static_cast<std::uint64_t>(i), i % 2);
  EXPECT_EQ(W(auth_, 1s).requests, 10);
  EXPECT_EQ(W(auth_, 3s).requests, 10 + 9 + 8);
  EXPECT_EQ(W(auth_, 3s).errors, 1);  // seconds 8, 9, 10: only 9 is odd
  EXPECT_EQ(W(auth_, 10s).requests, 55);
  EXPECT_EQ(W(auth_, 10s).log_lines, 55);
  EXPECT_EQ(W(auth_, 10s).error_lines, 5);
  EXPECT_EQ(W(auth_, 1h).requests, 55);
  EXPECT_EQ(*store_.Total(auth_), (core::Counts{55, 5, 55, 5}));
}

TEST_F(WindowStoreTest, LongWindowsOfSteadyTrafficAreExact) {
  for (int i = 0; i < 20 * 60; ++i) Second(auth_, 10, 1);
  EXPECT_DOUBLE_EQ(W(auth_, 1min).requests, 600);
  EXPECT_DOUBLE_EQ(W(auth_, 5min).requests, 3000);
  EXPECT_DOUBLE_EQ(W(auth_, 5min).errors, 300);
  EXPECT_DOUBLE_EQ(W(auth_, 15min).requests, 9000);
  EXPECT_DOUBLE_EQ(W(auth_, 17min).requests, 10200);
  EXPECT_DOUBLE_EQ(*W(auth_, 5min).ErrorRate(), 0.1);
  EXPECT_DOUBLE_EQ(W(auth_, 1h).requests, 12000);
}

TEST_F(WindowStoreTest, ABurstIsInsideTheWindowsThatCoverItAndNoOthers) {
  Idle(5s);
  Second(auth_, 100, 7);
  Idle(20s);
  EXPECT_EQ(W(auth_, 30s).requests, 100);
  EXPECT_EQ(W(auth_, 10s).requests, 0);
  // This window's start falls inside a 10s snapshot bucket: the burst is spread over it.
  EXPECT_GE(W(auth_, 20s).requests, 0);
  EXPECT_LE(W(auth_, 20s).requests, 100);
  Idle(100s);
  EXPECT_EQ(W(auth_, 5min).requests, 100);
  EXPECT_EQ(W(auth_, 5min).errors, 7);
  EXPECT_EQ(W(auth_, 60s).requests, 0);
}

TEST_F(WindowStoreTest, CountsSinceTheLastTickAreInNoWindowYet) {
  Second(auth_, 5, 0);
  local_.At("prod", "auth", "v1").requests += 3;
  store_.Merge(local_);
  EXPECT_EQ(W(auth_, 10s).requests, 5);
  EXPECT_EQ(store_.Total(auth_)->requests, 8u);
  clock_.Advance(1s);
  store_.Tick();
  EXPECT_EQ(W(auth_, 10s).requests, 8);
  EXPECT_EQ(W(auth_, 1s).requests, 3);
}

TEST_F(WindowStoreTest, AStalledTickPutsWhatArrivedInTheLastSecond) {
  Second(auth_, 5, 0);
  local_.At("prod", "auth", "v1").requests += 4;
  store_.Merge(local_);
  clock_.Advance(30s);
  store_.Tick();
  EXPECT_EQ(W(auth_, 1s).requests, 4);
  EXPECT_EQ(W(auth_, 10s).requests, 4);
  EXPECT_EQ(W(auth_, 31s).requests, 9);
}

TEST_F(WindowStoreTest, WindowsLongerThanTheHorizonAreClamped) {
  for (int i = 0; i < 3600 + 600; ++i) Second(auth_, 1, 0);
  EXPECT_DOUBLE_EQ(W(auth_, 2h).requests, 3600);
  EXPECT_EQ(store_.Total(auth_)->requests, 4200u);
}

TEST_F(WindowStoreTest, RemembersVersionsInOrderAndNamesTheBaseline) {
  SeriesKey v2{"prod", "auth", "v2"};
  SeriesKey v3{"prod", "auth", "v3"};
  Second(auth_, 1, 0);
  Second(v2, 1, 0);
  Second(auth_, 1, 0);
  Second(v3, 1, 0);
  std::vector<VersionInfo> versions = store_.Versions("prod", "auth");
  ASSERT_EQ(versions.size(), 3u);
  EXPECT_EQ(versions[0].version, "v1");
  EXPECT_EQ(versions[1].version, "v2");
  EXPECT_EQ(versions[2].version, "v3");
  EXPECT_LT(versions[0].first_seen, versions[1].first_seen);
  EXPECT_EQ(store_.Baseline(v3), "v2");
  EXPECT_EQ(store_.Baseline(v2), "v1");
  EXPECT_EQ(store_.Baseline(auth_), std::nullopt);
  EXPECT_TRUE(store_.Versions("staging", "auth").empty());
}

TEST_F(WindowStoreTest, ForgetsIdleSeriesAndTheirDeployment) {
  WindowOptions o;
  o.idle_ttl = 10s;
  WindowStore store(o, clock_);
  local_.At("prod", "auth", "v1").requests = 1;
  store.Merge(local_);
  for (int i = 0; i < 9; ++i) {
    clock_.Advance(1s);
    store.Tick();
  }
  EXPECT_EQ(store.size(), 1u);
  clock_.Advance(1s);
  store.Tick();
  EXPECT_EQ(store.size(), 0u);
  EXPECT_EQ(store.evicted_series(), 1u);
  EXPECT_TRUE(store.Versions("prod", "auth").empty());
  // A series that comes back starts from nothing.
  local_.At("prod", "auth", "v1").requests = 2;
  store.Merge(local_);
  clock_.Advance(1s);
  store.Tick();
  EXPECT_EQ(store.Window(auth_, 1h)->requests, 2);
}

TEST_F(WindowStoreTest, SeriesPastTheCapAreCountedInTheOverflowSeries) {
  WindowOptions o;
  o.max_series = 2;
  WindowStore store(o, clock_);
  for (const char* d : {"a", "b", "c", "d"}) local_.At("ns", d, "v").requests += 1;
  store.Merge(local_);
  clock_.Advance(1s);
  store.Tick();
  EXPECT_EQ(store.size(), 3u);
  EXPECT_EQ(store.overflowed_series(), 2u);
  double total = 0;
  store.ForEach([&](const WindowStore::SeriesRef& s) { total += s.Window(1min).requests; });
  EXPECT_EQ(total, 4);
  EXPECT_EQ(store.Total(SeriesKey{"", kOverflowDeployment, ""})->requests, 2u);
}

TEST(WindowCounts, NoRequestsIsNoData) {
  WindowCounts c;
  EXPECT_EQ(c.ErrorRate(), std::nullopt);
  EXPECT_EQ(c.LogErrorRatio(), std::nullopt);
  c.requests = 4;
  c.errors = 1;
  EXPECT_DOUBLE_EQ(*c.ErrorRate(), 0.25);
}

TEST(LocalCounts, KeepsSeriesApartWhateverBytesTheirLabelsHold) {
  core::LocalCounts local;
  local.At("a", "b\0c", "d").requests = 1;
  local.At(std::string_view("a\0b", 3), "c", "d").requests = 2;
  local.At("a", "b", "c").requests = 3;
  local.At("a", "b", "c").errors = 1;
  EXPECT_EQ(local.size(), 3u);
  std::uint64_t sum = 0;
  local.Drain([&](const SeriesKey& k, const core::Counts& c) {
    sum += c.requests;
    if (c.requests == 2) {
      EXPECT_EQ(k.ns, std::string("a\0b", 3));
    }
    if (c.requests == 3) {
      EXPECT_EQ(c.errors, 1u);
    }
  });
  EXPECT_EQ(sum, 6u);
  EXPECT_TRUE(local.empty());
}

}  // namespace
}  // namespace obsgate::rules
