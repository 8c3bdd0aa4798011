// The pipeline runner on a fake clock, against an in-test orchestrator and the real window store,
// rollback controller and migration linter.
#include "deploy/pipeline/runner.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <chrono>
#include <mutex>

#include "core/counts.hpp"
#include "rollback/audit.hpp"
#include "rollback/controller.hpp"
#include "rules/window_store.hpp"
#include "tests/support/process.hpp"

namespace obsgate::deploy {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;
using RunRecord = deploy::Run;  // testing::Test has a Run() of its own

// Remembers what it was asked; the rollout completes when `complete` says so.
class RecordingOrchestrator final : public rollback::Orchestrator {
 public:
  std::string_view kind() const override { return "simulated"; }
  core::Result<std::vector<rollback::Revision>> Revisions(const rollback::Target&) override {
    std::lock_guard lock(mu);
    rollback::Revision r;
    r.id = std::to_string(revision);
    r.version = current;
    r.current = true;
    return std::vector<rollback::Revision>{r};
  }
  rollback::ActionResult RollBack(const rollback::Target&,
                                  const rollback::RollbackRequest& request) override {
    std::lock_guard lock(mu);
    rollbacks.push_back(request.to_revision);
    return {rollback::ActionResult::Outcome::kDone, "rolled back", current, "v1", ""};
  }
  rollback::ActionResult SetImage(const rollback::Target&, const std::string&,
                                  const std::string& image) override {
    std::lock_guard lock(mu);
    images.push_back(image);
    std::string from = current;
    current = rollback::ImageTag(image);
    ++revision;
    return {rollback::ActionResult::Outcome::kDone, "image set", from, current, ""};
  }
  core::Result<rollback::RolloutStatus> Status(const rollback::Target&) override {
    rollback::RolloutStatus s;
    s.state = complete ? rollback::RolloutStatus::State::kComplete
                       : rollback::RolloutStatus::State::kProgressing;
    s.desired = s.updated = s.available = 3;
    return s;
  }

  std::mutex mu;
  std::vector<std::string> images;
  std::vector<std::string> rollbacks;
  std::string current = "v1";
  int revision = 1;
  bool complete = true;
};

core::PipelineStepConfig Step(core::PipelineStepConfig::Kind kind) {
  core::PipelineStepConfig s;
  s.kind = kind;
  return s;
}

core::PipelineStepConfig Analyze(std::string expr, core::Duration for_, std::string fail = "") {
  core::PipelineStepConfig s = Step(core::PipelineStepConfig::Kind::kAnalyze);
  s.expr = std::move(expr);
  s.fail = std::move(fail);
  s.for_ = for_;
  return s;
}

core::PipelineStepConfig Migrate(std::vector<std::string> command,
                                 std::vector<std::string> paths = {},
                                 std::vector<std::string> allow = {}) {
  core::PipelineStepConfig s = Step(core::PipelineStepConfig::Kind::kMigrate);
  s.command = std::move(command);
  s.paths = std::move(paths);
  s.allow = std::move(allow);
  return s;
}

using K = core::PipelineStepConfig::Kind;

core::PipelineConfig Pipeline(core::PipelineConfig::Environment env,
                              std::vector<core::PipelineStepConfig> steps) {
  core::PipelineConfig p;
  p.name = "auth";
  p.ns = "shop";
  p.deployment = "auth";
  p.image = "registry.example.com/shop/auth";
  p.environment = env;
  p.steps = std::move(steps);
  return p;
}

// The standard pipeline of the issue, with a short analysis.
std::vector<core::PipelineStepConfig> FullSteps(std::vector<std::string> migrate = {"true"}) {
  return {Migrate(std::move(migrate)),
          Step(K::kApprove),
          Step(K::kRollout),
          Step(K::kWait),
          Analyze("error_rate(10s) < 1% and requests(10s) >= 50", 5s,
                  "error_rate(10s) > 3% and requests(10s) >= 50"),
          Step(K::kPromote)};
}

class RunnerTest : public ::testing::Test {
 protected:
  void Make(std::vector<core::PipelineConfig> pipelines, std::string runs_dir = "") {
    runner_.reset();
    deploy::RunnerOptions o;
    o.runs_dir = std::move(runs_dir);
    runner_ = std::make_unique<PipelineRunner>(
        std::move(pipelines), &orchestrator_, &controller_, store_, clock_,
        [this](const RunRecord& r, int step) {
          said_.push_back(step < 0 ? std::string("run ") + RunStateName(r.state)
                                   : r.steps[step].kind + " " + StepStateName(r.steps[step].state));
        },
        registry_, o);
  }

