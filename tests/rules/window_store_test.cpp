#include "rules/window_store.hpp"

#include <gtest/gtest.h>

#include <vector>

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

// A version that no longer serves is judged by the window ending when it was last seen. Its last
// counts are stored at the end of the second they came in: a burst early in that second must be
// in that window whole, not in proportion to how much of the second had passed.
TEST_F(WindowStoreTest, AWindowEndingWhenASeriesWasLastSeenHoldsItsLastBurstWhole) {
  Idle(2s);
  clock_.Advance(100ms);  // early in the second
  core::Counts& c = local_.At(auth_.ns, auth_.deployment, auth_.version);
  c.requests = 1000;
  c.errors = 5;
  store_.Merge(local_);
  clock_.Advance(900ms);
  store_.Tick();
  Idle(3s);
  std::optional<core::Duration> idle;
  WindowCounts last;
  store_.ForEach([&](const WindowStore::SeriesRef& s) {
    idle = s.Idle();
    last = s.WindowEndingAgo(5min, *idle);
  });
  ASSERT_TRUE(idle);
  EXPECT_EQ(*idle, 3s);
  EXPECT_EQ(last.requests, 1000);
  EXPECT_EQ(last.errors, 5);
}

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

// Replaying a log into a store that did not see it live (another replica's, after a handover)
// must give every window the sums the live store has, whichever tier a window's start is in.
class ReplayTest : public WindowStoreTest {
 protected:
  struct Second {
    core::TimePoint at;  // when the counts arrived, just before the tick that took them
    std::uint64_t n;
    std::uint64_t e;
  };
  // Live traffic for `seconds`, uneven so a misplaced second shows, remembered for a replay.
  std::vector<Second> Live(int seconds) {
    std::vector<Second> seen;
    for (int i = 0; i < seconds; ++i) {
      std::uint64_t n = 1 + static_cast<std::uint64_t>(i % 7) * 3, e = i % 11 == 0 ? 2 : 0;
      seen.push_back({clock_.Now(), n, e});
      WindowStoreTest::Second(auth_, n, e);
    }
    return seen;
  }
  void Replay(WindowStore& into, const std::vector<Second>& seconds) {
    for (const Second& s : seconds) {
      core::Counts& c = local_.At(auth_.ns, auth_.deployment, auth_.version);
      c = core::Counts{s.n, s.e, s.n, s.e};
      into.MergeAt(local_, s.at);
    }
  }
  void ExpectSameWindows(WindowStore& replayed) {
    for (core::Duration w : std::initializer_list<core::Duration>{1s, 7s, 10s, 45s, 1min, 5min,
                                                                  12min, 15min, 17min, 59min, 1h}) {
      WindowCounts live = W(auth_, w), got = *replayed.Window(auth_, w);
      EXPECT_DOUBLE_EQ(got.requests, live.requests) << w.count() << "ms";
      EXPECT_DOUBLE_EQ(got.errors, live.errors) << w.count() << "ms";
      EXPECT_DOUBLE_EQ(got.log_lines, live.log_lines) << w.count() << "ms";
      EXPECT_DOUBLE_EQ(got.error_lines, live.error_lines) << w.count() << "ms";
    }
    EXPECT_EQ(*replayed.Total(auth_), *store_.Total(auth_));
  }
};

TEST_F(ReplayTest, ReplayedCountsLandInTheWindowsTheyHappenedIn) {
  WindowStore replayed(WindowOptions{}, clock_);
  std::vector<Second> seen = Live(20 * 60 + 13);
  replayed.Tick();
  Replay(replayed, seen);
  ExpectSameWindows(replayed);
  // The version is as old as its first replayed count, not as the replay.
  ASSERT_EQ(replayed.Versions("prod", "auth").size(), 1u);
  EXPECT_EQ(replayed.Versions("prod", "auth")[0].first_seen, seen.front().at);
}

TEST_F(ReplayTest, ReplayBehindLiveCountsAndIntoAReusedSlotIsExact) {
  WindowOptions o;
  o.idle_ttl = 30s;
  WindowStore replayed(o, clock_);
  // A series that lives and goes idle first, so the replayed one takes its slot, stale snapshots
  // and all.
  local_.At("prod", "gone", "v1").requests = 1000;
  replayed.Merge(local_);
  // Ten minutes the replica did not see, then forty seconds it counts live, then the ten minutes
  // replayed behind them.
  std::vector<Second> unseen;
  for (int i = 0; i < 10 * 60 + 40; ++i) {
    std::uint64_t n = 2 + static_cast<std::uint64_t>(i % 5), e = i % 13 == 0 ? 1 : 0;
    Second s{clock_.Now(), n, e};
    if (i < 10 * 60) {
      unseen.push_back(s);
    } else {
      local_.At(auth_.ns, auth_.deployment, auth_.version) = core::Counts{n, e, n, e};
      replayed.Merge(local_);
    }
    WindowStoreTest::Second(auth_, n, e);
    replayed.Tick();
  }
  ASSERT_FALSE(replayed.Total(SeriesKey{"prod", "gone", "v1"}).has_value());
  Replay(replayed, unseen);
  ExpectSameWindows(replayed);
}

