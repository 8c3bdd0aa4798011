#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "core/config.hpp"
#include "tests/core/config_test_support.hpp"
#include "tests/support/process.hpp"

namespace obsgate::core {
namespace {

using ::testing::ElementsAre;

using testing::FakeEnv;

std::vector<std::string> Problems(std::string_view yaml, Env env = FakeEnv({})) {
  return testing::ProblemsOf(yaml, env);
}

const char* kSlackUrl = "https://hooks.slack.com/services/T0001/B0001/s3cr3tS3cr3tS3cr3t";
const char* kRoutingKey = "0123456789abcdef0123456789abcdef";

TEST(AlertingConfig, ReadsRouteReceiversAndInhibitRules) {
  ConfigLoad load = ParseConfig(
      R"(
external_url: https://obsgate.example.com
data_dir: /var/lib/obsgate
receivers:
  - name: slack
    slack: {webhook_url: "${SLACK_WEBHOOK_URL}", channel: "#deploys", http: {timeout: 5s}}
  - name: pagerduty
    pagerduty: {routing_key: "${PD_KEY}", severity_label: x}
  - name: am
    alertmanager: {urls: [http://127.0.0.1:9093], resend_interval: 30s}
  - name: hook
    webhook: {url: "http://127.0.0.1:9000/hook", max_alerts: 5}
  - name: log
    log: {}
route:
  receiver: slack
  group_by: [deployment]
  group_wait: 0s
  routes:
    - matchers: ['severity="critical"', 'team =~ "db|web"']
      receiver: pagerduty
      continue: true
      repeat_interval: 1h
    - match: {team: payments}
      match_re: {service: "api.*"}
      receiver: hook
inhibit_rules:
  - source_matchers: [severity=critical]
    target_matchers: [severity=warning]
    equal: [namespace, deployment]
notifications: {give_up_after: 30m, history: 50}
)",
      "obsgate.yaml", FakeEnv({{"SLACK_WEBHOOK_URL", kSlackUrl}, {"PD_KEY", kRoutingKey}}));
  // severity_label is not a key: the one problem.
  ASSERT_EQ(load.problems.size(), 1u);
  EXPECT_EQ(load.problems[0].ToString(),
            "obsgate.yaml:8:43: receivers[1].pagerduty.severity_label: unknown key; check its "
            "spelling and place");
  const AlertingConfig& a = load.parsed.alerting;
  EXPECT_TRUE(a.given);
  EXPECT_EQ(a.external_url, "https://obsgate.example.com");
  EXPECT_EQ(load.parsed.data_dir, "/var/lib/obsgate");
  ASSERT_EQ(a.receivers.size(), 5u);
  auto& slack = std::get<SlackReceiverConfig>(a.receivers[0].spec);
  EXPECT_EQ(slack.webhook_url, kSlackUrl);
  EXPECT_EQ(slack.channel, "#deploys");
  EXPECT_EQ(slack.http.timeout, std::chrono::seconds(5));
  EXPECT_EQ(std::get<PagerDutyReceiverConfig>(a.receivers[1].spec).routing_key, kRoutingKey);
  EXPECT_EQ(std::get<AlertmanagerReceiverConfig>(a.receivers[2].spec).resend_interval,
            std::chrono::seconds(30));
  EXPECT_EQ(std::get<WebhookReceiverConfig>(a.receivers[3].spec).max_alerts, 5);
  EXPECT_EQ(a.route.receiver, "slack");
  EXPECT_EQ(a.route.group_wait, Duration(0));
  EXPECT_FALSE(a.route.group_interval.has_value()) << "inherited, not defaulted here";
  ASSERT_EQ(a.route.routes.size(), 2u);
  const RouteConfig& critical = a.route.routes[0];
  ASSERT_EQ(critical.matchers.size(), 2u);
  EXPECT_EQ(LabelMatcherText(critical.matchers[1]), "team=~\"db|web\"");
  EXPECT_TRUE(critical.continue_matching);
  EXPECT_EQ(critical.repeat_interval, std::chrono::hours(1));
  EXPECT_EQ(a.route.routes[1].matchers.size(), 2u);
  ASSERT_EQ(a.inhibit_rules.size(), 1u);
  EXPECT_EQ(a.inhibit_rules[0].equal, (std::vector<std::string>{"namespace", "deployment"}));
  EXPECT_EQ(a.give_up_after, std::chrono::minutes(30));
  EXPECT_EQ(a.history, 50);
}

TEST(AlertingConfig, ParsesMatchersAsAlertmanagerWritesThem) {
  using Op = LabelMatcherConfig::Op;
  struct Case {
    const char* text;
    Op op;
    const char* name;
    const char* value;
  } cases[] = {
      {"severity=\"critical\"", Op::kEqual, "severity", "critical"},
      {"severity = critical", Op::kEqual, "severity", "critical"},
      {"env!=prod", Op::kNotEqual, "env", "prod"},
      {"team=~\"db|web\"", Op::kRegex, "team", "db|web"},
      {"team!~'x'", Op::kNotRegex, "team", "'x'"},
      {"msg=\"say \\\"hi\\\"\"", Op::kEqual, "msg", "say \"hi\""},
      {"empty=\"\"", Op::kEqual, "empty", ""},
  };
  for (const Case& c : cases) {
    auto m = ParseLabelMatcher(c.text);
    ASSERT_TRUE(m) << c.text << ": " << m.error();
    EXPECT_EQ(m->op, c.op) << c.text;
    EXPECT_EQ(m->name, c.name) << c.text;
    EXPECT_EQ(m->value, c.value) << c.text;
    auto again = ParseLabelMatcher(LabelMatcherText(*m));
    ASSERT_TRUE(again);
    EXPECT_EQ(*again, *m) << "round trip of " << c.text;
  }
  for (const char* bad : {"", "=x", "9a=x", "severity", "a=~\"(\"", "a=\"open"}) {
    EXPECT_FALSE(ParseLabelMatcher(bad)) << bad;
  }
}

TEST(AlertingConfig, ReportsEveryProblemWithItsPlace) {
  EXPECT_THAT(Problems(R"(receivers:
  - name: slack
    slack: {webhook_url: "ftp://x"}
  - name: pd
    pagerduty: {routing_key: short}
  - name: both
    log: {}
    webhook: {url: http://x}
  - name: slack
    log: {}
route:
  receiver: nobody
  routes:
    - matchers: ['a=~"("']
      receiver: ghost
inhibit_rules:
  - equal: [x]
)"),
              ElementsAre("obsgate.yaml:3:26: receivers[0].slack.webhook_url: is not an http:// "
                          "or https:// URL",
                          "obsgate.yaml:5:30: receivers[1].pagerduty.routing_key: a PagerDuty "
                          "routing key has 32 characters",
                          "obsgate.yaml:6:5: receivers[2]: a receiver has exactly one of slack:, "
                          "pagerduty:, alertmanager:, webhook: or log:",
                          "obsgate.yaml:9:5: receivers[3]: two receivers are named \"slack\"",
                          "obsgate.yaml:12:3: route.receiver: no receiver is named \"nobody\"; "
                          "add it under receivers:",
                          "obsgate.yaml:14:7: route.routes[0].receiver: no receiver is named "
                          "\"ghost\"; add it under receivers:",
                          "obsgate.yaml:14:17: route.routes[0].matchers: \"(\" in \"a=~\"(\"\" is "
                          "not a valid regular expression (RE2 syntax)",
                          "obsgate.yaml:17:5: inhibit_rules[0].source_matchers: an inhibit rule "
                          "needs source and target matchers, or it would mute every alert"));
  EXPECT_THAT(Problems("receivers: [{name: a, log: {}}]\n"),
              ElementsAre("obsgate.yaml: route: receivers are given but no route: says which gets "
                          "what"));
}

TEST(AlertingConfig, SecretsAreNeverEchoed) {
  for (const char* yaml : {
           "receivers: [{name: s, slack: {webhook_url: \"${S}\"}}]\nroute: {receiver: s}\n",
           "receivers: [{name: p, pagerduty: {routing_key: \"${S}\"}}]\nroute: {receiver: p}\n",
           "receivers: [{name: w, webhook: {url: \"${S}\"}}]\nroute: {receiver: w}\n",
       }) {
    std::vector<std::string> problems = Problems(yaml, FakeEnv({{"S", "not-a-url-s3cr3t"}}));
    ASSERT_FALSE(problems.empty()) << yaml;
    for (const std::string& p : problems) EXPECT_EQ(p.find("s3cr3t"), std::string::npos) << p;
  }
}

TEST(AlertingConfig, SecretFromAMountedFile) {
  obsgate::testing::TempDir dir;
  std::string file = dir.Write("key", std::string(kRoutingKey) + "\n");
  ConfigLoad load = ParseConfig(
      "receivers: [{name: p, pagerduty: {routing_key_file: " + file + "}}]\nroute: {receiver: p}\n",
      "obsgate.yaml", FakeEnv({}));
  ASSERT_TRUE(load.config) << load.problems[0].ToString();
  EXPECT_EQ(std::get<PagerDutyReceiverConfig>(load.config->alerting.receivers[0].spec).routing_key,
            kRoutingKey);
}

}  // namespace
}  // namespace obsgate::core

namespace obsgate::core {
namespace {

TEST(RollbackConfig, ReadsOrchestratorAndGuards) {
  ConfigLoad load = ParseConfig(R"(
orchestrator:
  kubernetes: {kubeconfig: /etc/kube/config, context: prod, timeout: 5s, resync: 10s,
               namespaces: [shop]}
rollback:
  only_within: 1h
  cooldown: 15m
  max_per_hour: 2
  dry_run: true
  mode: pause
  baseline_max_error_rate: 2%
  shared_outage: {peers: all, window: 30s, before: 5m, similar: 25%, min_requests: 50}
)",
                                "obsgate.yaml", FakeEnv({}));
  ASSERT_TRUE(load.config) << load.problems[0].ToString();
  const auto& k = std::get<KubernetesOrchestratorConfig>(load.config->orchestrator.spec);
  EXPECT_EQ(k.kubeconfig, "/etc/kube/config");
  EXPECT_EQ(k.context, "prod");
  EXPECT_EQ(k.resync, std::chrono::seconds(10));
  EXPECT_EQ(k.namespaces, std::vector<std::string>{"shop"});
  const RollbackConfig& r = load.config->rollback;
  EXPECT_EQ(r.only_within, std::chrono::hours(1));
  EXPECT_EQ(r.cooldown, std::chrono::minutes(15));
  EXPECT_EQ(r.max_per_hour, 2);
  EXPECT_TRUE(r.dry_run);
  EXPECT_TRUE(r.pause);
  EXPECT_DOUBLE_EQ(r.baseline_max_error_rate, 0.02);
  EXPECT_EQ(r.shared_outage.peers, RollbackConfig::SharedOutage::Peers::kAll);
  EXPECT_EQ(r.shared_outage.window, std::chrono::seconds(30));
  EXPECT_EQ(r.shared_outage.before, std::chrono::minutes(5));
  EXPECT_DOUBLE_EQ(r.shared_outage.similar, 0.25);
  EXPECT_EQ(r.shared_outage.min_requests, 50);
  EXPECT_EQ(RollbackConfig{}.shared_outage.peers, RollbackConfig::SharedOutage::Peers::kNamespace)
      << "on unless turned off";

