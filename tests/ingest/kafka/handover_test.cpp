// Two replicas in one consumer group, each with its own window store, against librdkafka's mock
// cluster: a rebalance in the middle of the traffic hands each moved deployment over whole, so
// afterwards every deployment is counted on exactly one replica, and counted exactly.
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <map>
#include <memory>
#include <string>

#include "app/deployments_api.hpp"
#include "app/ingest.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "ingest/kafka/kafka_source.hpp"
#include "rules/window_store.hpp"
#include "tests/ingest/kafka/mock_kafka.hpp"
#include "tests/ingest/kafka/replica.hpp"

namespace obsgate::ingest {
namespace {

constexpr int kDeployments = 24;

class HandoverTest : public ::testing::Test {
 protected:
  core::KafkaSourceConfig Config(bool rewind, const std::string& strategy) const {
    core::KafkaSourceConfig c;
    c.brokers = kafka_.bootstraps();
    c.topics = {kTopic};
    c.group = "obsgate";
    c.format = "auto";
    c.commit_interval = 200ms;
    c.rewind_on_assign = rewind;
    c.header_names = {"namespace", "deployment", "version"};
    c.properties = {{"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "500"}};
    if (!strategy.empty()) c.properties["partition.assignment.strategy"] = strategy;
    return c;
  }
  // One message for each deployment, keyed by namespace/deployment as the README asks; every
  // fifth one failed.
  void Round() {
    for (int d = 0; d < kDeployments; ++d) {
      std::string name = "d" + std::to_string(d);
      bool failed = ++sent_[name] % 5 == 0;
      kafka_.ProduceKeyed("prod/" + name, failed ? R"({"status":503})" : R"({"status":200})",
                          {{"namespace", "prod"}, {"deployment", name}, {"version", "v1"}});
      if (failed) ++failed_[name];
    }
  }
  std::uint64_t Sent() const {
    std::uint64_t n = 0;
    for (const auto& [d, count] : sent_) n += count;
    return n;
  }
  static std::uint64_t Lines(const std::map<std::string, core::Counts>& totals) {
    std::uint64_t n = 0;
    for (const auto& [d, c] : totals) n += c.log_lines;
    return n;
  }
  // Replica a alone, then b joins while traffic flows; returns when both have counted since.
  void RebalanceMidTraffic(Replica& a, Replica& b, bool rewind, const std::string& strategy) {
    ASSERT_TRUE(a.Start(Config(rewind, strategy)).ok());
    for (int i = 0; i < 20; ++i) Round();
    ASSERT_TRUE(kafka_.Flush());
    ASSERT_TRUE(WaitFor([&] { return Lines(a.Totals("prod")) == Sent(); }))
        << Lines(a.Totals("prod"));
    ASSERT_EQ(a.OwnedPartitions(), kPartitions);
    // Long enough for a's periodic commits, which carry the window start b replays from: the
    // mock refuses the commits of a group that is rebalancing, as b's joining makes it.
    std::this_thread::sleep_for(1s);

    ASSERT_TRUE(b.Start(Config(rewind, strategy)).ok());
    // Traffic goes on while b joins and the partitions move.
    ASSERT_TRUE(WaitFor([&] {
      Round();
      std::this_thread::sleep_for(20ms);
      return Lines(b.Totals("prod")) > 0 &&
             a.OwnedPartitions() + b.OwnedPartitions() == kPartitions && b.OwnedPartitions() > 0;
    })) << "b never took partitions";
    for (int i = 0; i < 20; ++i) Round();
    ASSERT_TRUE(kafka_.Flush());
  }

  MockKafka kafka_;
  std::map<std::string, std::uint64_t> sent_, failed_;
};

void ExpectEachDeploymentOnOneReplicaExactly(Replica& a, Replica& b,
                                             const std::map<std::string, std::uint64_t>& sent,
                                             const std::map<std::string, std::uint64_t>& failed) {
  std::map<std::string, core::Counts> ta = a.Totals("prod"), tb = b.Totals("prod");
  for (const auto& [d, n] : sent) {
    bool on_a = ta.count(d) != 0, on_b = tb.count(d) != 0;
    EXPECT_NE(on_a, on_b) << d << " is counted on " << (on_a ? "both replicas" : "neither");
    const core::Counts& c = on_a ? ta[d] : tb[d];
    EXPECT_EQ(c.log_lines, n) << d;
    EXPECT_EQ(c.requests, n) << d;
    EXPECT_EQ(c.errors, failed.at(d)) << d;
  }
}

TEST_F(HandoverTest, ARebalanceMidTrafficLeavesEveryDeploymentOnOneReplicaCountedExactly) {
  Replica a, b;
  ASSERT_NO_FATAL_FAILURE(RebalanceMidTraffic(a, b, true, ""));
  // Until both have caught up: every line on exactly one replica, as many as were sent.
  ASSERT_TRUE(WaitFor([&] { return Lines(a.Totals("prod")) + Lines(b.Totals("prod")) >= Sent(); }))
      << Lines(a.Totals("prod")) << " + " << Lines(b.Totals("prod")) << " of " << Sent();
  std::this_thread::sleep_for(1s);  // nothing more arrives: no line is counted twice
  ExpectEachDeploymentOnOneReplicaExactly(a, b, sent_, failed_);
  EXPECT_GT(b.Metric("obsgate_kafka_replayed_messages_total"), 0) << "b rebuilt nothing";
  EXPECT_GT(a.Metric("obsgate_ingest_forgotten_series_total"), 0) << "a forgot nothing";
  EXPECT_EQ(a.OwnedPartitions() + b.OwnedPartitions(), kPartitions);
  EXPECT_EQ(a.Metric("obsgate_kafka_unkeyed_messages_total"), 0);
  EXPECT_EQ(b.Metric("obsgate_kafka_unkeyed_messages_total"), 0);

  // The windows, not only the totals, hold every line: the last hour has them all (where in it
  // each lands, window_store_test checks).
  std::this_thread::sleep_for(1100ms);
  a.store.Tick();
  b.store.Tick();
  for (Replica* r : {&a, &b}) {
    r->store.ForEach([&](const rules::WindowStore::SeriesRef& s) {
      if (s.key().ns != "prod") return;
      EXPECT_EQ(s.Window(1h).log_lines, static_cast<double>(s.total().log_lines));
    });
  }
  // b says which deployments it took over, and that their windows were rebuilt.
  std::string json = app::DeploymentsJson(b.store, b.ingest.handovers());
  EXPECT_NE(json.find(R"("windows":"rebuilt from the log")"), std::string::npos)
      << json.substr(0, 600);
  EXPECT_EQ(json.find("start empty"), std::string::npos) << json.substr(0, 600);
  a.source->Stop();
  b.source->Stop();
}

TEST_F(HandoverTest, CooperativeRebalanceHandsOverExactlyToo) {
  Replica a, b;
  ASSERT_NO_FATAL_FAILURE(RebalanceMidTraffic(a, b, true, "cooperative-sticky"));
  ASSERT_TRUE(WaitFor([&] { return Lines(a.Totals("prod")) + Lines(b.Totals("prod")) >= Sent(); }))
      << Lines(a.Totals("prod")) << " + " << Lines(b.Totals("prod")) << " of " << Sent();
  std::this_thread::sleep_for(1s);
  ExpectEachDeploymentOnOneReplicaExactly(a, b, sent_, failed_);
  EXPECT_GT(b.Metric("obsgate_kafka_replayed_messages_total"), 0);
  a.source->Stop();
  b.source->Stop();
}

TEST_F(HandoverTest, WithoutRewindTheTakenOverWindowsStartEmptyAndSaySo) {
  Replica a, b;
  ASSERT_NO_FATAL_FAILURE(RebalanceMidTraffic(a, b, false, ""));
  std::this_thread::sleep_for(2s);
  std::map<std::string, core::Counts> ta = a.Totals("prod"), tb = b.Totals("prod");
  std::uint64_t short_by = 0;
  for (const auto& [d, n] : sent_) {
    EXPECT_FALSE(ta.count(d) != 0 && tb.count(d) != 0) << d << " is counted on both replicas";
    std::uint64_t counted = ta[d].log_lines + tb[d].log_lines;
    EXPECT_LE(counted, n) << d;
    short_by += n - std::min(counted, n);
  }
  EXPECT_GT(short_by, 0u) << "the moved deployments' earlier lines went with a's windows";
  EXPECT_EQ(b.Metric("obsgate_kafka_replayed_messages_total"), 0);
  std::string json = app::DeploymentsJson(b.store, b.ingest.handovers());
  EXPECT_NE(json.find(R"("windows":"start empty at the handover")"), std::string::npos)
      << json.substr(0, 600);
  a.source->Stop();
  b.source->Stop();
}

TEST_F(HandoverTest, AReplicaRestartedWithRewindHasTheWindowsItHadBefore) {
  std::uint64_t counted = 0;
  {
    Replica before;
    ASSERT_TRUE(before.Start(Config(true, "")).ok());
    for (int i = 0; i < 10; ++i) Round();
    ASSERT_TRUE(kafka_.Flush());
    ASSERT_TRUE(WaitFor([&] { return Lines(before.Totals("prod")) == Sent(); }));
    counted = Lines(before.Totals("prod"));
    before.source->Stop();  // commits, with the window start
  }
  // A new process: an empty store, nothing new in the topic; the log gives the windows back.
  Replica after;
  ASSERT_TRUE(after.Start(Config(true, "")).ok());
  ASSERT_TRUE(WaitFor([&] { return Lines(after.Totals("prod")) >= counted; }))
      << Lines(after.Totals("prod")) << " of " << counted;
  std::this_thread::sleep_for(500ms);
  std::map<std::string, core::Counts> totals = after.Totals("prod");
  for (const auto& [d, n] : sent_) {
    EXPECT_EQ(totals[d].log_lines, n) << d;
    EXPECT_EQ(totals[d].errors, failed_[d]) << d;
  }
  EXPECT_EQ(after.Metric("obsgate_kafka_replayed_messages_total"), static_cast<double>(counted));
  after.source->Stop();
}

TEST_F(HandoverTest, RecordsNotKeyedByDeploymentAreCounted) {
  Replica a;
  ASSERT_TRUE(a.Start(Config(false, "")).ok());
  for (int i = 0; i < 10; ++i) {
    kafka_.ProduceKeyed("pod-" + std::to_string(i), R"({"status":200})",
                        {{"namespace", "prod"}, {"deployment", "cart"}});
  }
  kafka_.ProduceKeyed("prod/cart", R"({"status":200})",
                      {{"namespace", "prod"}, {"deployment", "cart"}});
  ASSERT_TRUE(kafka_.Flush());
  ASSERT_TRUE(WaitFor([&] { return Lines(a.Totals("prod")) == 11; }));
  EXPECT_EQ(a.Metric("obsgate_kafka_unkeyed_messages_total"), 10);
  a.source->Stop();
}

}  // namespace
}  // namespace obsgate::ingest
