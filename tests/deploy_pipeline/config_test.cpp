// Pipelines as the configuration file gives them, and each problem at its line.
#include "core/config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace obsgate::core {
namespace {

using ::testing::HasSubstr;

ConfigLoad Parse(const std::string& yaml) {
  return ParseConfig(yaml, "obsgate.yaml", [](const std::string&) { return std::nullopt; });
}

std::string Problems(const ConfigLoad& load) {
  std::string out;
  for (const ConfigProblem& p : load.problems) out += p.ToString() + "\n";
  return out;
}

TEST(PipelineConfigTest, ReadsEveryStep) {
  ConfigLoad load = Parse(R"(pipelines:
  - name: auth-production
    namespace: shop
    deployment: auth
    container: auth
    image: registry.example.com:5000/shop/auth
    environment: production
    on_failure: none
    steps:
      - migrate:
          command: [alembic, upgrade, head]
          dir: /srv/auth
          env: {DATABASE_URL: postgres://db/auth}
          timeout: 10m
          paths: [alembic/versions]
          allow: [drop_column]
      - approve
      - rollout: {timeout: 1m}
      - wait: {health_url: "http://auth:8000/health", timeout: 5m}
      - analyze:
          expr: error_rate(1m) < 1% and requests(1m) >= 50
          for: 5m
          fail: error_rate(1m) > 5%
      - promote
)");
  ASSERT_TRUE(load.config) << Problems(load);
  ASSERT_EQ(load.config->pipelines.size(), 1u);
  const PipelineConfig& p = load.config->pipelines[0];
  EXPECT_EQ(p.name, "auth-production");
  EXPECT_EQ(p.image, "registry.example.com:5000/shop/auth") << "a registry port is not a tag";
  EXPECT_EQ(p.environment, PipelineConfig::Environment::kProduction);
  EXPECT_FALSE(p.rollback_on_failure);
  ASSERT_EQ(p.steps.size(), 6u);
  EXPECT_EQ(p.steps[0].command, (std::vector<std::string>{"alembic", "upgrade", "head"}));
  EXPECT_EQ(p.steps[0].env[0].second, "postgres://db/auth");
  EXPECT_EQ(p.steps[0].allow, std::vector<std::string>{"drop_column"});
  EXPECT_EQ(p.steps[0].timeout, std::chrono::minutes(10));
  EXPECT_EQ(p.steps[1].kind, PipelineStepConfig::Kind::kApprove);
  EXPECT_EQ(p.steps[3].health_url, "http://auth:8000/health");
  EXPECT_EQ(p.steps[4].for_, std::chrono::minutes(5));
  EXPECT_EQ(p.steps[4].expr_line, 21);
  EXPECT_EQ(p.steps[4].fail, "error_rate(1m) > 5%");
}

TEST(PipelineConfigTest, ReportsEachProblemAtItsLine) {
  ConfigLoad load = Parse(R"(pipelines:
  - name: bad name
    deployment: auth
    image: registry.example.com/shop/auth:v1
    environment: prod
    steps:
      - deploy
      - migrate: {paths: [m], colour: blue}
      - rollout
      - analyze: {expr: error_rate(1m) < 1%}
  - name: p
    deployment: auth
    image: shop/auth
    environment: production
    steps: [wait, rollout, promote, approve]
)");
  ASSERT_FALSE(load.config);
  std::string problems = Problems(load);
  EXPECT_THAT(problems, HasSubstr("obsgate.yaml:2:11: pipelines[0].name: \"bad name\" is not"));
  EXPECT_THAT(problems, HasSubstr(":4:12: pipelines[0].image: give the repository without a tag"));
  EXPECT_THAT(problems, HasSubstr(":5:18: pipelines[0].environment: \"prod\" is not"));
  EXPECT_THAT(problems, HasSubstr(":7:9: pipelines[0].steps[0]: \"deploy\" is not a step"));
  EXPECT_THAT(problems, HasSubstr("pipelines[0].steps[1].migrate.colour"));
  EXPECT_THAT(problems, HasSubstr("a migrate step runs a command"));
  EXPECT_THAT(problems, HasSubstr("an analyze step needs for:"));
  EXPECT_THAT(problems, HasSubstr("wait watches the new version: put it after the rollout"));
  EXPECT_THAT(problems, HasSubstr("needs an approve step before its rollout"));
  EXPECT_THAT(problems, HasSubstr("promote ends the run: make it the last step"));
}

}  // namespace
}  // namespace obsgate::core
