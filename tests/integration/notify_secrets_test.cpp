// Webhook URLs and routing keys come from the environment and are never printed: not in the
// log when a receiver fails, not in the API, not in /metrics, not from check-config.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "tests/fakes/pagerduty.hpp"
#include "tests/fakes/slack.hpp"
#include "tests/integration/gateway_process.hpp"

namespace obsgate::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

constexpr const char* kRoutingKey = "R0ut1ngK3yR0ut1ngK3yR0ut1ngK3y12";
constexpr const char* kSlackSecret = "XXXXXXXXXXXXXXXXXXXXXXXX";  // the fake's webhook token

TEST(NotifySecrets, NeverPrintedWhenReceiversFail) {
  fakes::FakeSlack slack;
  fakes::FakePagerDuty pagerduty;
  ASSERT_TRUE(slack.Start());
  ASSERT_TRUE(pagerduty.Start());
  slack.SetDefault(fakes::Answer::ServerError(500));
  pagerduty.SetDefault(fakes::Answer::BadRequest());
  TempDir dir;
  std::string config = dir.Write("obsgate.yaml", R"(listen: 127.0.0.1:0
sources: [{http: {}}]
rules:
  - {name: Errors, expr: "error_rate(5s) > 1% and requests(5s) >= 10"}
receivers:
  - {name: slack, slack: {webhook_url: "${SLACK_WEBHOOK_URL}"}}
  - {name: pd, pagerduty: {routing_key: "${PD_ROUTING_KEY}", url: ")" +
                                                     pagerduty.url() +
                                                     R"("}}
route:
  receiver: slack
  group_wait: 0s
  routes: [{matchers: [alertname=Errors], receiver: slack, continue: true}, {receiver: pd}]
notifications: {retry_initial: 100ms}
)");
  std::vector<std::string> env = {"SLACK_WEBHOOK_URL=" + slack.url(),
                                  std::string("PD_ROUTING_KEY=") + kRoutingKey};
  GatewayProcess g = GatewayProcess::Start(config, env);
  for (int i = 0; i < 40 && (slack.count() < 2 || pagerduty.count() < 1); ++i) {
    std::string body;
    for (int j = 0; j < 20; ++j) body += j < 5 ? "{\"status\":500}\n" : "{\"status\":200}\n";
    Post(g.port, "/api/v1/logs?namespace=shop&deployment=auth&version=v2", body);
    std::this_thread::sleep_for(250ms);
  }
  ASSERT_GE(slack.count(), 2u) << g.process->Output();
  ASSERT_GE(pagerduty.count(), 1u) << g.process->Output();
  EXPECT_EQ(pagerduty.requests()[0].body.find(kRoutingKey) != std::string::npos, true)
      << "the key is sent to PagerDuty, where it belongs";
  std::string out = g.process->Output();
  EXPECT_THAT(out, HasSubstr("will retry"));
  EXPECT_THAT(out, HasSubstr("refused by the receiver"));
  for (const std::string& where :
       {out, Get(g.port, "/api/v1/notifications").body, Get(g.port, "/metrics").body,
        Get(g.port, "/api/v1/alerts").body, Get(g.port, "/api/v1/alerts/groups").body}) {
    EXPECT_THAT(where, Not(HasSubstr(kSlackSecret)));
    EXPECT_THAT(where, Not(HasSubstr(kRoutingKey)));
  }
  // check-config with a bad secret value says what is wrong without the value.
  RunResult check = RunCommand({OBSGATE_BINARY, "check-config", config}, {},
                               {"SLACK_WEBHOOK_URL=ftp://" + std::string(kSlackSecret),
                                "PD_ROUTING_KEY=short-" + std::string(kSlackSecret)});
  EXPECT_NE(check.exit_code, 0);
  EXPECT_THAT(check.output, Not(HasSubstr(kSlackSecret)));
  EXPECT_THAT(check.output, HasSubstr("webhook_url"));
}

}  // namespace
}  // namespace obsgate::testing
