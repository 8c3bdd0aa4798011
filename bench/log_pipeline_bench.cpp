// Log pipeline throughput against simdjson on the same bytes, and memory per series.
// Usage: log_pipeline_bench [lines] (default 1000000)
//        log_pipeline_bench --write DIR [lines]: only write the corpus, each file under the name
//        the kubelet gives it, and all of it in DIR/all.log
#include <simdjson.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>

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

// Memory per live series: 100k series in a one-hour window store, in a process of its own so the
// heap the throughput runs leave behind does not move the figure.
int MemoryPerSeries() {
  using namespace obsgate;
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

// The corpus as files, for `obsgate analyze` (bench/analyze_bench.sh).
int WriteCorpus(const std::string& dir, std::size_t lines) {
  using namespace obsgate;
  bench::CorpusShape shape;
  shape.lines = lines;
  std::ofstream all(dir + "/all.log", std::ios::binary);
  for (const bench::LogFile& f : bench::GenerateDockerCorpus(shape)) {
    std::ofstream(dir + f.path.substr(f.path.rfind('/')), std::ios::binary) << f.bytes;
    all << f.bytes;
  }
  return all ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace obsgate;
  if (argc > 2 && std::string_view(argv[1]) == "--write") {
    return WriteCorpus(argv[2], argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 1'000'000);
  }
  std::fflush(stdout);
  if (pid_t child = fork(); child == 0) {
    return MemoryPerSeries();
  } else if (int status = 0; child < 0 || waitpid(child, &status, 0) != child ||
                             !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "the memory measurement did not finish\n");
    return 1;
  }
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

  // The CRI corpus: each docker line's time, stream and message, as containerd writes them.
  std::vector<bench::LogFile> cri_files;
  std::size_t cri_bytes = 0;
  {
    ingest::DockerParser parser;
    for (const auto& f : files) {
      bench::LogFile c{f.path, {}};
      std::string_view rest = f.bytes;
      while (!rest.empty()) {
        std::size_t len = rest.find('\n');
        if (len == std::string_view::npos) len = rest.size();
        ingest::ContainerLine line;
        if (parser.Parse(rest.substr(0, len), line) == ingest::FrameError::kNone) {
          c.bytes.append(line.time);
          c.bytes += line.stream == ingest::Stream::kStderr ? " stderr " : " stdout ";
          c.bytes += line.partial ? "P " : "F ";
          c.bytes.append(line.message);
          c.bytes += '\n';
        }
        rest.remove_prefix(std::min(rest.size(), len + 1));
      }
      cri_bytes += c.bytes.size();
      cri_files.push_back(std::move(c));
    }
  }
  const double cri_mb = static_cast<double>(cri_bytes) / 1e6;

  // (a) simdjson iterate_many over the same NDJSON, reading each document's "log" string.
  simdjson::padded_string padded(all);
  auto simdjson_run = [&]() -> double {
    simdjson::ondemand::parser parser;
    auto start = Clock::now();
    simdjson::ondemand::document_stream docs;
    if (parser.iterate_many(padded, 1 << 20).get(docs)) return 1e9;
    std::size_t log_bytes = 0;
    for (auto doc : docs) {
      std::string_view log;
      if (doc["log"].get_string().get(log) == simdjson::SUCCESS) log_bytes += log.size();
    }
    const double seconds = Seconds(start, Clock::now());
    return log_bytes > 0 ? seconds : 1e9;
  };

  // (b) obsgate's pipeline on one thread: frame, join, classify, attribute, count, merge. The same
  // messages framed as CRI lines (c) go the same way.
  struct Run {
    double seconds = 1e9;
    std::uint64_t counted = 0, requests = 0, errors = 0;
  };
  auto pipeline = [](const std::vector<bench::LogFile>& corpus, ingest::Format format) {
    Run r;
    core::FakeClock clock;
    rules::WindowStore store(rules::WindowOptions{}, clock);
    auto counter = ingest::LineCounter::Create(ingest::ClassifyOptions{}).value();
    auto start = Clock::now();
    for (const auto& f : corpus) {
      ingest::LogStream stream(format, f.path);
      std::string_view rest = f.bytes;
      while (!rest.empty()) {
        const char* nl = static_cast<const char*>(std::memchr(rest.data(), '\n', rest.size()));
        std::size_t len = nl ? static_cast<std::size_t>(nl - rest.data()) : rest.size();
        stream.Feed(rest.substr(0, len), *counter);
        rest.remove_prefix(nl ? len + 1 : len);
      }
      store.Merge(counter->counts());
    }
    r.seconds = Seconds(start, Clock::now());
    r.counted = counter->stats().lines;
    store.ForEach([&](const rules::WindowStore::SeriesRef& s) {
      r.requests += s.total().requests;
      r.errors += s.total().errors;
    });
    return r;
  };

  // Best of five rounds, each running (a), (b) and (c) in turn, so that a neighbour busy for a
  // while slows all three rather than one.
  double best_a = 1e9;
  Run docker, cri;
  for (int round = 0; round < 5; ++round) {
    best_a = std::min(best_a, simdjson_run());
    const Run d = pipeline(files, ingest::Format::kDocker);
    if (d.seconds < docker.seconds) docker = d;
    const Run c = pipeline(cri_files, ingest::Format::kCri);
    if (c.seconds < cri.seconds) cri = c;
  }

  if (best_a >= 1e9) {
    std::fprintf(stderr, "simdjson iterate_many read no log string from the corpus\n");
    return 1;
  }
  std::printf("(a) simdjson iterate_many + \"log\": %8.1f MB/s %10.0f lines/s\n", mb / best_a,
              static_cast<double>(lines) / best_a);
  std::printf("(b) obsgate docker, 1 thread:       %8.1f MB/s %10.0f lines/s   ratio b/a %.2f\n",
              mb / docker.seconds, static_cast<double>(lines) / docker.seconds,
              best_a / docker.seconds);
  std::printf(
      "(c) obsgate CRI, 1 thread:          %8.1f MB/s %10.0f lines/s   %.0f MB of CRI lines\n",
      cri_mb / cri.seconds, static_cast<double>(lines) / cri.seconds, cri_mb);
  std::printf("counted %llu lines, %llu requests, %llu errors = %.2f%%\n",
              static_cast<unsigned long long>(docker.counted),
              static_cast<unsigned long long>(docker.requests),
              static_cast<unsigned long long>(docker.errors),
              100.0 * static_cast<double>(docker.errors) / static_cast<double>(docker.requests));
  // The figures mean something only if every line was counted, the same way in both framings.
  if (docker.counted != lines || cri.counted != lines || cri.requests != docker.requests ||
      cri.errors != docker.errors || docker.requests == 0) {
    std::fprintf(stderr,
                 "counts disagree: %zu lines; docker counted %llu (%llu requests, %llu errors), "
                 "CRI %llu (%llu, %llu)\n",
                 lines, static_cast<unsigned long long>(docker.counted),
                 static_cast<unsigned long long>(docker.requests),
                 static_cast<unsigned long long>(docker.errors),
                 static_cast<unsigned long long>(cri.counted),
                 static_cast<unsigned long long>(cri.requests),
                 static_cast<unsigned long long>(cri.errors));
    return 1;
  }

  return 0;
}