TEST_F(WindowStoreTest, ForgetsTheSeriesOfTheDeploymentsNamedAndNoOthers) {
  for (const char* v : {"v1", "v2", "v3"}) local_.At("prod", "auth", v).requests += 1;
  local_.At("prod", "cart", "v1").requests += 5;
  local_.At("staging", "auth", "v1").requests += 7;
  store_.Merge(local_);
  clock_.Advance(1s);
  store_.Tick();
  EXPECT_EQ(store_.Forget({{"prod", "auth"}, {"prod", "nothing"}}), 3u);
  EXPECT_EQ(store_.size(), 2u);
  EXPECT_TRUE(store_.Versions("prod", "auth").empty());
  EXPECT_FALSE(store_.Total(auth_).has_value());
  EXPECT_EQ(store_.Total(SeriesKey{"prod", "cart", "v1"})->requests, 5u);
  EXPECT_EQ(store_.Total(SeriesKey{"staging", "auth", "v1"})->requests, 7u);
  EXPECT_EQ(store_.Forget({{"prod", "auth"}}), 0u);
  // Counted again, it starts from nothing.
  Second(auth_, 4, 0);
  EXPECT_EQ(W(auth_, 1h).requests, 4);
}

// Snapshots are 16-bit steps above a per-series base; these cross the edges of that.
TEST_F(WindowStoreTest, ASeriesThatOutgrowsSixteenBitStepsKeepsExactSums) {
  for (int i = 0; i < 5; ++i) Second(auth_, 1, 0);
  const std::size_t narrow = store_.MemoryBytes();
  Second(auth_, 70'000, 3);
  EXPECT_GT(store_.MemoryBytes(), narrow);  // its steps widened to 32 bits
  for (int i = 0; i < 5; ++i) Second(auth_, 2, 1);
  EXPECT_EQ(W(auth_, 5s).requests, 10);
  EXPECT_EQ(W(auth_, 6s).requests, 70'010);
  EXPECT_EQ(W(auth_, 6s).errors, 8);
  EXPECT_EQ(W(auth_, 11s).log_lines, 70'015);
  Idle(20min);
  EXPECT_EQ(W(auth_, 1h).requests, 70'015);
  EXPECT_EQ(W(auth_, 1h).error_lines, 8);
}

TEST_F(WindowStoreTest, SteadyTrafficPastSixteenBitsInAllStaysNarrowAndExact) {
  Second(auth_, 10, 1);
  const std::size_t narrow = store_.MemoryBytes();
  for (int i = 1; i < 2 * 3600; ++i) Second(auth_, 10, 1);  // 72,000 in all, 36,000 an hour
  EXPECT_EQ(store_.MemoryBytes(), narrow);
  EXPECT_EQ(W(auth_, 1s).requests, 10);
  EXPECT_EQ(W(auth_, 1min).requests, 600);
  EXPECT_EQ(W(auth_, 15min).errors, 900);
  EXPECT_EQ(W(auth_, 1h).requests, 36'000);
  EXPECT_EQ(store_.Total(auth_)->requests, 72'000u);
}

TEST_F(WindowStoreTest, WindowsAcrossTheLow32BitsWrappingStayExact) {
  Second(auth_, 4'294'967'290, 0);
  Second(auth_, 10, 0);
  Second(auth_, 10, 0);
  EXPECT_EQ(W(auth_, 1s).requests, 10);
  EXPECT_EQ(W(auth_, 2s).requests, 20);
}

TEST_F(WindowStoreTest, AnEvictedWideSeriesFreesItsHighHalvesForTheNextInItsSlot) {
  WindowOptions o;
  o.idle_ttl = 10s;
  WindowStore store(o, clock_);
  auto second = [&](const SeriesKey& key, std::uint64_t n) {
    local_.At(key.ns, key.deployment, key.version).requests += n;
    store.Merge(local_);
    clock_.Advance(1s);
    store.Tick();
  };
  second(auth_, 1);
  const std::size_t narrow = store.MemoryBytes();
  second(auth_, 100'000);
  EXPECT_GT(store.MemoryBytes(), narrow);
  for (int i = 0; i < 10; ++i) {
    clock_.Advance(1s);
    store.Tick();
  }
  ASSERT_EQ(store.size(), 0u);                 // evicted; the next new series takes its slot
  SeriesKey billing{"prod", "billing", "v7"};  // a key as long as auth_'s: the same index bytes
  for (int i = 0; i < 3; ++i) second(billing, 5);
  EXPECT_EQ(store.MemoryBytes(), narrow);  // the high halves went with auth_
  EXPECT_EQ(store.Window(billing, 1h)->requests, 15);
  EXPECT_EQ(store.Window(billing, 1s)->requests, 5);
  EXPECT_EQ(store.Window(billing, 2s)->requests, 10);
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
