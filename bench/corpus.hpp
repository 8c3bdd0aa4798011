#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace obsgate::bench {

// One container's log file of a generated cluster.
struct LogFile {
  std::string path;   // /var/log/containers/<pod>_<ns>_<container>-<id>.log
  std::string bytes;  // docker json-file lines
};

struct CorpusShape {
  std::uint64_t seed = 42;
  int deployments = 300;
  int versions = 3;               // per deployment
  std::size_t lines = 1'000'000;  // in all
};

// A deterministic cluster's logs: JSON application logs (60%), access logs (25%) and plain lines
// (15%) nested in docker json-file lines of about 200 bytes, 1% to 5% errors per deployment.
std::vector<LogFile> GenerateDockerCorpus(const CorpusShape& shape);

// A /metrics body of `series` samples with label sets as Kubernetes services expose them: 60%
// request counters, the rest latency histogram buckets. The same bytes on every run.
std::string GenerateExposition(std::size_t series);

// The fastest of `rounds` runs of f, in seconds: the others met the second core's other work.
template <typename F>
double BestSeconds(int rounds, F&& f) {
  double best = 1e9;
  for (int i = 0; i < rounds; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

}  // namespace obsgate::bench
