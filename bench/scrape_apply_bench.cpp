// The per-sample work of one scrape, apart from the fetch: TargetCounter::Apply with the default
// selectors over the body exposition_bench parses, scraped again and again as a steady target is,
// against the parse alone of the same body (the floor).
// Usage: scrape_apply_bench [SERIES] [ROUNDS]   (default 100000 series, best of 20 rounds)
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "bench/corpus.hpp"
#include "bench/exposition_count.hpp"
#include "core/config.hpp"
#include "core/counts.hpp"
#include "ingest/scrape/exposition.hpp"
#include "ingest/scrape/scrape_target.hpp"

namespace {

using obsgate::ingest::ExpositionFormat;

std::shared_ptr<const obsgate::ingest::SeriesSelector> Selector(const std::string& text) {
  auto s = obsgate::ingest::SeriesSelector::Parse(text);
  if (!s.ok()) std::abort();
  return std::make_shared<obsgate::ingest::SeriesSelector>(std::move(s).value());
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t series = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 100'000;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 20;
  const std::string body = obsgate::bench::GenerateExposition(series);
  obsgate::core::ScrapeSourceConfig config;
  obsgate::ingest::TargetCounter counter(config, {}, Selector(config.requests),
                                         Selector(config.errors));
  obsgate::core::LocalCounts counts;
  obsgate::ingest::ScrapeOutcome first = counter.Apply(body, ExpositionFormat::kText, counts);
  if (!first.ok) {
    std::fprintf(stderr, "%s\n", first.error.c_str());
    return 1;
  }
  obsgate::bench::CountSamples c;
  const double parse = 1e3 * obsgate::bench::BestSeconds(rounds, [&] {
                         c = obsgate::bench::CountSamples{};
                         if (!obsgate::ingest::ParseExposition(body, ExpositionFormat::kText, c))
                           std::abort();
                       });
  const double apply = 1e3 * obsgate::bench::BestSeconds(rounds, [&] {
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
