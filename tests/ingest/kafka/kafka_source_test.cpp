// The Kafka source against librdkafka's mock cluster (real protocol, in-process brokers): what a
// user sees counted per series, and that nothing produced goes uncounted through restarts, broker
// outages and group rebalances.
#include "ingest/kafka/kafka_source.hpp"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <prometheus/registry.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "core/counts.hpp"
#include "ingest/kafka/kafka_handles.hpp"
#include "tests/ingest/kafka/mock_kafka.hpp"
#include "tests/support/process.hpp"

namespace obsgate::ingest {
namespace {

using namespace std::chrono_literals;
using Series = std::tuple<std::string, std::string, std::string>;  // ns, deployment, version

// Sums what a source delivers, per series. Thread-safe, as RecordSink must be.
class SummingSink : public RecordSink {
 public:
  void Deliver(std::string_view source, core::LocalCounts& counts,
               const IngestStats& stats) override {
    std::lock_guard lock(mu_);
    sources_.emplace(source);
    counts.Drain([this](const core::SeriesKey& k, const core::Counts& c) {
      series_[{k.ns, k.deployment, k.version}] += c;
      total_ += c;
    });
    stats_ += stats;
  }
  core::Counts Total() const {
    std::lock_guard lock(mu_);
    return total_;
  }
  std::uint64_t Lines() const { return Total().log_lines; }
  std::map<Series, core::Counts> BySeries() const {
    std::lock_guard lock(mu_);
    return series_;
  }
  core::Counts Of(const std::string& ns, const std::string& deployment,
                  const std::string& version) const {
    std::lock_guard lock(mu_);
    auto it = series_.find({ns, deployment, version});
    return it == series_.end() ? core::Counts{} : it->second;
  }
  IngestStats Stats() const {
    std::lock_guard lock(mu_);
    return stats_;
  }
  std::set<std::string> Sources() const {
    std::lock_guard lock(mu_);
    return sources_;
  }

 private:
  mutable std::mutex mu_;
  std::map<Series, core::Counts> series_;
  core::Counts total_;
  IngestStats stats_;
  std::set<std::string> sources_;
};

class KafkaSourceTest : public ::testing::Test {
 protected:
  core::KafkaSourceConfig Config(const std::string& group = "obsgate") const {
    core::KafkaSourceConfig c;
    c.brokers = kafka_.bootstraps();
    c.topics = {kTopic};
    c.group = group;
    c.format = "auto";
    c.commit_interval = 200ms;
    // Statistics (and with them the lag gauges) often, so tests need not wait long.
    c.properties = {{"statistics.interval.ms", "200"},
                    // The mock coordinator waits out departed members' sessions before a group
                    // settles; a short session keeps restarts and joins quick.
                    {"session.timeout.ms", "6000"},
                    {"heartbeat.interval.ms", "500"}};
    return c;
  }
  std::unique_ptr<Source> Make(const std::string& name, const core::KafkaSourceConfig& config) {
    auto source =
        MakeKafkaSource(name, config, ClassifyOptions{}, registry_, std::chrono::hours(1));
    EXPECT_TRUE(source.ok()) << source.error();
    if (!source.ok()) return nullptr;
    return std::move(source).value();
  }
  void SplitBetweenTwoMembers(const std::string& strategy);
  double Errors(const std::string& source, const std::string& reason) {
    return MetricValue(registry_, "obsgate_kafka_errors_total",
                       {{"source", source}, {"reason", reason}});
  }

