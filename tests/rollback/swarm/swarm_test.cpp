#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "rollback/swarm/swarm_orchestrator.hpp"
#include "tests/fakes/docker.hpp"
#include "tests/support/process.hpp"

namespace obsgate::rollback::swarm {
namespace {

using namespace std::chrono_literals;
using Fault = fakes::FakeDockerEngine::Fault;
using Outcome = ActionResult::Outcome;
using ::testing::HasSubstr;

constexpr const char* kV1 = "registry:5000/shop/auth:v1@sha256:1111";
constexpr const char* kV2 = "registry:5000/shop/auth:v2@sha256:2222";

class SwarmRollback : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(engine_.Start(dir_.path() + "/docker.sock").ok());
    config_.host = engine_.host();
    config_.timeout = 2s;
    engine_.AddService("shop_auth", kV1, "shop", 3);
    clock_.Advance(10min);
    deployed_at_ = clock_.Now();
    engine_.Deploy("shop_auth", kV2);
    clock_.Advance(1min);
  }

  std::unique_ptr<SwarmOrchestrator> Make() {
    auto o = SwarmOrchestrator::Create(config_, clock_, [this](std::chrono::milliseconds d) {
      sleeps_.push_back(d);
      clock_.Advance(d);  // waiting costs no real time
    });
    EXPECT_TRUE(o.ok()) << o.error();
    return std::move(o).value();
  }

  std::vector<fakes::DockerRequest> Updates() const {
    return engine_.requests("POST", "/services/");
  }

  testing::TempDir dir_;
  core::FakeClock clock_;
  fakes::FakeDockerEngine engine_{&clock_};
  core::SwarmOrchestratorConfig config_;
  std::vector<std::chrono::milliseconds> sleeps_;
  core::TimePoint deployed_at_;
  const Target auth_{"shop", "auth"};
};

TEST_F(SwarmRollback, SendsTheVersionJustReadWithRollbackPrevious) {
  auto before = engine_.service("shop_auth");
  ActionResult r = Make()->RollBack(auth_);

  EXPECT_EQ(r.outcome, Outcome::kDone) << r.message;
  EXPECT_EQ(r.from_version, "v2");
  EXPECT_EQ(r.to_version, "v1");
  auto updates = Updates();
  ASSERT_EQ(updates.size(), 1u);
  EXPECT_EQ(updates[0].path, "/services/" + before->id + "/update");
  EXPECT_EQ(updates[0].query.at("version"), std::to_string(before->version));
  EXPECT_EQ(updates[0].query.at("rollback"), "previous");
  EXPECT_EQ(updates[0].api_version, "1.47");
  // The current spec, as `docker service rollback` sends it.
  EXPECT_EQ(updates[0].body + "\n", before->spec + "\n");
  auto after = engine_.service("shop_auth");
  EXPECT_EQ(after->image, kV1);
  EXPECT_EQ(after->state, "rollback_completed");
  EXPECT_EQ(after->accepted_updates, 1);
  EXPECT_THAT(r.message, HasSubstr("rolled back service shop_auth"));
}

TEST_F(SwarmRollback, FollowsTheRollbackToRollbackCompleted) {
  engine_.SetRolloutInspects(4);
  ActionResult r = Make()->RollBack(auth_);

  EXPECT_EQ(r.outcome, Outcome::kDone) << r.message;
  EXPECT_THAT(r.message, HasSubstr("rollback completed"));
  // Four looks at rollback_started, one at rollback_completed, a poll interval between each.
  EXPECT_EQ(sleeps_, std::vector<std::chrono::milliseconds>(4, 1s));
  EXPECT_EQ(engine_.service("shop_auth")->state, "rollback_completed");
}