  // One second of traffic of `version`: n requests, e failing; then the store and runner look.
  void Second(const std::string& version, int n, int e) {
    core::LocalCounts local;
    core::Counts& c = local.At("shop", "auth", version);
    c.requests += n;
    c.errors += e;
    store_.Merge(local);
    clock_.Advance(1s);
    store_.Tick();
    if (runner_) runner_->Tick();
  }

  RunRecord Get(const std::string& id) {
    auto r = runner_->Find(id);
    EXPECT_TRUE(r);
    return r ? *r : RunRecord{};
  }

  core::FakeClock clock_;
  rules::WindowStore store_{rules::WindowOptions{}, clock_};
  prometheus::Registry registry_;
  RecordingOrchestrator* orchestrator_raw_ = new RecordingOrchestrator;
  RecordingOrchestrator& orchestrator_ = *orchestrator_raw_;
  std::unique_ptr<rollback::AuditLog> audit_ = std::move(rollback::AuditLog::Open("")).value();
  core::RollbackConfig rollback_config_;
  rollback::RollbackController controller_{
      std::unique_ptr<rollback::Orchestrator>(orchestrator_raw_),
      rollback_config_,
      store_,
      *audit_,
      clock_,
      nullptr,
      registry_};
  std::vector<std::string> said_;
  std::unique_ptr<PipelineRunner> runner_;
};

TEST_F(RunnerTest, GoodReleaseGoesFromMigrateToPromote) {
  Make({Pipeline(core::PipelineConfig::Environment::kStaging, FullSteps())});
  for (int i = 0; i < 5; ++i) Second("v1", 100, 0);
  RunAnswer a = runner_->StartRun("auth", "v2");
  ASSERT_EQ(a.status, 201) << a.error;
  std::string id = a.run->id;
  EXPECT_EQ(id, "auth-1");
  runner_->Tick();
  RunRecord r = Get(id);
  EXPECT_EQ(r.state, RunState::kWaitingForApproval);
  EXPECT_EQ(r.steps[0].state, StepState::kSucceeded);
  EXPECT_EQ(r.steps[1].state, StepState::kWaiting);
  EXPECT_TRUE(orchestrator_.images.empty()) << "nothing rolls out before the approval";
  ASSERT_EQ(runner_->Approve(id).status, 200);
  for (int i = 0; i < 15 && Get(id).state == RunState::kRunning; ++i) Second("v2", 100, 0);
  r = Get(id);
  EXPECT_EQ(r.state, RunState::kSucceeded) << r.message;
  EXPECT_THAT(orchestrator_.images, ::testing::ElementsAre("registry.example.com/shop/auth:v2"));
  for (const StepRecord& s : r.steps) EXPECT_EQ(s.state, StepState::kSucceeded) << s.kind;
  EXPECT_EQ(r.previous_version, "v1");
  bool measured = false;
  for (const auto& [name, v] : r.steps[4].values) measured |= name == "error_rate(10s)" && v == 0;
  EXPECT_TRUE(measured) << RunJson(r);
  EXPECT_THAT(said_, ::testing::Contains("analyze succeeded"));
  EXPECT_EQ(said_.back(), "run succeeded");
  EXPECT_TRUE(orchestrator_.rollbacks.empty());
}

TEST_F(RunnerTest, BadReleaseFailsAnalyzeAndIsRolledBack) {
  Make({Pipeline(core::PipelineConfig::Environment::kStaging, FullSteps())});
  for (int i = 0; i < 5; ++i) Second("v1", 100, 0);
  std::string id = runner_->StartRun("auth", "v2").run->id;
  runner_->Tick();
  runner_->Approve(id);
  for (int i = 0; i < 15 && Get(id).state == RunState::kRunning; ++i) Second("v2", 100, 5);
  RunRecord r = Get(id);
  EXPECT_EQ(r.state, RunState::kRolledBack) << r.message << " " << r.rollback_message;
  EXPECT_EQ(r.steps[4].state, StepState::kFailed);
  EXPECT_THAT(r.steps[4].message, HasSubstr("fail:"));
  EXPECT_EQ(r.steps[5].state, StepState::kSkipped);
  EXPECT_EQ(r.rollback_result, "rolled_back");
  ASSERT_EQ(orchestrator_.rollbacks.size(), 1u);
  EXPECT_EQ(orchestrator_.rollbacks[0], "1") << "back to the revision that ran before";
  EXPECT_THAT(r.roll_forward, HasSubstr("roll forward")) << "the migration stays applied";
  auto audit = audit_->Recent();
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].origin, "pipeline auth run auth-1");
  EXPECT_EQ(audit[0].baseline_version, "v1");
}