  MockKafka kafka_;
  prometheus::Registry registry_;
};

TEST_F(KafkaSourceTest, CountsEveryMessageOfEveryPartition) {
  constexpr int kMessages = 400;
  for (int i = 0; i < kMessages; ++i) {
    int status = i % 4 == 0 ? 503 : 200;
    kafka_.Produce(R"({"level":"info","status":)" + std::to_string(status) + "}", i % kPartitions);
  }
  ASSERT_TRUE(kafka_.Flush());

  core::KafkaSourceConfig config = Config();
  config.labels = {"shop", "cart", "v1"};
  config.batch_size = 7;  // many batches, so offsets are stored and committed many times
  auto source = Make("kafka-1", config);
  SummingSink sink;
  ASSERT_TRUE(source->Start(sink).ok());
  ASSERT_TRUE(WaitFor([&] { return sink.Lines() >= kMessages; })) << sink.Lines();
  // Lag reaches 0 on all four partitions once librdkafka has seen where each ends.
  ASSERT_TRUE(WaitFor([&] {
    for (int p = 0; p < kPartitions; ++p) {
      if (MetricValue(
              registry_, "obsgate_kafka_consumer_lag",
              {{"source", "kafka-1"}, {"topic", kTopic}, {"partition", std::to_string(p)}}) != 0) {
        return false;
      }
    }
    return true;
  }));
  source->Stop();

  EXPECT_EQ(sink.BySeries().size(), 1u);
  core::Counts cart = sink.Of("shop", "cart", "v1");
  EXPECT_EQ(cart.log_lines, kMessages);
  EXPECT_EQ(cart.requests, kMessages);
  EXPECT_EQ(cart.errors, kMessages / 4);
  EXPECT_EQ(sink.Stats().lines, kMessages);
  EXPECT_EQ(sink.Sources(), std::set<std::string>{"kafka-1"});
  EXPECT_EQ(MetricValue(registry_, "obsgate_kafka_messages_total", {{"source", "kafka-1"}}),
            kMessages);
  // Stop leaves the group: the gauges of partitions it no longer reads go with it.
  EXPECT_EQ(MetricValue(registry_, "obsgate_kafka_consumer_lag", {{"source", "kafka-1"}}), -1);
}

TEST_F(KafkaSourceTest, AttributesFromHeadersThenJsonFieldsThenLabels) {
  // Headers win over the line's JSON fields, field by field.
  kafka_.Produce(R"({"status":500,"service.name":"ignored","service.version":"3.0"})", 0,
                 {{"x-ns", "prod"}, {"x-app", "auth"}});
  kafka_.Produce(R"({"status":200})", 1, {{"x-ns", "prod"}, {"x-app", "auth"}, {"x-ver", "v2"}});
  // No headers: the JSON fields name it.
  kafka_.Produce(R"({"status":404,"service.name":"billing","service.version":"1.4"})", 2);
  // Neither: the source's labels.
  kafka_.Produce("ERROR database unreachable", 3);
  // The default header names do not count once others are configured.
  kafka_.Produce(R"({"status":200})", 3, {{"deployment", "not-this"}});
  // A header value too long to be a Kubernetes name is no name.
  kafka_.Produce(R"({"status":200})", 0, {{"x-app", std::string(300, 'a')}});
  ASSERT_TRUE(kafka_.Flush());

  core::KafkaSourceConfig config = Config();
  config.header_names = {"x-ns", "x-app", "x-ver"};
  config.labels = {"", "fallback", ""};
  auto source = Make("kafka-attr", config);
  SummingSink sink;
  ASSERT_TRUE(source->Start(sink).ok());
  ASSERT_TRUE(WaitFor([&] { return sink.Lines() >= 6; }));
  source->Stop();

  std::map<Series, core::Counts> want = {
      {{"prod", "auth", "3.0"}, {1, 1, 1, 0}},
      {{"prod", "auth", "v2"}, {1, 0, 1, 0}},
      {{"", "billing", "1.4"}, {1, 0, 1, 0}},
      {{"", "fallback", ""}, {2, 0, 3, 1}},
  };
  EXPECT_EQ(sink.BySeries(), want);
}

TEST_F(KafkaSourceTest, RestartInTheSameGroupLosesNothing) {
  // Slow fetches (a few messages per 20 ms round trip), so the first source is stopped with most
  // of the topic still unread.
  constexpr int kMessages = 3000;
  for (int i = 0; i < kMessages; ++i) kafka_.Produce("GET /x HTTP/1.1\" 200 " + std::to_string(i));
  ASSERT_TRUE(kafka_.Flush());
  for (int id = 1; id <= 3; ++id) rd_kafka_mock_broker_set_rtt(kafka_.cluster(), id, 20);

  core::KafkaSourceConfig config = Config();
  config.batch_size = 50;
  config.commit_interval = std::chrono::hours(1);  // only the commit at stop counts here
  config.properties["max.partition.fetch.bytes"] = "512";
  config.properties["fetch.max.bytes"] = "1000";  // librdkafka wants >= message.max.bytes
  config.properties["message.max.bytes"] = "1000";

  SummingSink first_sink;
  auto first = Make("kafka-1", config);
  core::Status started = first->Start(first_sink);
  ASSERT_TRUE(started.ok()) << started.error();
  ASSERT_TRUE(WaitFor([&] { return first_sink.Lines() > 0; }));
  first->Stop();
  std::uint64_t first_lines = first_sink.Lines();
  for (int id = 1; id <= 3; ++id) rd_kafka_mock_broker_set_rtt(kafka_.cluster(), id, 0);

  SummingSink second_sink;
  auto second = Make("kafka-1", config);
  ASSERT_TRUE(second->Start(second_sink).ok());
  ASSERT_TRUE(WaitFor([&] { return first_lines + second_sink.Lines() >= kMessages; }, 120s))
      << first_lines << " + " << second_sink.Lines();
  second->Stop();

  std::uint64_t total = first_lines + second_sink.Lines();
  std::printf("restart: first counted %llu, second %llu, duplicates %lld\n",
              static_cast<unsigned long long>(first_lines),
              static_cast<unsigned long long>(second_sink.Lines()),
              static_cast<long long>(total) - kMessages);
  EXPECT_LT(first_lines, static_cast<std::uint64_t>(kMessages)) << "stopped too late to tell";
  // Stop delivered and committed everything the first one counted: no duplicates at all.
  EXPECT_EQ(total, static_cast<std::uint64_t>(kMessages));
}

TEST_F(KafkaSourceTest, BrokersDownAndUpAgainLosesNothing) {
  // Every message has its own deployment, so a lost or doubled one shows by name.
  auto produce = [&](int from, int to) {
    for (int i = from; i < to; ++i) {
      kafka_.Produce(R"({"status":200})", i % kPartitions,
                     {{"deployment", "d" + std::to_string(i)}});
    }
  };
  produce(0, 100);
  ASSERT_TRUE(kafka_.Flush());
  auto source = Make("kafka-1", Config());
  SummingSink sink;
  ASSERT_TRUE(source->Start(sink).ok());
  ASSERT_TRUE(WaitFor([&] { return sink.Lines() >= 100; }));

  kafka_.SetAllBrokers(false);
  produce(100, 200);  // held by the producer until the brokers return
  ASSERT_TRUE(WaitFor([&] { return Errors("kafka-1", "transport") > 0; }))
      << "the source should have noticed the outage";
  kafka_.SetAllBrokers(true);
  ASSERT_TRUE(kafka_.Flush());
  ASSERT_TRUE(WaitFor([&] { return sink.Lines() >= 200; })) << sink.Lines();
  source->Stop();

  std::map<Series, core::Counts> series = sink.BySeries();
  EXPECT_EQ(series.size(), 200u);
  for (int i = 0; i < 200; ++i) {
    EXPECT_EQ(sink.Of("", "d" + std::to_string(i), "").log_lines, 1u) << "d" << i;
  }
}

// Two members of one group, with the given partition.assignment.strategy (empty: the default,
// an eager one).
void KafkaSourceTest::SplitBetweenTwoMembers(const std::string& strategy) {
  core::KafkaSourceConfig config = Config("shared");
  if (!strategy.empty()) config.properties["partition.assignment.strategy"] = strategy;
  SummingSink sink_a, sink_b;
  auto a = Make("kafka-a", config);
  auto b = Make("kafka-b", config);
  ASSERT_TRUE(a->Start(sink_a).ok());
  ASSERT_TRUE(b->Start(sink_b).ok());

  // Warm-up traffic until both have counted something, that is until the group has settled on a
  // split. A rebalance on the way may count some warm-up messages twice: librdkafka's mock refuses
  // commits while the group joins (a real broker takes them), so they are kept out of the count.
  int warmup = 0;
  ASSERT_TRUE(WaitFor([&] {
    for (int p = 0; p < kPartitions; ++p, ++warmup) {
      kafka_.Produce(R"({"status":200})", p, {{"deployment", "warmup"}});
    }
    return sink_a.Lines() > 0 && sink_b.Lines() > 0;
  })) << "a="
      << sink_a.Lines() << " b=" << sink_b.Lines();

  // Each measured message has its own deployment, so a lost or doubled one shows by name.
  constexpr int kMessages = 400;
  for (int i = 0; i < kMessages; ++i) {
    kafka_.Produce(R"({"status":500})", i % kPartitions, {{"deployment", "m" + std::to_string(i)}});
  }
  ASSERT_TRUE(kafka_.Flush());
  auto measured = [](const SummingSink& sink) {
    std::uint64_t n = 0;
    for (const auto& [series, counts] : sink.BySeries()) {
      if (std::get<1>(series) != "warmup") n += counts.log_lines;
    }
    return n;
  };
  ASSERT_TRUE(WaitFor([&] { return measured(sink_a) + measured(sink_b) >= kMessages; }));
  a->Stop();
  b->Stop();

  std::uint64_t warm_counted =
      sink_a.Of("", "warmup", "").log_lines + sink_b.Of("", "warmup", "").log_lines;
  std::printf("split: a counted %llu, b counted %llu of %d; warm-up %llu of %d\n",
              static_cast<unsigned long long>(measured(sink_a)),
              static_cast<unsigned long long>(measured(sink_b)), kMessages,
              static_cast<unsigned long long>(warm_counted), warmup);
  EXPECT_GT(measured(sink_a), 0u);
  EXPECT_GT(measured(sink_b), 0u);
  EXPECT_GE(warm_counted, static_cast<std::uint64_t>(warmup));
  for (int i = 0; i < kMessages; ++i) {
    std::string d = "m" + std::to_string(i);
    EXPECT_EQ(sink_a.Of("", d, "").errors + sink_b.Of("", d, "").errors, 1u) << d;
  }
}

TEST_F(KafkaSourceTest, TwoMembersOfOneGroupSplitThePartitions) { SplitBetweenTwoMembers(""); }

TEST_F(KafkaSourceTest, TwoMembersSplitThePartitionsCooperatively) {
  SplitBetweenTwoMembers("cooperative-sticky");
}

TEST_F(KafkaSourceTest, CountsWhatKcatProduces) {
  if (!testing::HaveProgram("kcat")) GTEST_SKIP() << "kcat is not installed";
  std::string input;
  constexpr int kLines = 50;
  for (int i = 0; i < kLines; ++i) {
    // key:value, as -K: splits them; every seventh request failed.
    input += "pod-" + std::to_string(i % 3) + ":" + R"({"status":)" + (i % 7 == 0 ? "502" : "200") +
             R"(,"msg":"served"})" + "\n";
  }
  testing::RunResult run =
      testing::RunCommand({"kcat", "-P", "-b", kafka_.bootstraps(), "-t", kTopic, "-K:", "-H",
                           "namespace=web", "-H", "deployment=frontend", "-H", "version=v7"},
                          input);
  ASSERT_EQ(run.exit_code, 0) << run.output;

  auto source = Make("kafka-1", Config());
  SummingSink sink;
  ASSERT_TRUE(source->Start(sink).ok());
  ASSERT_TRUE(WaitFor([&] { return sink.Lines() >= kLines; }));
  source->Stop();

  std::map<Series, core::Counts> want = {{{"web", "frontend", "v7"}, {kLines, 8, kLines, 0}}};
  EXPECT_EQ(sink.BySeries(), want);
}

TEST_F(KafkaSourceTest, RejectsMalformedMessagesAndKeepsCounting) {
  kafka_.ProduceBytes(nullptr, 0, 0);  // no value at all
  kafka_.Produce("", 0);
  kafka_.Produce("\n", 0);
  kafka_.Produce(std::string("\x08\x96\x01\x00\x12\x04", 6), 1);  // protobuf, not a log line
  kafka_.Produce(std::string(3'000'000, 'x'), 2);
  kafka_.Produce(R"({"log":"torn in ha)", 3);
  for (int i = 0; i < 10; ++i) {
    kafka_.Produce(
        R"({"log":"{\"status\":503}\n","stream":"stdout","time":"2024-05-01T10:00:00Z"})",
        i % kPartitions);
  }
  ASSERT_TRUE(kafka_.Flush());

