// Exposition parse throughput on a generated /metrics body of 100,000 series with label sets as
// Kubernetes services expose them, against a newline scan of the same bytes (the floor).
// Usage: exposition_bench [SERIES] [--write FILE]   (--write saves the body for serving)
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "bench/corpus.hpp"
#include "bench/exposition_count.hpp"
#include "ingest/scrape/exposition.hpp"

namespace {

using obsgate::ingest::ExpositionFamily;
using obsgate::ingest::ExpositionSample;

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
  std::string body = obsgate::bench::GenerateExposition(series);
  if (write != nullptr) {
    std::ofstream(write, std::ios::binary) << body;
    std::printf("wrote %zu bytes to %s\n", body.size(), write);
    return 0;
  }
  std::size_t lines = 0;
  double scan = obsgate::bench::BestSeconds(5, [&] {
    lines = 0;
    for (const char* p = body.data();
         (p = static_cast<const char*>(std::memchr(p, '\n', body.data() + body.size() - p))) !=
         nullptr;
         ++p) {
      ++lines;
    }
  });
  obsgate::bench::CountSamples c;
  double parse = obsgate::bench::BestSeconds(5, [&] {
    c = obsgate::bench::CountSamples{};
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
