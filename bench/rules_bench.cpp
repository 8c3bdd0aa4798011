// Rule evaluation: 5 rules over 100,000 series per tick, against a baseline in the same run of
// reading each series' windows once (what any evaluator must pay).
// Usage: rules_bench [series] (default 100000)
#include <prometheus/registry.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "rules/rule_engine.hpp"

int main(int argc, char** argv) {
  using namespace obsgate;
  using namespace std::chrono_literals;
  using Clock = std::chrono::steady_clock;
  const int series = argc > 1 ? std::atoi(argv[1]) : 100'000;
  core::FakeClock clock;
  rules::WindowStore store(rules::WindowOptions{}, clock);
  // Three versions per deployment, so baselines exist; about 2% errors. Traffic every 10s for
  // 400s, the newest version arriving after 300s.
  std::vector<core::SeriesKey> keys;
  for (int i = 0; i < series; ++i) {
    keys.push_back({"ns" + std::to_string(i % 20), "deploy" + std::to_string(i / 3),
                    "v" + std::to_string(i % 3)});
  }
  core::LocalCounts local;
  for (int second = 0; second < 400; second += 10) {
    for (int i = 0; i < series; ++i) {
      if (second < 300 && i % 3 == 2) continue;
      core::Counts& c = local.At(keys[i].ns, keys[i].deployment, keys[i].version);
      c.requests = 100;
      c.errors = (second / 10 + i) % 2;
    }
    store.Merge(local);
    clock.Advance(10s);
    store.Tick();
  }
  prometheus::Registry registry;
  std::vector<rules::RuleSpec> specs;
  const char* exprs[] = {
      "error_rate(5m) > 1% and requests(5m) >= 100 and worse_than_baseline(5m, 0.01)",
      "error_rate(5m) > 5% and requests(5m) >= 100",
      "burn_rate(1h, 99.9%) > 14.4 and burn_rate(5m, 99.9%) > 14.4",
      "burn_rate(6h, 99.9%) > 6 and burn_rate(30m, 99.9%) > 6",
      "log_error_ratio(15m) > 10% and log_lines(15m) > 1000"};
  for (int i = 0; i < 5; ++i) {
    rules::RuleSpec r;
    r.name = "Rule" + std::to_string(i);
    r.expr = exprs[i];
    specs.push_back(r);
  }
  // The 6h window needs a 6h horizon; evaluate it against the 1h store clamped instead.
  specs[3].expr = "burn_rate(1h, 99.9%) > 6 and burn_rate(30m, 99.9%) > 6";
  auto engine = rules::RuleEngine::Create(specs, store, clock, registry).value();

  double best_baseline = 1e9, best_eval = 1e9;
  for (int run = 0; run < 5; ++run) {
    auto t0 = Clock::now();
    double sink = 0;
    store.ForEach([&](const rules::WindowStore::SeriesRef& s) {
      sink += s.Window(5min).requests + s.Window(1h).errors + s.Window(30min).errors +
              s.Window(15min).log_lines;
    });
    best_baseline =
        std::min(best_baseline, std::chrono::duration<double>(Clock::now() - t0).count());
    auto t1 = Clock::now();
    engine->Evaluate();
    best_eval = std::min(best_eval, std::chrono::duration<double>(Clock::now() - t1).count());
    if (sink < 0) std::printf("impossible\n");
  }
  std::printf("series: %zu, rules: 5\n", store.size());
  std::printf("baseline (read 4 windows per series):  %7.1f ms\n", best_baseline * 1e3);
  std::printf("evaluate 5 rules over every series:     %7.1f ms per tick (ratio %.2f)\n",
              best_eval * 1e3, best_eval / best_baseline);
  std::printf("alerts active: %zu\n", engine->Alerts().size());
  return 0;
}