  core::KafkaSourceConfig config = Config();
  config.format = "docker";
  auto source = Make("kafka-1", config);
  SummingSink sink;
  ASSERT_TRUE(source->Start(sink).ok());
  ASSERT_TRUE(WaitFor([&] {
    return MetricValue(registry_, "obsgate_kafka_messages_total", {{"source", "kafka-1"}}) >= 16;
  }));
  source->Stop();

  EXPECT_EQ(sink.Of("", "unknown", "").log_lines, 10u);
  EXPECT_EQ(sink.Of("", "unknown", "").errors, 10u);
  EXPECT_EQ(sink.BySeries().size(), 1u);
  EXPECT_EQ(Errors("kafka-1", "empty"), 3);
  EXPECT_EQ(Errors("kafka-1", "binary"), 1);
  EXPECT_EQ(Errors("kafka-1", "too_large"), 1);
  EXPECT_EQ(Errors("kafka-1", "malformed"), 1);
  EXPECT_EQ(sink.Stats().docker_errors, 1u);
  EXPECT_EQ(MetricValue(registry_, "obsgate_kafka_messages_total", {{"source", "kafka-1"}}), 16);
}

TEST_F(KafkaSourceTest, JoinsPartialCriLinesPerPartition) {
  // Two messages split in pieces, interleaved over two partitions: each joins within its own.
  kafka_.Produce("2024-05-01T10:00:00.000Z stdout P {\"status\":", 0);
  kafka_.Produce("2024-05-01T10:00:00.000Z stdout P {\"level\":\"error\",", 1);
  kafka_.Produce("2024-05-01T10:00:00.000Z stdout F 503}", 0);
  kafka_.Produce("2024-05-01T10:00:00.000Z stdout F \"msg\":\"x\"}", 1);
  ASSERT_TRUE(kafka_.Flush());

  core::KafkaSourceConfig config = Config();
  config.format = "cri";
  config.labels = {"", "api", ""};
  auto source = Make("kafka-1", config);
  SummingSink sink;
  ASSERT_TRUE(source->Start(sink).ok());
  ASSERT_TRUE(WaitFor([&] { return sink.Lines() >= 2; }));
  source->Stop();

  EXPECT_EQ(sink.Of("", "api", ""), (core::Counts{1, 1, 2, 1}));
}

TEST_F(KafkaSourceTest, StopReturnsWhileTheBrokersAreDown) {
  kafka_.Produce("hello", 0);
  ASSERT_TRUE(kafka_.Flush());
  core::KafkaSourceConfig config = Config();
  // With the coordinator gone, librdkafka's handle takes up to the session timeout to end after
  // obsgate's own bounded waits; a short one keeps the test short.
  config.properties["session.timeout.ms"] = "6000";
  config.properties["socket.timeout.ms"] = "5000";
  // No periodic commit before the brokers go: the one at Stop is the one that must fail.
  config.commit_interval = std::chrono::hours(1);
  auto source = Make("kafka-1", config);
  SummingSink sink;
  ASSERT_TRUE(source->Start(sink).ok());
  ASSERT_TRUE(WaitFor([&] { return sink.Lines() >= 1; }));
  kafka_.SetAllBrokers(false);
  auto began = std::chrono::steady_clock::now();
  source->Stop();  // bounded waits for the commit and the group leave
  source->Stop();  // idempotent
  std::printf("stop with brokers down took %lld ms\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::steady_clock::now() - began)
                                         .count()));
  EXPECT_EQ(sink.Lines(), 1u);
  EXPECT_GE(Errors("kafka-1", "commit"), 1) << "the failed commit should be counted";
  kafka_.SetAllBrokers(true);
}