TEST_F(SwarmRollback, StatusReportsTheRollbackUntilItCompletes) {
  engine_.SetRolloutInspects(2);
  config_.rollout_timeout = 0s;  // RollBack returns once the rollback is under way
  auto swarm = Make();
  ActionResult r = swarm->RollBack(auth_);
  EXPECT_EQ(r.outcome, Outcome::kDone) << r.message;
  EXPECT_THAT(r.message, HasSubstr("not completed within 0s"));

  auto status = swarm->Status(auth_);
  ASSERT_TRUE(status.ok()) << status.error();
  EXPECT_EQ(status->state, RolloutStatus::State::kProgressing);
  EXPECT_THAT(status->message, HasSubstr("rollback_started"));
  EXPECT_EQ(status->desired, 3);
  status = swarm->Status(auth_);
  status = swarm->Status(auth_);
  ASSERT_TRUE(status.ok()) << status.error();
  EXPECT_EQ(status->state, RolloutStatus::State::kComplete);
  EXPECT_THAT(status->message, HasSubstr("rollback_completed"));
  EXPECT_THAT(status->message, HasSubstr(kV1));
}

TEST_F(SwarmRollback, AStaleVersionIsReadAgainAndOnlyOneUpdateIsAccepted) {
  engine_.ScriptUpdates({Fault::kRace});  // another writer bumps Version.Index first
  ActionResult r = Make()->RollBack(auth_);

  EXPECT_EQ(r.outcome, Outcome::kDone) << r.message;
  auto updates = Updates();
  ASSERT_EQ(updates.size(), 2u);
  EXPECT_EQ(updates[0].status, 500);  // "update out of sequence", as the engine answers it
  EXPECT_EQ(updates[1].status, 200);
  EXPECT_GT(std::stoull(updates[1].query.at("version")),
            std::stoull(updates[0].query.at("version")));
  EXPECT_EQ(engine_.service("shop_auth")->accepted_updates, 1);
  EXPECT_EQ(engine_.service("shop_auth")->image, kV1);
}

TEST_F(SwarmRollback, AnOutOfSequence409IsRetriedToo) {
  engine_.SetConflictStatus(409);
  engine_.ScriptUpdates({Fault::kRace, Fault::kConflict});
  ActionResult r = Make()->RollBack(auth_);

  EXPECT_EQ(r.outcome, Outcome::kDone) << r.message;
  auto updates = Updates();
  ASSERT_EQ(updates.size(), 3u);
  EXPECT_EQ(updates[0].status, 409);
  EXPECT_EQ(updates[1].status, 409);
  EXPECT_EQ(engine_.service("shop_auth")->accepted_updates, 1);
}

TEST_F(SwarmRollback, EndlessConflictsGiveUpForLater) {
  engine_.ScriptUpdates(std::vector<Fault>(5, Fault::kRace));
  ActionResult r = Make()->RollBack(auth_);

  EXPECT_EQ(r.outcome, Outcome::kRetry) << r.message;
  EXPECT_THAT(r.message, HasSubstr("update out of sequence"));
  EXPECT_EQ(Updates().size(), 5u);
  EXPECT_EQ(engine_.service("shop_auth")->accepted_updates, 0);
  EXPECT_EQ(engine_.service("shop_auth")->image, kV2);
}

TEST_F(SwarmRollback, AServerErrorIsRetriedAfterAPause) {
  engine_.ScriptUpdates({Fault::kServerError, Fault::kServerError});
  ActionResult r = Make()->RollBack(auth_);

  EXPECT_EQ(r.outcome, Outcome::kDone) << r.message;
  EXPECT_EQ(Updates().size(), 3u);
  ASSERT_GE(sleeps_.size(), 2u);
  EXPECT_EQ(sleeps_[0], 1s);
  EXPECT_EQ(sleeps_[1], 2s);
  EXPECT_EQ(engine_.service("shop_auth")->accepted_updates, 1);
}

TEST_F(SwarmRollback, AHungInspectIsRetryLaterAndChangesNothing) {
  config_.timeout = 300ms;
  engine_.ScriptInspects({Fault::kHang});
  ActionResult r = Make()->RollBack(auth_);

  EXPECT_EQ(r.outcome, Outcome::kRetry) << r.message;
  EXPECT_THAT(r.message, HasSubstr("no answer"));
  EXPECT_TRUE(Updates().empty());
  EXPECT_EQ(engine_.service("shop_auth")->image, kV2);
}

