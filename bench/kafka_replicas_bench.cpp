// Kafka ingest by one replica against two replicas of one consumer group, on librdkafka's mock
// cluster (real protocol, in-process brokers), in the same run: docker json-file lines keyed by
// namespace/deployment, each replica a real source counting into its own window store through
// the gateway's sink. Throughput is measured from the moment every partition has an owner to the
// moment every line is counted, so the group's join is not in it.
//
//   build/bench/kafka_replicas_bench [lines] [partitions]
//
// The mock keeps about 5 MB of each partition (older records are deleted as a real broker's
// retention would), so what is consumed is what the partitions still hold, read from their
// watermarks; many partitions keep that close to what was produced.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/ingest/kafka/mock_kafka.hpp"
#include "tests/ingest/kafka/replica.hpp"

namespace {

using namespace obsgate;
using Clock = std::chrono::steady_clock;

constexpr int kDeployments = 64;

// CPU time of the whole process (brokers, clients and replicas alike), in seconds.
double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

struct Run {
  double lines_per_second = 0;
  double cores = 0;  // CPU seconds per second while measuring
  std::uint64_t counted = 0;
  bool whole = false;
};

// `replicas` members of group `group` read the whole topic; lines per second once all own.
Run Consume(const ingest::MockKafka& kafka, const std::string& group, int replicas, int partitions,
            std::uint64_t lines) {
  core::KafkaSourceConfig c;
  c.brokers = kafka.bootstraps();
  c.topics = {ingest::kTopic};
  c.group = group;
  c.format = "docker";
  c.batch_size = 10000;
  // Fetch again at once: the mock broker answers each fetch with what it has.
  c.properties = {{"session.timeout.ms", "6000"},
                  {"heartbeat.interval.ms", "500"},
                  {"statistics.interval.ms", "60000"},
                  {"fetch.error.backoff.ms", "10"},
                  {"fetch.wait.max.ms", "0"},
                  {"queued.min.messages", "10000000"},
                  {"queued.max.messages.kbytes", "2097151"}};
  // The replicas start together, as a rollout's pods do.
  std::vector<std::unique_ptr<ingest::Replica>> rs;
  for (int i = 0; i < replicas; ++i) rs.push_back(std::make_unique<ingest::Replica>());
  for (auto& r : rs) {
    if (core::Status s = r->Start(c); !s) {
      std::fprintf(stderr, "%s\n", s.error().c_str());
      std::exit(2);
    }
  }
  auto total = [&] {
    std::uint64_t n = 0;
    for (auto& r : rs) {
      for (const auto& [d, counts] : r->Totals("shop")) n += counts.log_lines;
    }
    return n;
  };
  // Every partition owned, and by every replica some: the group has settled.
  Clock::time_point give_up = Clock::now() + std::chrono::seconds(60);
  for (;;) {
    int owned = 0;
    bool each = true;
    for (auto& r : rs) {
      int o = r->OwnedPartitions(partitions);
      owned += o;
      each = each && o > 0;
    }
    if ((owned == partitions && each) || Clock::now() > give_up) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  Clock::time_point start = Clock::now();
  double cpu_start = CpuSeconds();
  std::uint64_t at_start = total();
  give_up = start + std::chrono::seconds(300);
  std::uint64_t n = at_start;
  // BENCH_TRACE=1: lines counted every 250 ms, to see how evenly they arrive.
  const bool trace = std::getenv("BENCH_TRACE") != nullptr;
  Clock::time_point next_trace = start;
  while ((n = total()) < lines && Clock::now() < give_up) {
    if (trace && Clock::now() >= next_trace) {
      std::fprintf(stderr, "%.2f s: %llu\n",
                   std::chrono::duration<double>(Clock::now() - start).count(),
                   static_cast<unsigned long long>(n));
      next_trace += std::chrono::milliseconds(250);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  double cpu = CpuSeconds() - cpu_start;
  for (auto& r : rs) r->source->Stop();
  Run run;
  run.counted = total();
  run.whole = run.counted == lines;
  run.lines_per_second = static_cast<double>(n - at_start) / seconds;
  run.cores = cpu / seconds;
  return run;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t produced = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1'000'000;
  int partitions = argc > 2 ? std::atoi(argv[2]) : 64;
  ingest::MockKafka kafka(1, partitions, 100000);
  std::vector<std::string> values;
  for (int i = 0; i < 100; ++i) {
    std::string app = std::string(R"({\"level\":\")") + (i % 50 == 0 ? "error" : "info") +
                      R"(\",\"status\":)" + (i % 50 == 0 ? "503" : "200") +
                      R"(,\"msg\":\"GET /api/items/)" + std::to_string(i) +
                      R"( served\",\"duration_ms\":12})";
    values.push_back(R"({"log":")" + app +
                     R"(\n","stream":"stdout","time":"2026-12-04T10:00:00.000000001Z"})" + "\n");
  }
  Clock::time_point produce_start = Clock::now();
  for (std::uint64_t i = 0; i < produced; ++i) {
    std::string deployment = "svc-" + std::to_string(i % kDeployments);
    kafka.ProduceKeyed("shop/" + deployment, values[i % values.size()],
                       {{"namespace", "shop"}, {"deployment", deployment}, {"version", "v1"}});
  }
  if (!kafka.Flush()) {
    std::fprintf(stderr, "producing failed\n");
    return 2;
  }
  std::uint64_t lines = kafka.Retained(partitions);
  std::printf("produced %llu lines into %d partitions in %.1f s; they hold %llu\n",
              static_cast<unsigned long long>(produced), partitions,
              std::chrono::duration<double>(Clock::now() - produce_start).count(),
              static_cast<unsigned long long>(lines));
  Run one = Consume(kafka, "one", 1, partitions, lines);
  Run two = Consume(kafka, "two", 2, partitions, lines);
  std::printf("one replica: %.0f lines/s (%llu counted), %.2f cores busy\n", one.lines_per_second,
              static_cast<unsigned long long>(one.counted), one.cores);
  std::printf("two replicas: %.0f lines/s (%llu counted), %.2f cores busy\n", two.lines_per_second,
              static_cast<unsigned long long>(two.counted), two.cores);
  std::printf("two / one: %.2f\n", two.lines_per_second / one.lines_per_second);
  if (!one.whole || !two.whole) {
    std::fprintf(stderr, "not every line was counted exactly once\n");
    return 1;
  }
  return 0;
}
