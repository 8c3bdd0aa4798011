// The gateway in-process with a fake clock: what /api/v1/deployments and /metrics say about
// counted series.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "app/gateway.hpp"
#include "rules/window_store.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/process.hpp"

namespace obsgate::app {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

class GatewayApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    core::ConfigLoad load = core::ParseConfig(
        "listen: 127.0.0.1:0\ndata_dir: " + dir_.path() + "\n", "test", core::ProcessEnv());
    ASSERT_TRUE(load.config);
    auto clock = std::make_unique<core::FakeClock>();
    clock_ = clock.get();
    gateway_ =
        std::make_unique<Gateway>(*load.config, std::nullopt, core::ProcessEnv(), std::move(clock));
    ASSERT_TRUE(gateway_->Start());
  }

  // n requests of which e failed, in one second.
  void Second(const char* version, std::uint64_t n, std::uint64_t e) {
    core::LocalCounts local;
    core::Counts& c = local.At("shop", "auth", version);
    c.requests = n;
    c.errors = e;
    c.log_lines = n;
    c.error_lines = e;
    gateway_->store().Merge(local);
    clock_->Advance(1s);
    gateway_->store().Tick();
  }

  obsgate::testing::TempDir dir_;
  core::FakeClock* clock_ = nullptr;
  std::unique_ptr<Gateway> gateway_;
};

TEST_F(GatewayApiTest, DeploymentsListsEachSeriesWithItsWindows) {
  EXPECT_EQ(testing::Get(gateway_->port(), "/api/v1/deployments").body,
            "{\"status\":\"success\",\"data\":[]}\n");
  for (int i = 0; i < 120; ++i) Second("v1", 10, i % 10 == 0 ? 1 : 0);
  testing::HttpReply r = testing::Get(gateway_->port(), "/api/v1/deployments");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("Content-Type"), "application/json");
  EXPECT_THAT(r.body,
              HasSubstr("\"namespace\":\"shop\",\"deployment\":\"auth\",\"version\":\"v1\""));
  EXPECT_THAT(r.body, HasSubstr("\"total\":{\"requests\":1200,\"errors\":12,\"log_lines\":1200,"
                                "\"log_error_lines\":12}"));
  EXPECT_THAT(r.body,
              HasSubstr("\"1m\":{\"requests\":600,\"errors\":6,\"error_rate\":0.01,"
                        "\"log_lines\":600,\"log_error_lines\":6,\"log_error_ratio\":0.01}"));
  EXPECT_THAT(r.body, HasSubstr("\"5m\":{\"requests\":1200,\"errors\":12,\"error_rate\":0.01,"));
}

TEST_F(GatewayApiTest, NoTrafficInAWindowIsNullNotNaN) {
  Second("v1", 5, 0);
  clock_->Advance(10min);
  gateway_->store().Tick();
  std::string body = testing::Get(gateway_->port(), "/api/v1/deployments").body;
  EXPECT_THAT(body, HasSubstr("\"1m\":{\"requests\":0,\"errors\":0,\"error_rate\":null,"));
  EXPECT_THAT(body, HasSubstr("\"log_error_ratio\":null"));
  EXPECT_THAT(body, ::testing::Not(HasSubstr("nan")));
}

TEST_F(GatewayApiTest, MetricsCarryPerSeriesCountersThatPromtoolAccepts) {
  Second("v1", 10, 1);
  Second("v2", 3, 0);
  std::string m = testing::Get(gateway_->port(), "/metrics").body;
  EXPECT_THAT(m, HasSubstr("obsgate_requests_total{namespace=\"shop\",deployment=\"auth\","
                           "version=\"v1\"} 10"));
  EXPECT_THAT(m, HasSubstr("obsgate_errors_total{namespace=\"shop\",deployment=\"auth\","
                           "version=\"v1\"} 1"));
  EXPECT_THAT(m, HasSubstr("obsgate_log_error_lines_total{namespace=\"shop\",deployment=\"auth\","
                           "version=\"v2\"} 0"));
  EXPECT_THAT(m, HasSubstr("obsgate_series 2"));
  testing::RunResult lint = testing::RunCommand({"promtool", "check", "metrics"}, m);
  EXPECT_EQ(lint.exit_code, 0) << lint.output;
  EXPECT_EQ(lint.output, "");
}

}  // namespace
}  // namespace obsgate::app
