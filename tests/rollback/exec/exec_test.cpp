#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/types.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "rollback/exec/exec_orchestrator.hpp"
#include "tests/support/process.hpp"

namespace obsgate::rollback::exec {
namespace {

using namespace std::chrono_literals;
using Outcome = ActionResult::Outcome;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class ExecRollback : public ::testing::Test {
 protected:
  std::unique_ptr<ExecOrchestrator> Make() {
    auto o = ExecOrchestrator::Create(config_, clock_);
    EXPECT_TRUE(o.ok()) << o.error();
    return std::move(o).value();
  }

  core::FakeClock clock_;
  core::ExecOrchestratorConfig config_;
  const Target auth_{"shop", "auth"};
};

// Whether a process is still running (a zombie waiting to be reaped is not).
bool Running(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  std::size_t close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z';
}

TEST(Expand, ReplacesEveryPlaceholderInOnePass) {
  Placeholders v{"shop", "auth", "v2", "v1", "registry/auth:v1"};
  EXPECT_EQ(Expand("{deployment}", v), "auth");
  EXPECT_EQ(Expand("--release={namespace}-{deployment}-{deployment}", v),
            "--release=shop-auth-auth");
  EXPECT_EQ(Expand("{from_version}..{to_version} {image}", v), "v2..v1 registry/auth:v1");
  EXPECT_EQ(Expand("{unknown} {deployment", v), "{unknown} {deployment");
  Placeholders sneaky{"{deployment}", "auth", "", "", ""};
  EXPECT_EQ(Expand("{namespace}", sneaky), "{deployment}");  // values are never expanded again
}

TEST_F(ExecRollback, RunsTheCommandWithTheTargetAndVersions) {
  config_.rollback = {"printf",       "[%s]\\n",        "{namespace}",
                      "{deployment}", "{from_version}", "{to_version}"};
  ActionResult r = Make()->RollBackFromTo(auth_, "v2", "v1");

  EXPECT_EQ(r.outcome, Outcome::kDone) << r.message;
  EXPECT_EQ(r.detail, "[shop]\n[auth]\n[v2]\n[v1]\n");
  EXPECT_EQ(r.from_version, "v2");
  EXPECT_EQ(r.to_version, "v1");
  EXPECT_THAT(r.message, HasSubstr("rollback of shop/auth done"));
}

TEST_F(ExecRollback, RollBackTakesTheRevisionAsTheVersionToReturnTo) {
  config_.rollback = {"printf", "%s", "to={to_version} from={from_version}"};
  ActionResult r = Make()->RollBack(auth_, {.to_revision = "v1"});
  EXPECT_EQ(r.outcome, Outcome::kDone) << r.message;
  EXPECT_EQ(r.detail, "to=v1 from=");
}

TEST_F(ExecRollback, ArgumentsReachTheProgramVerbatimWithoutAShell) {
  testing::TempDir dir;
  std::string keep = dir.Write("keep", "precious");
  std::string marker = dir.path() + "/touched";
  std::string hostile = "$(touch " + marker + "); rm -rf " + keep + " `touch " + marker +
                        "` | cat * && echo \"$HOME\" > " + marker + " 'x'";
  config_.rollback = {"printf", "%s", "{deployment}"};
  ActionResult r = Make()->RollBack({"shop", hostile});

  EXPECT_EQ(r.outcome, Outcome::kDone) << r.message;
  EXPECT_EQ(r.detail, hostile);
  EXPECT_TRUE(std::filesystem::exists(keep));
  EXPECT_FALSE(std::filesystem::exists(marker));
}

TEST_F(ExecRollback, ANonZeroExitFailsWithItsCodeAndOutput) {
  config_.rollback = {"sh", "-c", "echo to stdout; echo to stderr >&2; exit 3"};
  ActionResult r = Make()->RollBackFromTo(auth_, "v2", "v1");

  EXPECT_EQ(r.outcome, Outcome::kFailed);
  EXPECT_THAT(r.message, HasSubstr("exited with 3"));
  EXPECT_THAT(r.detail, HasSubstr("to stdout\n"));
  EXPECT_THAT(r.detail, HasSubstr("to stderr\n"));
}

TEST_F(ExecRollback, OutputIsKeptToItsLast64KiB) {
  config_.rollback = {"sh", "-c", "head -c 300000 /dev/zero | tr '\\0' a; echo; echo THE END"};
  ActionResult r = Make()->RollBack(auth_);

  EXPECT_EQ(r.outcome, Outcome::kDone) << r.message;
  EXPECT_THAT(r.detail,
              StartsWith("[" + std::to_string(300000 + 1 + 8 - 64 * 1024) + " bytes cut]\n"));
  EXPECT_THAT(r.detail, EndsWith("aaa\nTHE END\n"));
  EXPECT_LE(r.detail.size(), 64u * 1024 + 32);
}

TEST_F(ExecRollback, ATimeOutKillsTheWholeProcessGroupAndIsRetriedLater) {
  testing::TempDir dir;
  std::string pidfile = dir.path() + "/child.pid";
  config_.timeout = 300ms;
  // The command leaves a grandchild behind; both must go.
  config_.rollback = {"sh", "-c", "sleep 60 & echo $! > " + pidfile + "; echo started; wait"};
  ActionResult r = Make()->RollBack(auth_);

  EXPECT_EQ(r.outcome, Outcome::kRetry) << r.message;
  EXPECT_THAT(r.message, HasSubstr("timed out after 300ms"));
  EXPECT_THAT(r.message, HasSubstr("process group was killed"));
  EXPECT_THAT(r.detail, HasSubstr("started"));
  std::ifstream in(pidfile);
  pid_t grandchild = 0;
  ASSERT_TRUE(in >> grandchild);
  // SIGKILL is delivered at once, but the process disappears a moment later.
  for (int i = 0; i < 500 && Running(grandchild); ++i) std::this_thread::sleep_for(10ms);
  EXPECT_FALSE(Running(grandchild));
}

TEST_F(ExecRollback, ACommandThatClosesItsOutputStillTimesOut) {
  config_.timeout = 300ms;
  config_.rollback = {"sh", "-c", "exec >/dev/null 2>&1; sleep 60"};
  ActionResult r = Make()->RollBack(auth_);
  EXPECT_EQ(r.outcome, Outcome::kRetry) << r.message;
}

TEST_F(ExecRollback, EndlessOutputIsBoundedUntilTheTimeOut) {
  config_.timeout = 300ms;
  config_.rollback = {"yes", "obsgate"};
  ActionResult r = Make()->RollBack(auth_);
  EXPECT_EQ(r.outcome, Outcome::kRetry) << r.message;
  EXPECT_LE(r.detail.size(), 64u * 1024 + 32);
  EXPECT_THAT(r.detail, HasSubstr("obsgate\nobsgate\n"));
}

TEST_F(ExecRollback, AMissingProgramFailsWithAClearMessage) {
  config_.rollback = {"obsgate-no-such-program", "{deployment}"};
  ActionResult r = Make()->RollBack(auth_);

  EXPECT_EQ(r.outcome, Outcome::kFailed);
  EXPECT_THAT(r.message, HasSubstr("cannot run \"obsgate-no-such-program\""));
  EXPECT_THAT(r.message, HasSubstr("No such file or directory"));
  EXPECT_THAT(r.message, HasSubstr("orchestrator.exec.rollback and PATH"));
}

TEST_F(ExecRollback, ThereAreNoRevisionsToList) {
  config_.rollback = {"true"};
  auto revisions = Make()->Revisions(auth_);
  ASSERT_FALSE(revisions.ok());
  EXPECT_THAT(revisions.error(), HasSubstr("keeps no revisions of shop/auth"));
}

TEST_F(ExecRollback, SetImageRunsItsCommandWithTheImageAndItsTag) {
  config_.rollback = {"true"};
  config_.set_image = {"printf", "%s %s %s", "{deployment}", "{image}", "{to_version}"};
  ActionResult r = Make()->SetImage(auth_, "", "registry:5000/shop/auth:v3@sha256:33");

  EXPECT_EQ(r.outcome, Outcome::kDone) << r.message;
  EXPECT_EQ(r.detail, "auth registry:5000/shop/auth:v3@sha256:33 v3");
  EXPECT_EQ(r.to_version, "v3");
}

TEST_F(ExecRollback, SetImageWithoutACommandFails) {
  config_.rollback = {"true"};
  ActionResult r = Make()->SetImage(auth_, "", "shop/auth:v3");
  EXPECT_EQ(r.outcome, Outcome::kFailed);
  EXPECT_THAT(r.message, HasSubstr("no set_image command"));
}

TEST_F(ExecRollback, StatusIsTheStatusCommandsExitCode) {
  config_.rollback = {"true"};
  config_.status = {"sh", "-c", "echo \"waiting for $0\"; exit 1", "{deployment}"};
  auto status = Make()->Status(auth_);
  ASSERT_TRUE(status.ok()) << status.error();
  EXPECT_EQ(status->state, RolloutStatus::State::kProgressing);
  EXPECT_THAT(status->message, HasSubstr("waiting for auth"));

  config_.status = {"true"};
  status = Make()->Status(auth_);
  ASSERT_TRUE(status.ok()) << status.error();
  EXPECT_EQ(status->state, RolloutStatus::State::kComplete);

  config_.status = {};
  status = Make()->Status(auth_);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->state, RolloutStatus::State::kComplete);

  config_.status = {"obsgate-no-such-program"};
  EXPECT_FALSE(Make()->Status(auth_).ok());
}

TEST(ExecConfig, ARollbackCommandIsRequired) {
  core::FakeClock clock;
  core::ExecOrchestratorConfig config;
  auto o = ExecOrchestrator::Create(config, clock);
  ASSERT_FALSE(o.ok());
  EXPECT_THAT(o.error(), HasSubstr("orchestrator.exec.rollback"));
}

}  // namespace
}  // namespace obsgate::rollback::exec