TEST_F(RunnerTest, FailureBeforeTheRolloutRollsNothingBack) {
  Make({Pipeline(core::PipelineConfig::Environment::kStaging, FullSteps({"false"}))});
  std::string id = runner_->StartRun("auth", "v2").run->id;
  runner_->Tick();
  RunRecord r = Get(id);
  EXPECT_EQ(r.state, RunState::kFailed);
  EXPECT_EQ(r.steps[0].state, StepState::kFailed);
  EXPECT_THAT(r.steps[0].message, HasSubstr("false exited with 1"));
  EXPECT_THAT(r.roll_forward, HasSubstr("roll forward: the database stays where false left it"));
  EXPECT_THAT(r.message, HasSubstr("nothing was rolled out"));
  EXPECT_TRUE(orchestrator_.images.empty());
  EXPECT_TRUE(orchestrator_.rollbacks.empty());
}

TEST_F(RunnerTest, ProductionTakesOnlyTaggedReleases) {
  Make({Pipeline(core::PipelineConfig::Environment::kProduction, FullSteps())});
  std::string id = runner_->StartRun("auth", "latest").run->id;
  runner_->Tick();
  runner_->Approve(id);
  runner_->Tick();
  RunRecord r = Get(id);
  EXPECT_EQ(r.state, RunState::kFailed);
  EXPECT_THAT(r.steps[2].message, HasSubstr("tagged releases only"));
  EXPECT_TRUE(orchestrator_.images.empty());
  EXPECT_TRUE(orchestrator_.rollbacks.empty());
}

TEST_F(RunnerTest, ProductionWithoutApprovalDoesNotRollOut) {
  // check-config refuses this pipeline; the runner refuses it too, should one get through.
  Make({Pipeline(core::PipelineConfig::Environment::kProduction,
                 {Step(K::kRollout), Step(K::kPromote)})});
  std::string id = runner_->StartRun("auth", "v1.2.0").run->id;
  runner_->Tick();
  RunRecord r = Get(id);
  EXPECT_EQ(r.state, RunState::kFailed);
  EXPECT_THAT(r.steps[0].message, HasSubstr("approval"));
  EXPECT_TRUE(orchestrator_.images.empty());
}