  ConfigLoad swarm = ParseConfig("orchestrator: {swarm: {host: \"tcp://manager:2376\"}}\n",
                                 "obsgate.yaml", FakeEnv({}));
  ASSERT_TRUE(swarm.config);
  EXPECT_EQ(std::get<SwarmOrchestratorConfig>(swarm.config->orchestrator.spec).host,
            "tcp://manager:2376");
  ConfigLoad exec = ParseConfig(
      "orchestrator: {exec: {rollback: [helm, rollback, \"{deployment}\"], timeout: 2m}}\n",
      "obsgate.yaml", FakeEnv({}));
  ASSERT_TRUE(exec.config);
  EXPECT_EQ(std::get<ExecOrchestratorConfig>(exec.config->orchestrator.spec).rollback.size(), 3u);
}

TEST(RollbackConfig, ReportsProblems) {
  EXPECT_THAT(Problems(R"(orchestrator:
  kubernetes: {in_cluster: true, context: x}
  swarm: {host: "http://x"}
rollback: {mode: yolo, max_per_hour: -1}
)"),
              ElementsAre("obsgate.yaml:2:3: orchestrator: one orchestrator: kubernetes:, swarm: "
                          "or exec:",
                          "obsgate.yaml:2:28: orchestrator.kubernetes.in_cluster: in_cluster uses "
                          "the service account; drop kubeconfig and context",
                          "obsgate.yaml:3:17: orchestrator.swarm.host: \"http://x\" is not "
                          "unix:///path or tcp://host:port",
                          "obsgate.yaml:4:18: rollback.mode: \"yolo\" is not a mode; use auto "
                          "(act) or pause (wait for a person)",
                          "obsgate.yaml:4:38: rollback.max_per_hour: \"-1\" is out of range; use 0 "
                          "to 1000"));
  EXPECT_THAT(Problems("rollback: {shared_outage: {peers: team, window: 0s, color: red}}\n"),
              ElementsAre(::testing::HasSubstr("rollback.shared_outage.peers: \"team\" is not a "
                                               "choice; use namespace"),
                          ::testing::HasSubstr("rollback.shared_outage.window: must be longer"),
                          ::testing::HasSubstr("rollback.shared_outage.color")));
  EXPECT_THAT(Problems("orchestrator: {exec: {}}\n"),
              ElementsAre(::testing::HasSubstr("orchestrator.exec.rollback: name the command")));
}

}  // namespace
}  // namespace obsgate::core
