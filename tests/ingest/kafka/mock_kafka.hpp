// librdkafka's mock cluster (real protocol, in-process brokers) and what tests and benchmarks of
// the Kafka source need around it.
#pragma once

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <prometheus/registry.h>

#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ingest/kafka/kafka_handles.hpp"

namespace obsgate::ingest {

using namespace std::chrono_literals;
using Headers = std::vector<std::pair<std::string, std::string>>;

inline constexpr int kPartitions = 4;
inline constexpr const char* kTopic = "logs";

template <typename F>
inline bool WaitFor(F done, std::chrono::milliseconds timeout = 60s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

// The value of one series of a metric family in `registry`; -1 when it is not there.
inline double MetricValue(prometheus::Registry& registry, const std::string& name,
                          const std::map<std::string, std::string>& labels) {
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      std::map<std::string, std::string> have;
      for (const prometheus::ClientMetric::Label& l : metric.label) have[l.name] = l.value;
      bool match = true;
      for (const auto& [k, v] : labels) match = match && have.count(k) != 0 && have[k] == v;
      if (!match) continue;
      return family.type == prometheus::MetricType::Gauge ? metric.gauge.value
                                                          : metric.counter.value;
    }
  }
  return -1;
}

// A cluster of in-process brokers with one topic, and a producer writing to it over TCP.
class MockKafka {
 public:
  // `batch` messages at most per produce request: small, so a consumer limited to small fetches
  // really gets few messages each time; a benchmark wants them large.
  explicit MockKafka(int brokers = 3, int partitions = kPartitions, int batch = 10) {
    char errstr[512];
    ConfHandle conf(rd_kafka_conf_new());
    // The handle the mock cluster hangs off; it sends nothing itself.
    holder_.reset(rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), errstr, sizeof errstr));
    if (holder_) conf.release();
    cluster_ = rd_kafka_mock_cluster_new(holder_.get(), brokers);
    bootstraps_ = rd_kafka_mock_cluster_bootstraps(cluster_);
    rd_kafka_mock_topic_create(cluster_, kTopic, partitions, 1);

    ConfHandle pconf(rd_kafka_conf_new());
    rd_kafka_conf_set(pconf.get(), "bootstrap.servers", bootstraps_.c_str(), errstr, sizeof errstr);
    rd_kafka_conf_set(pconf.get(), "message.max.bytes", "4000000", errstr, sizeof errstr);
    rd_kafka_conf_set(pconf.get(), "linger.ms", "1", errstr, sizeof errstr);
    rd_kafka_conf_set(pconf.get(), "batch.num.messages", std::to_string(batch).c_str(), errstr,
                      sizeof errstr);
    // A batch as large as a request may be: the mock answers a fetch with one batch per partition.
    rd_kafka_conf_set(pconf.get(), "batch.size", "3900000", errstr, sizeof errstr);
    rd_kafka_conf_set_opaque(pconf.get(), this);
    rd_kafka_conf_set_dr_msg_cb(pconf.get(),
                                [](rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
                                  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR)
                                    ++static_cast<MockKafka*>(opaque)->failed_;
                                });
    producer_.reset(rd_kafka_new(RD_KAFKA_PRODUCER, pconf.get(), errstr, sizeof errstr));
    if (producer_) pconf.release();
  }
  ~MockKafka() {
    producer_.reset();
    rd_kafka_mock_cluster_destroy(cluster_);
  }

  const std::string& bootstraps() const { return bootstraps_; }
  rd_kafka_mock_cluster_t* cluster() { return cluster_; }

  // value == nullptr produces a message without a value (a tombstone); an empty key, one
  // without a key.
  void ProduceBytes(const char* value, std::size_t len, int partition = RD_KAFKA_PARTITION_UA,
                    const Headers& headers = {}, const std::string& key = {}) {
    rd_kafka_headers_t* hdrs = rd_kafka_headers_new(headers.size());
    for (const auto& [k, v] : headers) {
      rd_kafka_header_add(hdrs, k.data(), static_cast<ssize_t>(k.size()), v.data(),
                          static_cast<ssize_t>(v.size()));
    }
    rd_kafka_resp_err_t err;
    do {
      err = rd_kafka_producev(
          producer_.get(), RD_KAFKA_V_TOPIC(kTopic), RD_KAFKA_V_PARTITION(partition),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_VALUE(const_cast<char*>(value), len),
          RD_KAFKA_V_KEY(key.empty() ? nullptr : key.data(), key.size()), RD_KAFKA_V_HEADERS(hdrs),
          RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) rd_kafka_poll(producer_.get(), 10);
    } while (err == RD_KAFKA_RESP_ERR__QUEUE_FULL);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_headers_destroy(hdrs);  // only a successful producev takes them
      ++failed_;                       // Flush says so
      return;
    }
    rd_kafka_poll(producer_.get(), 0);
  }
  void Produce(const std::string& value, int partition = RD_KAFKA_PARTITION_UA,
               const Headers& headers = {}) {
    ProduceBytes(value.data(), value.size(), partition, headers);
  }
  // Into the partition the key hashes to, as a producer keying by namespace/deployment does.
  void ProduceKeyed(const std::string& key, const std::string& value, const Headers& headers) {
    ProduceBytes(value.data(), value.size(), RD_KAFKA_PARTITION_UA, headers, key);
  }
  // Records the first `partitions` partitions still hold, by their watermarks.
  std::uint64_t Retained(int partitions) {
    std::uint64_t n = 0;
    for (int p = 0; p < partitions; ++p) {
      std::int64_t low = 0, high = 0;
      if (rd_kafka_query_watermark_offsets(producer_.get(), kTopic, p, &low, &high, 10000) ==
          RD_KAFKA_RESP_ERR_NO_ERROR) {
        n += static_cast<std::uint64_t>(high - low);
      }
    }
    return n;
  }
  // Waits until every message is acknowledged; true when none failed.
  bool Flush() {
    if (rd_kafka_flush(producer_.get(), 60000) != RD_KAFKA_RESP_ERR_NO_ERROR) return false;
    return failed_.load() == 0;
  }
  void SetAllBrokers(bool up, int brokers = 3) {
    for (int id = 1; id <= brokers; ++id) {
      if (up) {
        rd_kafka_mock_broker_set_up(cluster_, id);
      } else {
        rd_kafka_mock_broker_set_down(cluster_, id);
      }
    }
  }

 private:
  KafkaHandle holder_;
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
  std::string bootstraps_;
  KafkaHandle producer_;
  std::atomic<int> failed_{0};
};

}  // namespace obsgate::ingest
