#include "rules/rule_engine.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace obsgate::rules {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

class Recorder final : public AlertListener {
 public:
  void OnAlert(const Alert& a, AlertState from) override {
    events.push_back(a.series.version + " " + AlertStateName(from) + "->" +
                     AlertStateName(a.state));
    last = a;
  }
  std::vector<std::string> events;
  Alert last;
};

RuleSpec Spec(std::string expr, core::Duration for_ = 0s, core::Duration keep = 0s) {
  RuleSpec r;
  r.name = "Test";
  r.expr = std::move(expr);
  r.for_ = for_;
  r.keep_firing_for = keep;
  r.labels = {{"severity", "critical"}};
  r.summary = "{{ deployment }} {{ version }}: {{ value | pct }} errors";
  return r;
}

class RuleEngineTest : public ::testing::Test {
 protected:
  void Make(std::vector<RuleSpec> specs) {
    auto e = RuleEngine::Create(std::move(specs), store_, clock_, registry_);
    ASSERT_TRUE(e) << e.error();
    engine_ = std::move(e).value();
    engine_->AddListener(&recorder_);
  }
  // `seconds` seconds of traffic for a version: per second, n requests of which e fail. The
  // engine evaluates after every tick.
  void Traffic(const char* version, int seconds, std::uint64_t n, std::uint64_t e,
               const char* deployment = "auth") {
    for (int i = 0; i < seconds; ++i) {
      core::Counts& c = local_.At("shop", deployment, version);
      c.requests += n;
      c.errors += e;
      store_.Merge(local_);
      clock_.Advance(1s);
      store_.Tick();
      engine_->Evaluate();
    }
  }
  AlertState State(const char* version) {
    for (const Alert& a : engine_->Alerts()) {
      if (a.series.version == version) return a.state;
    }
    return AlertState::kInactive;
  }

  core::FakeClock clock_;
  WindowStore store_{WindowOptions{}, clock_};
  prometheus::Registry registry_;
  core::LocalCounts local_;
  std::unique_ptr<RuleEngine> engine_;
  Recorder recorder_;
};

TEST_F(RuleEngineTest, ForHoldsAnAlertPendingUntilExactlyItsDuration) {
  Make({Spec("error_rate(10s) > 1%", 30s)});
  Traffic("v1", 1, 100, 10);
  EXPECT_EQ(State("v1"), AlertState::kPending);
  Traffic("v1", 29, 100, 10);  // 29s after it became active
  EXPECT_EQ(State("v1"), AlertState::kPending);
  Traffic("v1", 1, 100, 10);  // 30s: fires, as Prometheus does when activeAt + for <= now
  EXPECT_EQ(State("v1"), AlertState::kFiring);
  EXPECT_THAT(recorder_.events,
              ::testing::ElementsAre("v1 inactive->pending", "v1 pending->firing"));
  EXPECT_EQ(recorder_.last.summary, "auth v1: 10.00% errors");
}

TEST_F(RuleEngineTest, ForZeroFiresAtOnceAndResolvesAtOnce) {
  Make({Spec("errors(1s) > 0")});
  Traffic("v1", 1, 10, 1);
  EXPECT_EQ(State("v1"), AlertState::kFiring);
  Traffic("v1", 1, 10, 0);
  EXPECT_EQ(State("v1"), AlertState::kInactive);
  EXPECT_THAT(recorder_.events,
              ::testing::ElementsAre("v1 inactive->firing", "v1 firing->resolved"));
}

TEST_F(RuleEngineTest, FlappingRestartsThePendingPeriod) {
  Make({Spec("errors(1s) > 0", 5s)});
  Traffic("v1", 4, 10, 1);
  Traffic("v1", 1, 10, 0);  // one clean second: back to inactive
  EXPECT_EQ(State("v1"), AlertState::kInactive);
  Traffic("v1", 5, 10, 1);  // pending again from the start: 4s held, not 5
  EXPECT_EQ(State("v1"), AlertState::kPending);
  Traffic("v1", 1, 10, 1);
  EXPECT_EQ(State("v1"), AlertState::kFiring);
  EXPECT_THAT(recorder_.events,
              ::testing::ElementsAre("v1 inactive->pending", "v1 pending->inactive",
                                     "v1 inactive->pending", "v1 pending->firing"));
}