TEST_F(SwarmRollback, AnUnansweredUpdateIsNeverSentTwice) {
  config_.timeout = 300ms;
  engine_.ScriptUpdates({Fault::kApplyThenHang});  // made, but the answer never comes
  auto swarm = Make();
  ActionResult first = swarm->RollBack(auth_);
  EXPECT_EQ(first.outcome, Outcome::kRetry) << first.message;
  EXPECT_THAT(first.message, HasSubstr("may or may not have been made"));
  EXPECT_EQ(Updates().size(), 1u);

  // The next attempt reads the service, sees the rollback, and leaves it alone.
  ActionResult second = swarm->RollBack(auth_);
  EXPECT_EQ(second.outcome, Outcome::kSkipped) << second.message;
  EXPECT_EQ(Updates().size(), 1u);
  EXPECT_EQ(engine_.service("shop_auth")->accepted_updates, 1);
  EXPECT_EQ(engine_.service("shop_auth")->image, kV1);
}

TEST_F(SwarmRollback, AHungUpdateThatWasNotMadeIsMadeByTheNextCall) {
  config_.timeout = 300ms;
  engine_.ScriptUpdates({Fault::kHang});
  auto swarm = Make();
  EXPECT_EQ(swarm->RollBack(auth_).outcome, Outcome::kRetry);
  EXPECT_EQ(engine_.service("shop_auth")->accepted_updates, 0);

  ActionResult r = swarm->RollBack(auth_);
  EXPECT_EQ(r.outcome, Outcome::kDone) << r.message;
  EXPECT_EQ(engine_.service("shop_auth")->accepted_updates, 1);
}

TEST_F(SwarmRollback, AServiceAlreadyRolledBackIsLeftAlone) {
  auto swarm = Make();
  ASSERT_EQ(swarm->RollBack(auth_).outcome, Outcome::kDone);
  ActionResult again = swarm->RollBack(auth_);

  EXPECT_EQ(again.outcome, Outcome::kSkipped) << again.message;
  EXPECT_THAT(again.message, HasSubstr("already rolled back"));
  EXPECT_EQ(Updates().size(), 1u);
  EXPECT_EQ(engine_.service("shop_auth")->image, kV1);  // v2 did not come back
}

TEST_F(SwarmRollback, APausedRollbackFails) {
  engine_.SetRollbackPauses(true);
  auto swarm = Make();
  ActionResult r = swarm->RollBack(auth_);

  EXPECT_EQ(r.outcome, Outcome::kFailed) << r.message;
  EXPECT_THAT(r.message, HasSubstr("paused"));
  EXPECT_THAT(r.message, HasSubstr("docker service ps shop_auth"));
  auto status = swarm->Status(auth_);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->state, RolloutStatus::State::kFailed);
}

TEST_F(SwarmRollback, ARollbackThatOutlastsTheTimeoutIsReportedStartedNotRepeated) {
  config_.rollout_timeout = 5s;
  engine_.SetRolloutInspects(1000);
  ActionResult r = Make()->RollBack(auth_);

  EXPECT_EQ(r.outcome, Outcome::kDone) << r.message;
  EXPECT_THAT(r.message, HasSubstr("not completed within 5s"));
  EXPECT_THAT(r.message, HasSubstr("rollback_started"));
  EXPECT_EQ(sleeps_.size(), 5u);
  EXPECT_EQ(Updates().size(), 1u);
}

TEST_F(SwarmRollback, AServiceNeverUpdatedHasNothingToRollBackTo) {
  engine_.AddService("shop_cart", "shop/cart:v1", "shop");
  ActionResult r = Make()->RollBack({"shop", "cart"});

  EXPECT_EQ(r.outcome, Outcome::kFailed) << r.message;
  EXPECT_THAT(r.message, HasSubstr("no previous spec"));
  EXPECT_TRUE(Updates().empty());
}

