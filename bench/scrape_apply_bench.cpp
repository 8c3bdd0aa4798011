// The per-sample work of one scrape, apart from the fetch: TargetCounter::Apply with the default
// selectors over a body saved by `exposition_bench 100000 --write FILE`, scraped again and again
// as a steady target is, against the parse alone of the same body (the floor).
// Usage: scrape_apply_bench FILE [ROUNDS]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include "core/config.hpp"
#include "core/counts.hpp"
#include "ingest/scrape/exposition.hpp"
#include "ingest/scrape/scrape_target.hpp"

namespace {

using obsgate::ingest::ExpositionFormat;

// Owned by the bench thread.
class Count final : public obsgate::ingest::ExpositionVisitor {
 public:
  void OnFamily(const obsgate::ingest::ExpositionFamily&) override {}
  bool OnSample(const obsgate::ingest::ExpositionFamily&,
                const obsgate::ingest::ExpositionSample&) override {
    ++samples;
    return true;
  }
  std::size_t samples = 0;
};

std::shared_ptr<const obsgate::ingest::SeriesSelector> Selector(const std::string& text) {
  auto s = obsgate::ingest::SeriesSelector::Parse(text);
  if (!s.ok()) std::abort();
  return std::make_shared<obsgate::ingest::SeriesSelector>(std::move(s).value());
}

// The fastest of `rounds` runs, in milliseconds: the others met the second core's other work.
template <typename F>
double BestMs(int rounds, F&& f) {
  double best = 1e9;
  for (int i = 0; i < rounds; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(
        best,
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: scrape_apply_bench FILE [ROUNDS]\n");
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  int rounds = argc > 2 ? std::atoi(argv[2]) : 20;
  obsgate::core::ScrapeSourceConfig config;
  obsgate::ingest::TargetCounter counter(config, {}, Selector(config.requests),
                                         Selector(config.errors));
  obsgate::core::LocalCounts counts;
  obsgate::ingest::ScrapeOutcome first = counter.Apply(body, ExpositionFormat::kText, counts);
  if (!first.ok) {
    std::fprintf(stderr, "%s\n", first.error.c_str());
    return 1;
  }
  Count c;
  double parse = BestMs(rounds, [&] {
    c = Count{};
    if (!obsgate::ingest::ParseExposition(body, ExpositionFormat::kText, c)) std::abort();
  });
  double apply = BestMs(rounds, [&] {
    counts.Drain([](const auto&, const auto&) {});
    if (!counter.Apply(body, ExpositionFormat::kText, counts).ok) std::abort();
  });
  std::printf("body: %zu samples, %.1f MB; %zu series counted\n", c.samples,
              static_cast<double>(body.size()) / 1e6, counts.size());
  // Whole: Apply saw every sample the parse did, and counted what the selectors matched.
  if (first.samples != c.samples || counts.empty()) {
    std::fprintf(stderr, "Apply saw %llu samples and counted %zu series\n",
                 static_cast<unsigned long long>(first.samples), counts.size());
    return 1;
  }
  std::printf("(a) parse alone:          %7.2f ms\n", parse);
  std::printf("(b) TargetCounter::Apply: %7.2f ms\n", apply);
  return 0;
}
