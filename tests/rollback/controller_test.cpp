// What a rollback alert hands on when this replica stands by: the candidate another replica
// decides from, so every field in it must be one that replica accepts.
#include "rollback/controller.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include "ha/cluster_wire.hpp"
#include "rollback/audit.hpp"
#include "rules/window_store.hpp"

namespace obsgate::rollback {
namespace {

using namespace std::chrono_literals;

TEST(RollbackController, AVersionFirstSeenSinceTheLastTickIsHandedOnAsAgeZero) {
  core::FakeClock clock;
  prometheus::Registry registry;
  rules::WindowStore store(rules::WindowOptions{}, clock);
  core::LocalCounts local;
  local.At("shop", "auth", "v1").requests = 100;
  store.Merge(local);
  clock.Advance(1s);
  store.Tick();
  // v2's first lines arrive half a second after the tick that every window ends at.
  clock.Advance(500ms);
  local.At("shop", "auth", "v2").requests = 20;
  local.At("shop", "auth", "v2").errors = 5;
  store.Merge(local);

  auto audit = AuditLog::Open("");
  ASSERT_TRUE(audit);
  RollbackController controller(nullptr, core::RollbackConfig{}, store, **audit, clock, nullptr,
                                registry);
  controller.UseLeadership([] { return false; }, [] { return std::string("replica-a"); });
  std::optional<Candidate> handed;
  controller.ForwardWhenStandingBy(
      [&](const Candidate& c, const RollbackEvent&, const std::string&) {
        handed = c;
        return std::string("handed to the leader");
      });
  controller.Start();

  rules::Alert a;
  a.rule = "ErrorRateAbove1Percent";
  a.fingerprint = "f";
  a.series = {"shop", "auth", "v2"};
  a.baseline_version = "v1";
  a.state = rules::AlertState::kFiring;
  a.rollback = true;
  controller.OnAlert(a, rules::AlertState::kPending);
  controller.Drain();
  controller.Stop();

  ASSERT_TRUE(handed);
  ASSERT_TRUE(handed->age);
  EXPECT_EQ(*handed->age, core::Duration::zero());
  // And the leader takes it as sent.
  ha::ForwardedRollback r;
  r.from = "http://replica-b";
  r.rule = a.rule;
  r.candidate = *handed;
  auto decoded = ha::DecodeRollback(ha::EncodeRollback(r));
  ASSERT_TRUE(decoded) << decoded.error();
  ASSERT_TRUE(decoded->candidate.age);
  EXPECT_EQ(*decoded->candidate.age, core::Duration::zero());
}

}  // namespace
}  // namespace obsgate::rollback