TEST_F(RuleEngineTest, KeepFiringForHoldsThroughShortRecoveriesAndResolvesAtItsEdge) {
  Make({Spec("errors(1s) > 0", 0s, 10s)});
  Traffic("v1", 1, 10, 1);
  ASSERT_EQ(State("v1"), AlertState::kFiring);
  Traffic("v1", 9, 10, 0);  // 9s since it last held: still firing
  EXPECT_EQ(State("v1"), AlertState::kFiring);
  Traffic("v1", 1, 10, 0);  // 10s: resolved
  EXPECT_EQ(State("v1"), AlertState::kInactive);
  Traffic("v1", 1, 10, 1);  // and fires again as a fresh alert
  EXPECT_EQ(State("v1"), AlertState::kFiring);
  EXPECT_THAT(recorder_.events, ::testing::ElementsAre("v1 inactive->firing", "v1 firing->resolved",
                                                       "v1 resolved->firing"));
}

const char* kBaselineRule =
    "error_rate(5m) > 1% and requests(5m) >= 100 and worse_than_baseline(5m, 0.01)";

TEST_F(RuleEngineTest, ANewVersionWorseThanItsBaselineFires) {
  Make({Spec(kBaselineRule)});
  Traffic("v1", 300, 50, 0);  // v1 first: about 0.2% errors
  for (int i = 0; i < 60; ++i) Traffic("v1", 5, 100, i % 2 == 0 ? 1 : 0);
  Traffic("v2", 120, 50, 0);
  for (int i = 0; i < 60; ++i) Traffic("v2", 1, 100, 5);  // 5%
  EXPECT_EQ(State("v2"), AlertState::kFiring);
  EXPECT_EQ(State("v1"), AlertState::kInactive);
  EXPECT_EQ(recorder_.last.baseline_version, "v1");
  bool has_p = false;
  for (const Measurement& m : recorder_.last.measurements) {
    if (m.name == "p_value(5m, 0.01)") has_p = m.value && *m.value < 0.01;
  }
  EXPECT_TRUE(has_p);
}

TEST_F(RuleEngineTest, ASlightlyWorseVersionDoesNotFire) {
  Make({Spec("error_rate(5m) > 0.2% and requests(5m) >= 100 and worse_than_baseline(5m, 0.01)")});
  // Baseline 0.2%, new version 0.25%: not significant at 1%.
  for (int i = 0; i < 300; ++i) Traffic("v1", 1, 100, i % 5 == 0 ? 1 : 0);
  for (int i = 0; i < 300; ++i) Traffic("v2", 1, 100, i % 4 == 0 ? 1 : 0);
  EXPECT_EQ(State("v2"), AlertState::kInactive);
  EXPECT_TRUE(recorder_.events.empty()) << recorder_.events.front();
}

TEST_F(RuleEngineTest, TooLittleTrafficDoesNotFire) {
  Make({Spec("error_rate(5m) > 1% and requests(5m) >= 100")});
  Traffic("v1", 1, 3, 1);  // 33% of 3 requests
  Traffic("v1", 30, 0, 0);
  EXPECT_TRUE(recorder_.events.empty());
}

TEST_F(RuleEngineTest, AnOutageHittingEveryVersionAlikeDoesNotFireTheBaselineRule) {
  Make({Spec(kBaselineRule)});
  Traffic("v1", 300, 100, 0);
  // Both versions serve; a dependency fails and 20% of everyone's requests fail.
  for (int i = 0; i < 300; ++i) {
    core::Counts& a = local_.At("shop", "auth", "v1");
    a.requests += 100;
    a.errors += 20;
    core::Counts& b = local_.At("shop", "auth", "v2");
    b.requests += 100;
    b.errors += 20;
    store_.Merge(local_);
    clock_.Advance(1s);
    store_.Tick();
    engine_->Evaluate();
  }
  EXPECT_EQ(State("v2"), AlertState::kInactive);
  EXPECT_EQ(State("v1"), AlertState::kInactive);
}

TEST_F(RuleEngineTest, MatchLimitsARuleToNamedDeployments) {
  RuleSpec r = Spec("errors(1s) > 0");
  r.match_deployments = {"cart"};
  Make({r});
  Traffic("v1", 1, 10, 5, "auth");
  EXPECT_TRUE(recorder_.events.empty());
  Traffic("v1", 1, 10, 5, "cart");
  EXPECT_EQ(recorder_.events.size(), 1u);
}