// Configuration problems surface before any thread starts, naming the property.
class KafkaConfigTest : public ::testing::Test {
 protected:
  core::Result<std::unique_ptr<Source>> Make(std::map<std::string, std::string> properties) {
    core::KafkaSourceConfig c;
    c.brokers = "127.0.0.1:1";
    c.topics = {kTopic};
    c.properties = std::move(properties);
    return MakeKafkaSource("kafka-1", c, ClassifyOptions{}, registry_, std::chrono::hours(1));
  }
  prometheus::Registry registry_;
};

TEST_F(KafkaConfigTest, UnknownPropertyIsNamed) {
  auto source = Make({{"sesion.timeout.ms", "6000"}});
  ASSERT_FALSE(source.ok());
  EXPECT_NE(source.error().find("\"sesion.timeout.ms\""), std::string::npos) << source.error();
  EXPECT_NE(source.error().find("kafka-1"), std::string::npos) << source.error();
}

TEST_F(KafkaConfigTest, InvalidValueIsExplained) {
  auto source = Make({{"session.timeout.ms", "soon"}});
  ASSERT_FALSE(source.ok());
  EXPECT_NE(source.error().find("\"session.timeout.ms\""), std::string::npos) << source.error();
  EXPECT_NE(source.error().find("Invalid value"), std::string::npos) << source.error();
}

