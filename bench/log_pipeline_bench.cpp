// Log pipeline throughput against simdjson on the same bytes, and memory per series.
// Usage: log_pipeline_bench [lines] (default 1000000)
#include <simdjson.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "bench/corpus.hpp"
#include "core/clock.hpp"
#include "ingest/pipeline.hpp"
#include "rules/window_store.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

long RssKiB() {
  std::ifstream in("/proc/self/status");
  std::string key;
  long value = 0;
  while (in >> key) {
    if (key == "VmRSS:") {
      in >> value;
      return value;
    }
    in.ignore(1 << 16, '\n');
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace obsgate;
  bench::CorpusShape shape;
  if (argc > 1) shape.lines = std::strtoull(argv[1], nullptr, 10);
  std::vector<bench::LogFile> files = bench::GenerateDockerCorpus(shape);
  std::string all;
  std::size_t lines = 0;
  for (const auto& f : files) {
    all += f.bytes;
    for (char c : f.bytes) lines += c == '\n';
  }
  double mb = static_cast<double>(all.size()) / 1e6;
  std::printf("corpus: %zu lines, %.1f MB, %zu files, %.0f bytes/line\n", lines, mb, files.size(),
              static_cast<double>(all.size()) / static_cast<double>(lines));

  // (a) simdjson iterate_many over the same NDJSON, reading each document's "log" string.
  double best_a = 1e9;
  std::size_t log_bytes = 0;
  simdjson::padded_string padded(all);
  for (int run = 0; run < 3; ++run) {
    simdjson::ondemand::parser parser;
    auto start = Clock::now();
    simdjson::ondemand::document_stream docs;
    if (parser.iterate_many(padded, 1 << 20).get(docs)) return 1;
    log_bytes = 0;
    for (auto doc : docs) {
      std::string_view log;
      if (doc["log"].get_string().get(log) == simdjson::SUCCESS) log_bytes += log.size();
    }
    best_a = std::min(best_a, Seconds(start, Clock::now()));
  }

  // (b) obsgate's pipeline on one thread: frame, join, classify, attribute, count, merge.
  double best_b = 1e9;
  std::uint64_t counted = 0, requests = 0, errors = 0;
  for (int run = 0; run < 3; ++run) {
    core::FakeClock clock;
    rules::WindowStore store(rules::WindowOptions{}, clock);
    auto counter = ingest::LineCounter::Create(ingest::ClassifyOptions{}).value();
    auto start = Clock::now();
    for (const auto& f : files) {
      ingest::LogStream stream(ingest::Format::kDocker, f.path);
      std::string_view rest = f.bytes;
      while (!rest.empty()) {
        const char* nl = static_cast<const char*>(std::memchr(rest.data(), '\n', rest.size()));
        std::size_t len = nl ? static_cast<std::size_t>(nl - rest.data()) : rest.size();
        stream.Feed(rest.substr(0, len), *counter);
        rest.remove_prefix(nl ? len + 1 : len);
      }
      store.Merge(counter->counts());
    }
    best_b = std::min(best_b, Seconds(start, Clock::now()));
    counted = counter->stats().lines;
    requests = errors = 0;
    store.ForEach([&](const rules::WindowStore::SeriesRef& s) {
      requests += s.total().requests;
      errors += s.total().errors;
    });
  }
  std::printf("(a) simdjson iterate_many + \"log\": %8.1f MB/s %10.0f lines/s\n", mb / best_a,
              static_cast<double>(lines) / best_a);
  std::printf("(b) obsgate pipeline, 1 thread:      %8.1f MB/s %10.0f lines/s\n", mb / best_b,
              static_cast<double>(lines) / best_b);
  std::printf("ratio b/a: %.2f   (counted %llu lines, %llu requests, %llu errors = %.2f%%)\n",
              best_a / best_b, static_cast<unsigned long long>(counted),
              static_cast<unsigned long long>(requests), static_cast<unsigned long long>(errors),
              100.0 * static_cast<double>(errors) / static_cast<double>(requests));

  // Memory per live series: 100k series in a one-hour window store.
  files.clear();
  files.shrink_to_fit();
  all.clear();
  all.shrink_to_fit();
  {
    core::FakeClock clock;
    long before = RssKiB();
    rules::WindowStore store(rules::WindowOptions{}, clock);
    core::LocalCounts local;
    for (int i = 0; i < 100'000; ++i) {
      local
          .At("namespace-" + std::to_string(i % 50), "deployment-" + std::to_string(i / 3),
              "7d9c8b6f" + std::to_string(i % 3))
          .requests = 1;
      if (local.size() == 1000) store.Merge(local);
    }
    store.Merge(local);
    for (int s = 0; s < 3000; s += 60) {
      clock.Advance(std::chrono::seconds(60));
      store.Tick();
    }
    long after = RssKiB();
    std::printf(
        "memory per series at %zu series: %.0f bytes (store's own count), %.0f bytes "
        "(process RSS growth)\n",
        store.size(), static_cast<double>(store.MemoryBytes()) / 1e5,
        static_cast<double>(after - before) * 1024.0 / 1e5);
  }
  return 0;
}