TEST_F(SwarmRollback, AServiceNeverUpdatedIsCompleteWithOneRevision) {
  engine_.AddService("shop_cart", "shop/cart:v1", "shop");
  auto swarm = Make();
  auto status = swarm->Status({"shop", "cart"});
  ASSERT_TRUE(status.ok()) << status.error();
  EXPECT_EQ(status->state, RolloutStatus::State::kComplete);
  EXPECT_THAT(status->message, HasSubstr("never updated"));
  auto revisions = swarm->Revisions({"shop", "cart"});
  ASSERT_TRUE(revisions.ok()) << revisions.error();
  ASSERT_EQ(revisions->size(), 1u);
  EXPECT_EQ((*revisions)[0].version, "v1");
}

TEST_F(SwarmRollback, AnUnknownServiceFailsWithAHint) {
  ActionResult r = Make()->RollBack({"shop", "nope"});

  EXPECT_EQ(r.outcome, Outcome::kFailed) << r.message;
  EXPECT_THAT(r.message, HasSubstr("service shop_nope not found"));
  EXPECT_THAT(r.message, HasSubstr("check the stack"));
}

TEST_F(SwarmRollback, OnlyThePreviousRevisionCanBeAskedFor) {
  auto swarm = Make();
  EXPECT_EQ(swarm->RollBack(auth_, {.to_revision = "current"}).outcome, Outcome::kSkipped);
  ActionResult r = swarm->RollBack(auth_, {.to_revision = "7"});
  EXPECT_EQ(r.outcome, Outcome::kFailed);
  EXPECT_THAT(r.message, HasSubstr("only the previous spec"));
  EXPECT_TRUE(Updates().empty());
}

TEST_F(SwarmRollback, AServiceOutsideAStackIsNamedByItsDeployment) {
  engine_.AddService("billing", "shop/billing:v1");
  engine_.Deploy("billing", "shop/billing:v2");
  ActionResult r = Make()->RollBack({"", "billing"});

  EXPECT_EQ(r.outcome, Outcome::kDone) << r.message;
  EXPECT_EQ(engine_.service("billing")->image, "shop/billing:v1");
  EXPECT_EQ(engine_.service("shop_auth")->image, kV2);
}

TEST_F(SwarmRollback, RevisionsAreTheCurrentAndThePreviousSpec) {
  auto revisions = Make()->Revisions(auth_);

  ASSERT_TRUE(revisions.ok()) << revisions.error();
  ASSERT_EQ(revisions->size(), 2u);
  const Revision& current = (*revisions)[0];
  EXPECT_EQ(current.id, "current");
  EXPECT_EQ(current.version, "v2");
  EXPECT_EQ(current.image, kV2);
  EXPECT_TRUE(current.current);
  EXPECT_EQ(std::chrono::floor<std::chrono::milliseconds>(current.rolled_out_at),
            std::chrono::floor<std::chrono::milliseconds>(deployed_at_));
  const Revision& previous = (*revisions)[1];
  EXPECT_EQ(previous.id, "previous");
  EXPECT_EQ(previous.version, "v1");
  EXPECT_EQ(previous.image, kV1);
  EXPECT_FALSE(previous.current);
}

TEST_F(SwarmRollback, SetImageChangesOnlyTheImage) {
  auto swarm = Make();
  auto before = engine_.service("shop_auth");
  ActionResult r = swarm->SetImage(auth_, "", "registry:5000/shop/auth:v3");

  EXPECT_EQ(r.outcome, Outcome::kDone) << r.message;
  EXPECT_EQ(r.from_version, "v2");
  EXPECT_EQ(r.to_version, "v3");
  auto updates = Updates();
  ASSERT_EQ(updates.size(), 1u);
  EXPECT_EQ(updates[0].query.count("rollback"), 0u);
  EXPECT_EQ(updates[0].query.at("version"), std::to_string(before->version));
  auto after = engine_.service("shop_auth");
  EXPECT_EQ(after->image, "registry:5000/shop/auth:v3");
  EXPECT_EQ(after->previous_image, kV2);
  // Every other field went back as it came, quoting included.
  std::string expected = before->spec;
  expected.replace(expected.find(kV2), std::string(kV2).size(), "registry:5000/shop/auth:v3");
  EXPECT_EQ(after->spec, expected);

  auto status = swarm->Status(auth_);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->state, RolloutStatus::State::kProgressing);
  swarm->Status(auth_);
  status = swarm->Status(auth_);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->state, RolloutStatus::State::kComplete);
}

