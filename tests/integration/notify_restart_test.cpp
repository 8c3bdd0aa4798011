// Nothing lost on a crash: notifications pending against a failing receiver survive SIGKILL in
// the outbox and arrive exactly once after a restart.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>
#include <map>
#include <regex>
#include <thread>

#include "tests/fakes/webhook.hpp"
#include "tests/integration/gateway_process.hpp"

namespace obsgate::testing {
namespace {

using namespace std::chrono_literals;

void PushSecond(std::uint16_t port, const std::string& deployment, int n, int e) {
  std::string body;
  for (int i = 0; i < n; ++i) body += i < e ? "{\"status\":500}\n" : "{\"status\":200}\n";
  HttpReply r =
      Post(port, "/api/v1/logs?namespace=shop&deployment=" + deployment + "&version=v2", body);
  ASSERT_EQ(r.status, 200) << r.body;
}

// groupKey -> how many times the fake accepted it.
std::map<std::string, int> Accepted(const fakes::FakeWebhookReceiver& fake) {
  std::map<std::string, int> out;
  std::regex key("\"groupKey\":\"((?:[^\"\\\\]|\\\\.)*)\"");
  for (const fakes::Received& r : fake.requests()) {
    std::smatch m;
    EXPECT_TRUE(r.valid) << r.body;
    if (r.status == 200 && std::regex_search(r.body, m, key)) {
      out[std::regex_replace(m[1].str(), std::regex("\\\\\""), "\"")]++;
    }
  }
  return out;
}

TEST(NotifyRestart, PendingNotificationsArriveExactlyOnceAfterSigkill) {
  fakes::FakeWebhookReceiver fake;
  fake.SetDefault(fakes::Answer::ServerError(500));
  ASSERT_TRUE(fake.Start());
  TempDir dir;
  std::string config = dir.Write("obsgate.yaml", R"(listen: 127.0.0.1:0
sources: [{http: {}}]
rules:
  - name: Errors
    expr: error_rate(5s) > 1% and requests(5s) >= 10
receivers:
  - name: hook
    webhook: {url: ")" + fake.url() + R"("}
route: {receiver: hook, group_by: [deployment], group_wait: 0s}
notifications: {retry_initial: 200ms, retry_max: 1s}
)");
  {
    GatewayProcess g = GatewayProcess::Start(config);
    // Three deployments fail: three groups, three notifications, each refused with 500.
    for (int i = 0; i < 30 && fake.count() < 6; ++i) {
      for (const char* d : {"auth", "cart", "search"}) PushSecond(g.port, d, 20, 5);
      std::this_thread::sleep_for(500ms);
    }
    ASSERT_GE(fake.count(), 6u) << g.process->Output();
    std::string sent = Get(g.port, "/api/v1/notifications").body;
    EXPECT_THAT(sent, ::testing::HasSubstr("\"result\":\"retrying\""));
    EXPECT_TRUE(Accepted(fake).empty());
    g.process->Signal(SIGKILL);
    g.process->Wait(5s);
  }
  fake.SetDefault(fakes::Answer::Ok());
  GatewayProcess again = GatewayProcess::Start(config);
  for (int i = 0; i < 100; ++i) {
    std::map<std::string, int> accepted = Accepted(fake);
    if (accepted.size() >= 3) break;
    std::this_thread::sleep_for(100ms);
  }
  // Time for a duplicate to show up, had there been one.
  std::this_thread::sleep_for(3s);
  std::map<std::string, int> accepted = Accepted(fake);
  EXPECT_EQ(accepted, (std::map<std::string, int>{{"{}:{deployment=\"auth\"}", 1},
                                                  {"{}:{deployment=\"cart\"}", 1},
                                                  {"{}:{deployment=\"search\"}", 1}}))
      << again.process->Output();
  EXPECT_THAT(again.process->Output(),
              ::testing::HasSubstr("resuming notifications left pending in the outbox"));
}

}  // namespace
}  // namespace obsgate::testing