TEST_F(RunnerTest, OneRunAtATimePerPipeline) {
  Make({Pipeline(core::PipelineConfig::Environment::kStaging, FullSteps())});
  std::string id = runner_->StartRun("auth", "v2").run->id;
  RunAnswer second = runner_->StartRun("auth", "v3");
  EXPECT_EQ(second.status, 409);
  EXPECT_THAT(second.error, HasSubstr(id));
  EXPECT_EQ(runner_->StartRun("nope", "v3").status, 404);
  EXPECT_EQ(runner_->Abort(id).status, 202);  // running: ends when its step returns
  runner_->Tick();
  EXPECT_EQ(Get(id).state, RunState::kAborted);
  EXPECT_EQ(runner_->StartRun("auth", "v3").status, 201);
  EXPECT_EQ(runner_->StartRun("auth", "bad tag!").status, 400);
}

TEST_F(RunnerTest, TooLittleTrafficIsInconclusiveAndWaitsForAPerson) {
  auto steps = FullSteps();
  steps[4].timeout = 20s;
  Make({Pipeline(core::PipelineConfig::Environment::kStaging, steps)});
  std::string id = runner_->StartRun("auth", "v2").run->id;
  runner_->Tick();
  runner_->Approve(id);
  for (int i = 0; i < 30 && Get(id).state == RunState::kRunning; ++i) Second("v2", 2, 0);
  RunRecord r = Get(id);
  EXPECT_EQ(r.state, RunState::kInconclusive) << r.message;
  EXPECT_THAT(r.message, HasSubstr("too little traffic"));
  EXPECT_TRUE(orchestrator_.rollbacks.empty()) << "no guessing";
  ASSERT_EQ(runner_->Approve(id).status, 200);
  runner_->Tick();
  EXPECT_EQ(Get(id).state, RunState::kSucceeded);
}

TEST_F(RunnerTest, EnoughTrafficWithErrorsFailsAtTheDeadline) {
  auto steps = FullSteps();
  steps[4].fail.clear();
  steps[4].timeout = 20s;
  Make({Pipeline(core::PipelineConfig::Environment::kStaging, steps)});
  for (int i = 0; i < 5; ++i) Second("v1", 100, 0);
  std::string id = runner_->StartRun("auth", "v2").run->id;
  runner_->Tick();
  runner_->Approve(id);
  for (int i = 0; i < 30 && Get(id).state == RunState::kRunning; ++i) Second("v2", 100, 2);
  RunRecord r = Get(id);
  EXPECT_EQ(r.state, RunState::kRolledBack) << r.message;
  EXPECT_THAT(r.steps[4].message, HasSubstr("did not hold for 5s within 20s"));
}

TEST_F(RunnerTest, DestructiveMigrationStopsTheRunBeforeTheRollout) {
  testing::TempDir dir;
  dir.Write("0002_drop_email.sql", "ALTER TABLE users DROP COLUMN email;\n");
  Make({Pipeline(core::PipelineConfig::Environment::kStaging,
                 {Migrate({"true"}, {dir.path()}), Step(K::kRollout), Step(K::kPromote)})});
  std::string id = runner_->StartRun("auth", "v2").run->id;
  runner_->Tick();
  RunRecord r = Get(id);
  EXPECT_EQ(r.state, RunState::kFailed);
  ASSERT_FALSE(r.steps[0].findings.empty());
  EXPECT_EQ(r.steps[0].findings[0].rule, "drop_column");
  EXPECT_EQ(r.steps[0].findings[0].line, 1);
  EXPECT_THAT(r.steps[0].message, HasSubstr("0002_drop_email.sql:1 drop_column"));
  EXPECT_TRUE(orchestrator_.images.empty());
}