TEST_F(SwarmRollback, SetImageToTheRunningImageIsSkipped) {
  ActionResult r = Make()->SetImage(auth_, "", kV2);
  EXPECT_EQ(r.outcome, Outcome::kSkipped) << r.message;
  EXPECT_TRUE(Updates().empty());
}

TEST_F(SwarmRollback, AnOlderEngineIsSpokenToAtItsOwnApiVersion) {
  engine_.SetApiVersions("1.12", "1.41");  // Engine 20.10
  ASSERT_EQ(Make()->RollBack(auth_).outcome, Outcome::kDone);
  for (const auto& r : engine_.requests("GET", "/services/")) EXPECT_EQ(r.api_version, "1.41");
  EXPECT_EQ(Updates().at(0).api_version, "1.41");
}

TEST_F(SwarmRollback, ANewerEngineThatRefusesOldClientsGetsItsOldestVersion) {
  engine_.SetApiVersions("1.48", "1.52");
  ActionResult r = Make()->RollBack(auth_);
  EXPECT_EQ(r.outcome, Outcome::kDone) << r.message;
  EXPECT_EQ(Updates().at(0).api_version, "1.48");
}

TEST_F(SwarmRollback, NoEngineAtTheSocketIsRetryLater) {
  config_.host = "unix://" + dir_.path() + "/absent.sock";
  ActionResult r = Make()->RollBack(auth_);
  EXPECT_EQ(r.outcome, Outcome::kRetry);
  EXPECT_THAT(r.message, HasSubstr("cannot connect"));
  EXPECT_THAT(r.message, HasSubstr("absent.sock"));
}

TEST(SwarmConfig, AHostThatIsNeitherUnixNorTcpIsRefused) {
  core::FakeClock clock;
  core::SwarmOrchestratorConfig config;
  config.host = "npipe:////./pipe/docker_engine";
  auto o = SwarmOrchestrator::Create(config, clock);
  ASSERT_FALSE(o.ok());
  EXPECT_THAT(o.error(), HasSubstr("neither unix:///path nor tcp://host:port"));
}

TEST(SwarmConfig, ServicesInAStackAreNamedLikeDockerStackDeploy) {
  EXPECT_EQ(SwarmOrchestrator::ServiceName({"shop", "auth"}), "shop_auth");
  EXPECT_EQ(SwarmOrchestrator::ServiceName({"", "auth"}), "auth");
}

TEST(SwarmOverTcp, RollsBackThroughAnEngineOnTcp) {
  core::FakeClock clock;
  fakes::FakeDockerEngine engine(&clock);
  ASSERT_TRUE(engine.Start().ok());
  engine.AddService("shop_auth", kV1, "shop");
  engine.Deploy("shop_auth", kV2);
  core::SwarmOrchestratorConfig config;
  config.host = engine.host();
  ASSERT_THAT(config.host, ::testing::StartsWith("tcp://127.0.0.1:"));
  auto swarm = SwarmOrchestrator::Create(config, clock,
                                         [&](std::chrono::milliseconds d) { clock.Advance(d); });
  ASSERT_TRUE(swarm.ok()) << swarm.error();

  ActionResult r = (*swarm)->RollBack({"shop", "auth"});
  EXPECT_EQ(r.outcome, Outcome::kDone) << r.message;
  EXPECT_EQ(engine.service("shop_auth")->image, kV1);
}

}  // namespace
}  // namespace obsgate::rollback::swarm
