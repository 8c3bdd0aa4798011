// A person's rollback from a terminal: obsgate rollback and obsgate revisions against the
// cluster $KUBECONFIG names (a fake API server), with no gateway running.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "tests/fakes/kubernetes.hpp"
#include "tests/integration/gateway_process.hpp"

namespace obsgate::testing {
namespace {

using ::testing::HasSubstr;

class RollbackCli : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(k8s_.Start());
    k8s_.AddDeployment(
        {.ns = "shop", .name = "auth", .image = "registry.example.com/shop/auth", .revisions = 3});
    kubeconfig_ = dir_.Write("kubeconfig", k8s_.Kubeconfig());
    config_ = dir_.Write("obsgate.yaml", "data_dir: " + dir_.path() + "/data\n");
    to_revision_config_ = dir_.Write(
        "cool.yaml", "data_dir: " + dir_.path() + "/data2\n" + "rollback: {cooldown: 0s}\n");
  }
  RunResult Run(std::vector<std::string> args) {
    args.insert(args.begin(), OBSGATE_BINARY);
    return RunCommand(args, {}, {"KUBECONFIG=" + kubeconfig_});
  }

  fakes::FakeKubernetes k8s_;
  TempDir dir_;
  std::string kubeconfig_;
  std::string config_;
  std::string to_revision_config_;
};

TEST_F(RollbackCli, RevisionsListsWhatTheClusterKeepsCurrentFirst) {
  RunResult r = Run({"revisions", "shop/auth", "--config", config_});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("REVISION"));
  std::size_t v3 = r.output.find("v3"), v2 = r.output.find("v2"), v1 = r.output.find("v1");
  ASSERT_NE(v3, std::string::npos) << r.output;
  EXPECT_LT(v3, v2);
  EXPECT_LT(v2, v1);
  EXPECT_THAT(r.output, HasSubstr("(current)"));
}

TEST_F(RollbackCli, DryRunChangesNothingAndRollbackPatchesOnceAndIsAudited) {
  RunResult dry = Run({"rollback", "shop/auth", "--dry-run", "--config", config_});
  EXPECT_EQ(dry.exit_code, 0) << dry.output;
  EXPECT_THAT(dry.output, HasSubstr("dry_run"));
  EXPECT_TRUE(k8s_.Requests("PATCH").empty());

  RunResult r = Run({"rollback", "shop/auth", "--config", config_});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("shop/auth: rolled_back"));
  EXPECT_EQ(k8s_.Requests("PATCH").size(), 1u);
  std::ifstream in(dir_.path() + "/data/rollbacks.jsonl");
  std::string audit((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_THAT(audit, HasSubstr("\"result\":\"rolled_back\""));
  EXPECT_THAT(audit, HasSubstr("\"origin\":\"person"));
  EXPECT_THAT(audit, HasSubstr("\"badVersion\":\"v3\""));

  // The cooldown holds across runs of the command: it reads the audit log.
  RunResult again = Run({"rollback", "shop/auth", "--to-revision", "1", "--config", config_});
  EXPECT_EQ(again.exit_code, 1) << again.output;
  EXPECT_THAT(again.output, HasSubstr("cooldown"));
  EXPECT_THAT(again.output, HasSubstr("obsgate rollback --force shop/auth"));
  EXPECT_EQ(k8s_.Requests("PATCH").size(), 1u);
}

TEST_F(RollbackCli, ForceOverridesTheCooldownAndIsAuditedAsForced) {
  ASSERT_EQ(Run({"rollback", "shop/auth", "--config", config_}).exit_code, 0);
  RunResult forced = Run({"rollback", "shop/auth", "--force", "--config", config_});
  ASSERT_EQ(forced.exit_code, 0) << forced.output;
  EXPECT_THAT(forced.output, HasSubstr("shop/auth: rolled_back"));
  EXPECT_EQ(k8s_.Requests("PATCH").size(), 2u);
  std::ifstream in(dir_.path() + "/data/rollbacks.jsonl");
  std::string first, second;
  std::getline(in, first);
  std::getline(in, second);
  EXPECT_THAT(first, HasSubstr("\"forced\":false"));
  EXPECT_THAT(second, HasSubstr("\"forced\":true"));
  EXPECT_THAT(second, HasSubstr("\"result\":\"rolled_back\""));
}

TEST_F(RollbackCli, ToRevisionGoesBackFurther) {
  RunResult r =
      Run({"rollback", "shop/auth", "--to-revision", "1", "--config", to_revision_config_});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_EQ(k8s_.Requests("PATCH").size(), 1u);
  EXPECT_THAT(k8s_.Requests("PATCH")[0].body, HasSubstr("auth:v1"));
}

TEST_F(RollbackCli, ForbiddenSaysWhichPermissionIsMissing) {
  k8s_.AddFault({.method = "PATCH", .path_part = "deployments/auth", .status = 403, .times = 5});
  RunResult r = Run({"rollback", "shop/auth", "--config", config_});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("patch"));
  EXPECT_THAT(r.output, ::testing::Not(HasSubstr("t0ken")));
}

TEST_F(RollbackCli, BadUsageIsExplained) {
  RunResult r = Run({"rollback", "auth"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("NAMESPACE/DEPLOYMENT"));
  RunResult help = Run({"rollback", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.output, HasSubstr("--to-revision"));
  EXPECT_THAT(help.output, HasSubstr("--force"));
}

}  // namespace
}  // namespace obsgate::testing