TEST_F(RunnerTest, AllowedContractMigrationRefusesTheRollbackAfterwards) {
  testing::TempDir dir;
  dir.Write("0002_drop_email.sql", "ALTER TABLE users DROP COLUMN email;\n");
  for (int i = 0; i < 5; ++i) Second("v1", 100, 0);
  Make(
      {Pipeline(core::PipelineConfig::Environment::kStaging,
                {Migrate({"true"}, {dir.path()}, {"drop_column"}), Step(K::kRollout),
                 Analyze("error_rate(10s) < 1%", 5s, "error_rate(10s) > 3%"), Step(K::kPromote)})});
  std::string id = runner_->StartRun("auth", "v2").run->id;
  for (int i = 0; i < 10 && Get(id).state == RunState::kRunning; ++i) Second("v2", 100, 10);
  RunRecord r = Get(id);
  EXPECT_EQ(r.state, RunState::kFailed) << r.message;
  EXPECT_THAT(r.contract_migration, HasSubstr("drop_column"));
  EXPECT_EQ(r.rollback_result, "refused");
  EXPECT_THAT(r.message, HasSubstr("not rolled back (migration)"));
  EXPECT_TRUE(orchestrator_.rollbacks.empty());
}

TEST_F(RunnerTest, RestartResumesAWaitingApprovalAndInterruptsARunningRun) {
  testing::TempDir dir;
  std::string runs = dir.path() + "/runs";
  Make({Pipeline(core::PipelineConfig::Environment::kStaging, FullSteps()),
        [] {
          auto p = Pipeline(core::PipelineConfig::Environment::kStaging, FullSteps());
          p.name = "other";
          return p;
        }()},
       runs);
  ASSERT_TRUE(runner_->Load());
  std::string waiting = runner_->StartRun("auth", "v2").run->id;
  runner_->Tick();
  ASSERT_EQ(Get(waiting).state, RunState::kWaitingForApproval);
  std::string running = runner_->StartRun("other", "v2").run->id;  // never ticked: running

  auto configs = std::vector<core::PipelineConfig>{
      Pipeline(core::PipelineConfig::Environment::kStaging, FullSteps()), [] {
        auto p = Pipeline(core::PipelineConfig::Environment::kStaging, FullSteps());
        p.name = "other";
        return p;
      }()};
  Make(configs, runs);  // a new process
  said_.clear();
  ASSERT_TRUE(runner_->Load());
  EXPECT_EQ(Get(waiting).state, RunState::kWaitingForApproval);
  EXPECT_EQ(Get(running).state, RunState::kInterrupted);
  EXPECT_THAT(said_, ::testing::ElementsAre("run interrupted"));
  EXPECT_EQ(runner_->StartRun("auth", "v3").status, 409) << "the waiting run still holds it";
  ASSERT_EQ(runner_->Approve(waiting).status, 200);
  for (int i = 0; i < 15 && Get(waiting).state == RunState::kRunning; ++i) Second("v2", 100, 0);
  EXPECT_EQ(Get(waiting).state, RunState::kSucceeded) << Get(waiting).message;
  RunAnswer next = runner_->StartRun("auth", "v3");
  ASSERT_EQ(next.status, 201);
  EXPECT_EQ(next.run->id, "auth-2") << "numbers go on from the runs on disk";
}

TEST(RunJsonTest, ReadsBackWhatItWrites) {
  RunRecord r;
  r.id = "auth-7";
  r.pipeline = "auth";
  r.tag = "v1.2.0";
  r.state = RunState::kInconclusive;
  r.created = core::TimePoint(std::chrono::seconds(1'700'000'000));
  r.current = 1;
  r.contract_migration = "a.sql:3 drop_column";
  StepRecord s;
  s.kind = "analyze";
  s.state = StepState::kWaiting;
  s.values = {{"error_rate(1m)", 0.005}};
  s.findings = {{"a.sql", 3, "drop_column", "error", "drops \"email\""}};
  StepRecord approve;
  approve.kind = "approve";
  approve.state = StepState::kSucceeded;
  r.steps = {approve, s};
  auto back = RunFromJson(RunJson(r));
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(RunJson(*back), RunJson(r));
  EXPECT_FALSE(RunFromJson("{\"id\":\"x\"}"));
  EXPECT_FALSE(RunFromJson("not json"));
}

}  // namespace
}  // namespace obsgate::deploy
