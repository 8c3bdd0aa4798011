#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "core/units.hpp"
#include "rules/window_store.hpp"

namespace obsgate::rules {

// One value an evaluation looked at, kept so an alert can say why it fired.
struct Measurement {
  std::string name;  // as written: "error_rate(5m)", "baseline.requests(5m)", "p_value(5m)"
  std::optional<double> value;  // nullopt: no data
};

struct Evaluation {
  bool result = false;
  // The left side of the first comparison: what {{ value }} shows. nullopt: no data.
  std::optional<double> value;
  std::vector<Measurement> measurements;
  bool no_data = false;  // some function had no data, so its comparisons were false
};

// A parsed, type-checked rule expression. Immutable and thread-safe once compiled.
class Expression {
 public:
  // Parse and type errors show the expression with a caret under the column, e.g.
  //   error_rate(5m) > 1% and requests(5) >= 100
  //                                    ^ requests() takes a window such as 5m, not a number
  static core::Result<Expression> Compile(std::string_view text);

  // With `record`, every function's value is kept in the measurements (for an alert); without,
  // nothing is allocated (for the common case of a rule that does not hold).
  Evaluation Evaluate(const SeriesData& series, const SeriesData* baseline,
                      bool record = true) const;
  // The longest window any function uses, so callers can check it against the store's horizon.
  core::Duration LongestWindow() const;
  const std::string& text() const;

  struct Node;

 private:
  std::string text_;
  std::shared_ptr<const Node> root_;
  core::Duration longest_{0};
};

// One-sided test that the first proportion (e1 of n1) exceeds the second (e2 of n2): the pooled
// two-proportion z-test, or Fisher's exact test when an expected count is below 5. Returns the
// p-value; nullopt when either side has no trials.
std::optional<double> WorseProportionPValue(double e1, double n1, double e2, double n2);

// The same test made safe to repeat once a second from a release's start: the p-value at age t
// (seconds, at least 1) times 2 t (1 + ln t)^2, capped at 1. Rejecting whenever it falls to alpha
// rolls back a release that is no worse than its baseline with probability at most alpha, however
// long it is watched. Strong evidence passes at once (50% against 0.2% on 100 requests is
// p ~ 1e-19); a small difference needs more traffic than worse_than_baseline at one look.
std::optional<double> SequentialWorsePValue(double e1, double n1, double e2, double n2,
                                            core::Duration age);

}  // namespace obsgate::rules