TEST_F(RuleEngineTest, ApiAndMetricsShowAlertsWithTheirValues) {
  Make({Spec("error_rate(10s) > 1% and requests(10s) >= 10", 5s)});
  Traffic("v1", 2, 100, 10);
  std::string alerts = engine_->AlertsJson();
  EXPECT_THAT(alerts,
              HasSubstr("\"labels\":{\"alertname\":\"Test\",\"namespace\":\"shop\","
                        "\"deployment\":\"auth\",\"version\":\"v1\",\"severity\":\"critical\"}"));
  EXPECT_THAT(alerts, HasSubstr("\"state\":\"pending\""));
  EXPECT_THAT(alerts, HasSubstr("\"value\":0.1,\"measurements\":{\"error_rate(10s)\":0.1,"
                                "\"requests(10s)\":200}"));
  std::string rules = engine_->RulesJson();
  EXPECT_THAT(rules, HasSubstr("\"name\":\"Test\",\"query\":\"error_rate(10s) > 1% and "
                               "requests(10s) >= 10\",\"duration\":5,"));
  EXPECT_THAT(rules, HasSubstr("\"health\":\"ok\",\"state\":\"pending\""));
  std::string metrics = prometheus::TextSerializer().Serialize(registry_.Collect());
  EXPECT_THAT(metrics, HasSubstr("obsgate_alerts{alertname=\"Test\",state=\"pending\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("obsgate_alerts{alertname=\"Test\",state=\"firing\"} 0"));
  EXPECT_THAT(metrics, HasSubstr("obsgate_rule_evaluation_duration_seconds_count 2"));
}

TEST_F(RuleEngineTest, NoDataIsNoAlertAndNoNaN) {
  Make({Spec("error_rate(10s) > 1%")});
  Traffic("v1", 5, 0, 0);
  EXPECT_TRUE(recorder_.events.empty());
  EXPECT_THAT(engine_->AlertsJson(), ::testing::Not(HasSubstr("nan")));
}

TEST(RuleEngineCreate, NamesTheRuleAndWhatIsWrong) {
  core::FakeClock clock;
  WindowStore store(WindowOptions{}, clock);
  prometheus::Registry registry;
  auto bad = RuleEngine::Create({Spec("error_rate(5m) >")}, store, clock, registry);
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error(), HasSubstr("rule Test: column 17: the expression ends too soon"));
  auto long_window = RuleEngine::Create({Spec("error_rate(6h) > 1%")}, store, clock, registry);
  EXPECT_THAT(long_window.error(),
              HasSubstr("a window of 6h is longer than windows.horizon (1h); raise the horizon"));
  RuleSpec t = Spec("errors(1m) > 0");
  t.summary = "{{ deployment | upper }}";
  EXPECT_THAT(RuleEngine::Create({t}, store, clock, registry).error(),
              HasSubstr("unknown filter \"upper\""));
  t.summary = "{{ deploymnet }}";
  EXPECT_THAT(RuleEngine::Create({t}, store, clock, registry).error(),
              HasSubstr("unknown variable \"deploymnet\""));
  t.summary = "{{ deployment ";
  EXPECT_THAT(RuleEngine::Create({t}, store, clock, registry).error(), HasSubstr("unclosed {{"));
}

TEST(RuleEngineRender, FillsVariablesAndFilters) {
  Alert a;
  a.rule = "R";
  a.series = {"shop", "auth", "v2"};
  a.baseline_version = "v1";
  a.value = 0.048;
  a.measurements = {{"error_rate(5m)", 0.048},
                    {"baseline.error_rate(5m)", 0.002},
                    {"requests(5m)", 1234},
                    {"p_value(5m, 0.01)", std::nullopt}};
  EXPECT_EQ(RuleEngine::Render("{{ namespace }}/{{deployment}} {{ version }} vs "
                               "{{ baseline_version }}: {{ value | pct }} (was "
                               "{{ baseline.error_rate | pct }}), {{ requests }} requests, p="
                               "{{ p_value | humanize }}",
                               a),
            "shop/auth v2 vs v1: 4.80% (was 0.20%), 1234 requests, p=no data");
}

}  // namespace
}  // namespace obsgate::rules
