// One gateway's ingest side for tests and benchmarks of several replicas in one process: a Kafka
// source delivering to the real sink (app::Ingest) over a window store of its own.
#pragma once

#include <prometheus/registry.h>

#include <map>
#include <memory>
#include <string>

#include "app/ingest.hpp"
#include "core/clock.hpp"
#include "core/result.hpp"
#include "ingest/kafka/kafka_source.hpp"
#include "rules/window_store.hpp"
#include "tests/ingest/kafka/mock_kafka.hpp"

namespace obsgate::ingest {

struct Replica {
  core::SystemClock clock;
  prometheus::Registry registry;
  rules::WindowStore store{rules::WindowOptions{}, clock};
  app::Ingest ingest{store, registry};
  std::unique_ptr<Source> source;

  core::Status Start(const core::KafkaSourceConfig& config) {
    auto made =
        MakeKafkaSource("kafka-1", config, ClassifyOptions{}, registry, store.options().horizon);
    if (!made) return core::Error{made.error()};
    source = std::move(made).value();
    return source->Start(ingest);
  }
  // The counts of every series of namespace `ns`, by deployment.
  std::map<std::string, core::Counts> Totals(const std::string& ns) {
    std::map<std::string, core::Counts> out;
    store.ForEach([&](const rules::WindowStore::SeriesRef& s) {
      if (s.key().ns == ns) out[s.key().deployment] += s.total();
    });
    return out;
  }
  double Metric(const std::string& name, const std::map<std::string, std::string>& labels = {}) {
    return MetricValue(registry, name, labels);
  }
  // How many of the topic's first `partitions` partitions this replica owns.
  int OwnedPartitions(int partitions = kPartitions) {
    int owned = 0;
    for (int p = 0; p < partitions; ++p) {
      if (Metric("obsgate_kafka_owned_partitions", {{"partition", std::to_string(p)}}) > 0) {
        ++owned;
      }
    }
    return owned;
  }
};

}  // namespace obsgate::ingest
