// Exposition parse throughput on a generated /metrics body of 100,000 series with label sets as
// Kubernetes services expose them, against a newline scan of the same bytes (the floor).
// Usage: exposition_bench [SERIES] [--write FILE]   (--write saves the body for serving)
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>

#include "ingest/scrape/exposition.hpp"

namespace {

using obsgate::ingest::ExpositionFamily;
using obsgate::ingest::ExpositionSample;

// Fixed seed, so every run parses the same bytes.
std::string Generate(std::size_t series) {
  std::mt19937_64 rng(42);
  const char* methods[] = {"GET", "POST", "PUT", "DELETE"};
  const char* codes[] = {"200", "201", "204", "301", "400", "404", "429", "500", "503"};
  const char* les[] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"};
  std::string out;
  out.reserve(series * 190);
  std::size_t n = 0;
  out +=
      "# HELP http_requests_total Requests served, by method, path and status.\n"
      "# TYPE http_requests_total counter\n";
  std::uint64_t value = 0;
  for (; n < series * 6 / 10; ++n) {
    char line[320];
    std::snprintf(line, sizeof line,
                  "http_requests_total{namespace=\"prod\",deployment=\"svc-%03zu\",pod=\"svc-%03zu-"
                  "7d9c8b6f5-x%04zu\",method=\"%s\",path=\"/api/v1/items/%zu\",code=\"%s\"} %lu\n",
                  n % 300, n % 300, n % 9973, methods[rng() % 4], n % 50, codes[rng() % 9],
                  static_cast<unsigned long>(value += rng() % 1000));
    out += line;
  }
  out +=
      "# HELP http_request_duration_seconds Latency.\n"
      "# TYPE http_request_duration_seconds histogram\n";
  for (std::size_t i = 0; n < series; ++i) {
    for (const char* le : les) {
      if (n++ >= series) break;
      char line[320];
      std::snprintf(
          line, sizeof line,
          "http_request_duration_seconds_bucket{namespace=\"prod\",deployment=\"svc-%03zu\","
          "pod=\"svc-%03zu-7d9c8b6f5-x%04zu\",le=\"%s\"} %lu\n",
          i % 300, i % 300, i % 9973, le, static_cast<unsigned long>(rng() % 100000));
      out += line;
    }
  }
  return out;
}

// Owned by the bench thread.
class Count final : public obsgate::ingest::ExpositionVisitor {
 public:
  void OnFamily(const ExpositionFamily&) override {}
  bool OnSample(const ExpositionFamily&, const ExpositionSample& s) override {
    ++samples;
    sum += s.value;
    return true;
  }
  std::size_t samples = 0;
  double sum = 0;
};

template <typename F>
double BestSeconds(F&& f) {
  double best = 1e9;
  for (int i = 0; i < 5; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t series = 100'000;
  const char* write = nullptr;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--write") == 0 && i + 1 < argc) {
      write = argv[++i];
    } else {
      series = std::stoul(argv[i]);
    }
  }
  std::string body = Generate(series);
  if (write != nullptr) {
    std::ofstream(write, std::ios::binary) << body;
    std::printf("wrote %zu bytes to %s\n", body.size(), write);
    return 0;
  }
  std::size_t lines = 0;
  double scan = BestSeconds([&] {
    lines = 0;
    for (const char* p = body.data();
         (p = static_cast<const char*>(std::memchr(p, '\n', body.data() + body.size() - p))) !=
         nullptr;
         ++p) {
      ++lines;
    }
  });
  Count c;
  double parse = BestSeconds([&] {
    c = Count{};
    if (!obsgate::ingest::ParseExposition(body, obsgate::ingest::ExpositionFormat::kText, c)) {
      std::abort();
    }
  });
  double mb = static_cast<double>(body.size()) / 1e6;
  std::printf("body: %zu samples, %.1f MB, %zu lines\n", c.samples, mb, lines);
  std::printf("(a) memchr line scan:        %8.0f MB/s\n", mb / scan);
  std::printf("(b) obsgate parse, 1 thread: %8.0f MB/s  %6.2f M samples/s\n", mb / parse,
              static_cast<double>(c.samples) / parse / 1e6);
  std::printf("ratio b/a: %.3f\n", scan / parse);
  return 0;
}