TEST_F(KafkaConfigTest, SecretValuesAreNeverShown) {
  auto unknown = Make({{"sasl.secret.phrase", "hunter2"}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().find("sasl.secret.phrase"), std::string::npos) << unknown.error();
  EXPECT_EQ(unknown.error().find("hunter2"), std::string::npos) << unknown.error();

  // A bad key only shows when the client is created, at Start.
  auto bad_key = Make({{"security.protocol", "ssl"},
                       {"ssl.key.pem", "hunter2"},
                       {"ssl.certificate.pem", "hunter2"}});
  ASSERT_TRUE(bad_key.ok()) << bad_key.error();
  SummingSink sink;
  core::Status started = (*bad_key)->Start(sink);
  ASSERT_FALSE(started.ok());
  EXPECT_NE(started.error().find("kafka-1"), std::string::npos) << started.error();
  EXPECT_EQ(started.error().find("hunter2"), std::string::npos) << started.error();
}

TEST_F(KafkaConfigTest, OffsetHandlingCannotBeOverridden) {
  for (const char* key : {"enable.auto.commit", "enable.auto.offset.store", "group.id"}) {
    auto source = Make({{key, "true"}});
    ASSERT_FALSE(source.ok()) << key;
    EXPECT_NE(source.error().find(key), std::string::npos) << source.error();
  }
  EXPECT_TRUE(Make({{"auto.offset.reset", "latest"}, {"session.timeout.ms", "6000"}}).ok());
}

}  // namespace
}  // namespace obsgate::ingest
