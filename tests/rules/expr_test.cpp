#include "rules/expr.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>

namespace obsgate::rules {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

// A series whose every window holds the same counts (enough for expression tests).
class FakeSeries final : public SeriesData {
 public:
  FakeSeries(double requests, double errors, double lines = 0, double error_lines = 0)
      : c_{requests, errors, lines, error_lines} {}
  WindowCounts Window(core::Duration) const override { return c_; }
  std::optional<core::Duration> Age() const override { return age; }
  WindowCounts WindowEndingAgo(core::Duration, core::Duration) const override { return c_; }
  std::optional<core::Duration> Idle() const override { return core::Duration(0); }
  std::optional<core::Duration> age = 10min;

 private:
  WindowCounts c_;
};

Expression Compile(std::string_view text) {
  auto e = Expression::Compile(text);
  EXPECT_TRUE(e) << e.error();
  return e ? std::move(e).value() : Expression::Compile("1 > 0").value();
}

std::string CompileError(std::string_view text) {
  auto e = Expression::Compile(text);
  return e ? "compiled" : e.error();
}

TEST(Expression, TheClassicRule) {
  Expression e = Compile("error_rate(5m) > 1% and requests(5m) >= 100");
  EXPECT_TRUE(e.Evaluate(FakeSeries(1000, 50), nullptr).result);
  EXPECT_FALSE(e.Evaluate(FakeSeries(1000, 10), nullptr).result);  // exactly 1% is not above
  EXPECT_FALSE(e.Evaluate(FakeSeries(3, 1), nullptr).result);      // too little traffic
  Evaluation ev = e.Evaluate(FakeSeries(1000, 50), nullptr);
  EXPECT_DOUBLE_EQ(*ev.value, 0.05);
  ASSERT_EQ(ev.measurements.size(), 2u);
  EXPECT_EQ(ev.measurements[0].name, "error_rate(5m)");
  EXPECT_EQ(ev.measurements[1].name, "requests(5m)");
  EXPECT_DOUBLE_EQ(*ev.measurements[1].value, 1000);
  EXPECT_EQ(e.LongestWindow(), 5min);
}

TEST(Expression, ArithmeticPrecedenceAndLogic) {
  FakeSeries s(200, 10, 400, 8);
  EXPECT_TRUE(Compile("errors(1m) * 2 + 1 == 21").Evaluate(s, nullptr).result);
  EXPECT_TRUE(Compile("-errors(1m) < 0 and not (requests(1m) < 100)").Evaluate(s, nullptr).result);
  EXPECT_TRUE(
      Compile("log_errors(1m) / log_lines(1m) == log_error_ratio(1m)").Evaluate(s, nullptr).result);
  EXPECT_TRUE(Compile("requests(1m) > 1000 or errors(1m) >= 10").Evaluate(s, nullptr).result);
  EXPECT_TRUE(Compile("burn_rate(1h, 99.9%) > 14.4").Evaluate(s, nullptr).result);  // 5% / 0.1%
  EXPECT_TRUE(Compile("age() < 30m").Evaluate(s, nullptr).result);
  EXPECT_TRUE(Compile("age() > 1h30m - 1h25m").Evaluate(s, nullptr).result);
  EXPECT_TRUE(Compile("0.5 < .75").Evaluate(s, nullptr).result);
}

TEST(Expression, NoDataMakesComparisonsFalseNeverNaN) {
  FakeSeries idle(0, 0);
  idle.age = std::nullopt;
  Evaluation ev = Compile("error_rate(5m) > 1%").Evaluate(idle, nullptr);
  EXPECT_FALSE(ev.result);
  EXPECT_TRUE(ev.no_data);
  EXPECT_FALSE(ev.value.has_value());
  EXPECT_TRUE(Compile("not (error_rate(5m) > 1%)").Evaluate(idle, nullptr).result);
  EXPECT_FALSE(Compile("errors(5m) / requests(5m) >= 0").Evaluate(idle, nullptr).result);
  EXPECT_FALSE(Compile("age() > 0s").Evaluate(idle, nullptr).result);
  EXPECT_FALSE(Compile("baseline.error_rate(5m) < 1").Evaluate(FakeSeries(10, 1), nullptr).result);
}

TEST(Expression, ComparesWithTheBaseline) {
  FakeSeries bad(2000, 100);   // 5%
  FakeSeries slight(2000, 5);  // 0.25%
  FakeSeries old(2000, 4);     // 0.2%
  Expression e =
      Compile("worse_than_baseline(5m, 0.01) and error_rate(5m) > 2 * baseline.error_rate(5m)");
  EXPECT_TRUE(e.Evaluate(bad, &old).result);
  EXPECT_FALSE(e.Evaluate(slight, &old).result);
  EXPECT_FALSE(e.Evaluate(bad, nullptr).result);  // no baseline: no data
  Evaluation ev = e.Evaluate(bad, &old);
  ASSERT_GE(ev.measurements.size(), 4u);
  EXPECT_EQ(ev.measurements[0].name, "baseline.error_rate(5m)");
  EXPECT_DOUBLE_EQ(*ev.measurements[0].value, 0.002);
  EXPECT_EQ(ev.measurements[1].name, "baseline.requests(5m)");
  EXPECT_DOUBLE_EQ(*ev.measurements[1].value, 2000);
  EXPECT_EQ(ev.measurements[2].name, "baseline.errors(5m)");
  EXPECT_EQ(ev.measurements[3].name, "p_value(5m, 0.01)");
  EXPECT_LT(*ev.measurements[3].value, 1e-6);
  // An outage that hits both versions alike is not the new version's fault.
  FakeSeries outage_new(2000, 400), outage_old(2000, 410);
  EXPECT_FALSE(Compile("worse_than_baseline(5m, 0.01)").Evaluate(outage_new, &outage_old).result);
}

TEST(WorseProportion, PooledZAndExactTests) {
  // 5% of 2000 against 0.2% of 2000: overwhelming.
  EXPECT_LT(*WorseProportionPValue(100, 2000, 4, 2000), 1e-10);
  // Equal rates: p about one half.
  EXPECT_NEAR(*WorseProportionPValue(50, 1000, 50, 1000), 0.5, 0.01);
  // 1 error in 3 requests against 0 in 3: Fisher's exact, P(X >= 1) = 0.5.
  EXPECT_NEAR(*WorseProportionPValue(1, 3, 0, 3), 0.5, 1e-9);
  // 3 of 3 against 0 of 3: 1/20.
  EXPECT_NEAR(*WorseProportionPValue(3, 3, 0, 3), 0.05, 1e-9);
  EXPECT_EQ(WorseProportionPValue(1, 0, 0, 10), std::nullopt);
  EXPECT_EQ(*WorseProportionPValue(0, 100, 0, 100), 1.0);
}

TEST(SequentialWorse, SpendsLessOfAlphaOnEachLaterLook) {
  // At one second, the p-value itself is spent twice over; at 20 s, 2 t (1 + ln t)^2 times.
  EXPECT_NEAR(*SequentialWorsePValue(3, 3, 0, 3, 1s), 0.1, 1e-9);
  const double t = 20, spend = 2 * t * (1 + std::log(t)) * (1 + std::log(t));
  EXPECT_NEAR(*SequentialWorsePValue(100, 2000, 4, 2000, 20s),
              *WorseProportionPValue(100, 2000, 4, 2000) * spend, 1e-15);
  EXPECT_EQ(*SequentialWorsePValue(50, 1000, 50, 1000, 1h), 1.0);
  EXPECT_EQ(SequentialWorsePValue(1, 0, 0, 10, 10s), std::nullopt);
  // Half of the first 100 requests failing against 0.2%: conclusive at once.
  EXPECT_LT(*SequentialWorsePValue(50, 100, 0, 100, 5s), 1e-10);
}

// A healthy release watched once a second for 20 minutes, 400 times over: the one-look test
// repeated rolls many back; the sequential test keeps to its promise of at most 1%.
TEST(SequentialWorse, RepeatedLooksAtAHealthyReleaseKeepTheFalseRollbackRate) {
  std::mt19937_64 rng(7);
  const double p = 0.008, per_second = 20;
  int one_look = 0, sequential = 0;
  const int releases = 400;
  for (int r = 0; r < releases; ++r) {
    double e1 = 0, n1 = 0, e2 = 0, n2 = 0;
    bool once = false, seq = false;
    for (int s = 1; s <= 1200 && !(once && seq); ++s) {
      std::binomial_distribution<int> errors(static_cast<int>(per_second), p);
      n1 += per_second;
      e1 += errors(rng);
      n2 += per_second;
      e2 += errors(rng);
      if (n1 < 100) continue;
      once = once || *WorseProportionPValue(e1, n1, e2, n2) < 0.01;
      seq = seq || *SequentialWorsePValue(e1, n1, e2, n2, core::Duration(s * 1000)) <= 0.01;
    }
    one_look += once;
    sequential += seq;
  }
  EXPECT_GT(one_look, releases / 20) << "peeking once a second inflates a 1% test";
  EXPECT_LE(sequential, releases / 100) << sequential << " of " << releases << " rolled back";
}

TEST(Expression, SequentialWorseThanBaselineComparesSinceTheRelease) {
  FakeSeries bad(100, 50), old(100, 0), same(2000, 20), same_old(2000, 20);
  bad.age = 5s;
  Expression e = Compile("sequential_worse_than_baseline(1%)");
  EXPECT_TRUE(e.Evaluate(bad, &old).result);
  EXPECT_FALSE(e.Evaluate(same, &same_old).result);
  EXPECT_FALSE(e.Evaluate(bad, nullptr).result);  // no baseline: no data
  Evaluation ev = e.Evaluate(bad, &old);
  std::map<std::string, std::optional<double>> m;
  for (const Measurement& x : ev.measurements) m[x.name] = x.value;
  EXPECT_DOUBLE_EQ(*m["baseline.error_rate(release)"], 0);
  EXPECT_DOUBLE_EQ(*m["error_rate(release)"], 0.5);
  EXPECT_DOUBLE_EQ(*m["requests(release)"], 100);
  EXPECT_LT(*m["sequential_p_value(release)"], 1e-10);
  EXPECT_THAT(CompileError("sequential_worse_than_baseline(2)"),
              HasSubstr("the false-rollback rate must be a number between 0 and 1"));
  EXPECT_THAT(CompileError("sequential_worse_than_baseline(5m)"), HasSubstr("takes a number"));
  EXPECT_THAT(CompileError("baseline.sequential_worse_than_baseline(1%)"),
              HasSubstr("compares with the baseline already"));
}

TEST(Expression, ParseErrorsPointAtTheColumn) {
  EXPECT_EQ(CompileError("error_rate(5m) > 1% and requests(5) >= 100"),
            "column 34: requests() takes a duration here, not a number, as in requests(5m)\n"
            "  error_rate(5m) > 1% and requests(5) >= 100\n"
            "                                   ^");
  EXPECT_EQ(CompileError("error_rate(5m)"),
            "column 1: the expression is a number; a rule needs a condition, such as "
            "error_rate(5m) > 1%\n  error_rate(5m)\n  ^");
  EXPECT_THAT(CompileError("eror_rate(5m) > 1%"),
              HasSubstr("column 1: unknown function \"eror_rate\""));
  EXPECT_THAT(CompileError("error_rate(5m) > 1% and"), HasSubstr("the expression ends too soon"));
  EXPECT_THAT(CompileError("error_rate(5m) > 1% an requests(5m) > 1"),
              HasSubstr("column 21: unexpected \"an\""));
  EXPECT_THAT(CompileError("age() > 5"), HasSubstr("cannot compare a duration with a number"));
  EXPECT_THAT(CompileError("requests(5m) > 5m"),
              HasSubstr("cannot compare a number with a duration"));
  EXPECT_THAT(CompileError("requests(5m, 1m) > 1"), HasSubstr("requests() takes 1 argument"));
  EXPECT_THAT(CompileError("requests(5x) > 1"), HasSubstr("unknown unit \"x\""));
  EXPECT_THAT(CompileError("requests(0s) > 1"),
              HasSubstr("the window must be a duration such as 5m"));
  EXPECT_THAT(CompileError("baseline.worse_than_baseline(5m, 0.01)"),
              HasSubstr("compares with the baseline already"));
  EXPECT_THAT(CompileError("baseline error_rate(5m) > 1"), HasSubstr("expected . after baseline"));
  EXPECT_THAT(CompileError("(requests(5m) > 1"), HasSubstr("expected )"));
  EXPECT_THAT(CompileError("requests(5m) = 1"), HasSubstr("\"=\" is not an operator; use =="));
  EXPECT_THAT(CompileError("requests(5m) > 1 and 5"), HasSubstr("\"and\" joins conditions"));
  EXPECT_THAT(CompileError("requests(5m) > 1 # x"), HasSubstr("unexpected character '#'"));
  EXPECT_THAT(CompileError(""), HasSubstr("the expression ends too soon"));
  EXPECT_THAT(CompileError("1.2.3 > 1"), HasSubstr("\"1.2.3\" is not a number"));
  EXPECT_THAT(CompileError(std::string(10000, '(') + "1 > 0"),
              HasSubstr("the expression nests too deeply"));
  EXPECT_THAT(CompileError(std::string(10000, '-') + "1 > 0"),
              HasSubstr("the expression nests too deeply"));
  std::string nots;
  for (int i = 0; i < 300; ++i) nots += "not ";
  EXPECT_THAT(CompileError(nots + "errors(1m) > 0"), HasSubstr("the expression nests too deeply"));
  EXPECT_TRUE(Expression::Compile("((((errors(1m) > 0))))"));
}

}  // namespace
}  // namespace obsgate::rules
