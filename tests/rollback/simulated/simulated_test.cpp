// The simulated cluster obsgate demo rolls back: revisions, rollback, rollout progress, traffic.
#include <gtest/gtest.h>

#include "rollback/simulated/simulated_orchestrator.hpp"

namespace obsgate::rollback::simulated {
namespace {

using namespace std::chrono_literals;

const Target kCheckout{"shop", "checkout"};

std::vector<std::string> Versions(SimulatedOrchestrator& o) {
  std::vector<std::string> out;
  auto revisions = o.Revisions(kCheckout);
  if (!revisions) return {revisions.error()};
  for (const Revision& r : *revisions) {
    out.push_back(r.id + ":" + r.version + (r.current ? "*" : ""));
  }
  return out;
}

TEST(SimulatedOrchestratorTest, RollsOutAndBackLikeRolloutUndo) {
  core::FakeClock clock;
  SimulatedOrchestrator o(clock, 10s);
  o.AddDeployment(kCheckout, "registry.local/shop/checkout:v1");
  EXPECT_EQ(o.kind(), "simulated");
  EXPECT_EQ(Versions(o), (std::vector<std::string>{"1:v1*"}));
  EXPECT_EQ(o.RollBack(kCheckout).outcome, ActionResult::Outcome::kFailed);

  ActionResult set = o.SetImage(kCheckout, "", "registry.local/shop/checkout:v2");
  EXPECT_EQ(set.outcome, ActionResult::Outcome::kDone) << set.message;
  EXPECT_EQ(set.to_version, "v2");
  EXPECT_EQ(Versions(o), (std::vector<std::string>{"2:v2*", "1:v1"}));

  clock.Advance(3s);
  ActionResult back = o.RollBack(kCheckout);
  EXPECT_EQ(back.outcome, ActionResult::Outcome::kDone) << back.message;
  EXPECT_EQ(back.from_version, "v2");
  EXPECT_EQ(back.to_version, "v1");
  // The revision rolled back to takes the next number, as kubectl rollout undo does.
  EXPECT_EQ(Versions(o), (std::vector<std::string>{"3:v1*", "2:v2"}));
  EXPECT_EQ(o.RollBack(kCheckout, {.to_revision = "3"}).outcome, ActionResult::Outcome::kSkipped);
  EXPECT_EQ(o.RollBack(kCheckout, {.to_revision = "9"}).outcome, ActionResult::Outcome::kFailed);
  EXPECT_EQ(o.RollBack({"shop", "cart"}).outcome, ActionResult::Outcome::kFailed);
  EXPECT_FALSE(o.Revisions({"shop", "cart"}));

  std::vector<SimulatedCall> calls = o.Calls();
  ASSERT_EQ(calls.size(), 6u);
  EXPECT_EQ(calls[1].action, "set_image");
  EXPECT_EQ(calls[2].action, "rollback");
  EXPECT_EQ(calls[2].at - calls[1].at, 3s);
  EXPECT_EQ(calls[2].result.outcome, ActionResult::Outcome::kDone);
}

TEST(SimulatedOrchestratorTest, TrafficMovesOverTheRolloutTimeAndStatusCompletesThen) {
  core::FakeClock clock;
  SimulatedOrchestrator o(clock, 10s);
  o.AddDeployment(kCheckout, "checkout:v1");
  EXPECT_EQ(o.Traffic(kCheckout), (std::vector<std::pair<std::string, double>>{{"v1", 1.0}}));
  EXPECT_EQ(o.Status(kCheckout)->state, RolloutStatus::State::kComplete);

  o.SetImage(kCheckout, "", "checkout:v2");
  clock.Advance(2500ms);
  auto traffic = o.Traffic(kCheckout);
  ASSERT_EQ(traffic.size(), 2u);
  EXPECT_EQ(traffic[0].first, "v2");
  EXPECT_DOUBLE_EQ(traffic[0].second, 0.25);
  EXPECT_EQ(traffic[1].first, "v1");
  EXPECT_DOUBLE_EQ(traffic[1].second, 0.75);
  RolloutStatus s = *o.Status(kCheckout);
  EXPECT_EQ(s.state, RolloutStatus::State::kProgressing);
  EXPECT_EQ(s.updated, 1);

  clock.Advance(7500ms);
  EXPECT_EQ(o.Traffic(kCheckout), (std::vector<std::pair<std::string, double>>{{"v2", 1.0}}));
  EXPECT_EQ(o.Status(kCheckout)->state, RolloutStatus::State::kComplete);

  // An image seen before brings its revision back rather than adding one.
  EXPECT_EQ(o.SetImage(kCheckout, "", "checkout:v1").outcome, ActionResult::Outcome::kDone);
  EXPECT_EQ(Versions(o), (std::vector<std::string>{"3:v1*", "2:v2"}));
  EXPECT_EQ(o.SetImage(kCheckout, "", "checkout:v1").outcome, ActionResult::Outcome::kSkipped);
}

}  // namespace
}  // namespace obsgate::rollback::simulated
