// The gateway in-process with a fake clock: what /api/v1/deployments, its history and /metrics
// say about counted series, and how the status page is served.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>

#include "app/gateway.hpp"
#include "app/status_page.hpp"
#include "core/atomic_file.hpp"
#include "core/time.hpp"
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

  // n requests of which e failed, in one second; and m of which f failed at `also`.
  void Second(const char* version, std::uint64_t n, std::uint64_t e, const char* also = nullptr,
              std::uint64_t m = 0, std::uint64_t f = 0) {
    core::LocalCounts local;
    core::Counts& c = local.At("shop", "auth", version);
    c.requests = n;
    c.errors = e;
    c.log_lines = n;
    c.error_lines = e;
    if (also) {
      core::Counts& d = local.At("shop", "auth", also);
      d.requests = m;
      d.errors = f;
    }
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

TEST_F(GatewayApiTest, HistoryGivesFifteenMinutesAndTheComparisonWithTheBaseline) {
  EXPECT_EQ(testing::Get(gateway_->port(), "/api/v1/deployments/history").body,
            "{\"status\":\"success\",\"data\":{\"end\":\"" +
                core::FormatRfc3339(gateway_->store().LastTick()) +
                "\",\"bucket_seconds\":60,\"series\":[]}}\n");
  // v1 alone for 20 minutes, one error in 100; then v2 beside it for 3 minutes, one in 10.
  for (int i = 0; i < 20 * 60; ++i) Second("v1", 10, i % 10 == 0 ? 1 : 0);
  for (int i = 0; i < 3 * 60; ++i) Second("v1", 10, i % 10 == 0 ? 1 : 0, "v2", 10, 1);
  testing::HttpReply r = testing::Get(gateway_->port(), "/api/v1/deployments/history");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("Content-Type"), "application/json");
  // Oldest first; v1 served every minute, v2 the last three.
  EXPECT_THAT(r.body, HasSubstr("{\"namespace\":\"shop\",\"deployment\":\"auth\",\"version\":"
                                "\"v1\",\"requests\":[600,600,600,600,600,600,600,600,600,600,600,"
                                "600,600,600,600],\"errors\":[6,6,6,6,6,6,6,6,6,6,6,6,6,6,6],"
                                "\"baseline\":null}"));
  EXPECT_THAT(r.body, HasSubstr("\"version\":\"v2\",\"requests\":[0,0,0,0,0,0,0,0,0,0,0,0,600,600,"
                                "600],\"errors\":[0,0,0,0,0,0,0,0,0,0,0,0,60,60,60],"
                                "\"baseline\":{\"version\":\"v1\",\"window\":\"5m\","
                                "\"error_rate\":0.01,\"requests\":1400,\"p_value\":"));
  // Compared as the rules compare: over the same seconds, the last 140 of v2's 180 that the store
  // holds exactly (140 failures of 1400 against 14 of 1400); far below any threshold.
  std::size_t p = r.body.find("\"p_value\":");
  ASSERT_NE(p, std::string::npos);
  double p_value = std::stod(r.body.substr(p + 10));
  EXPECT_GT(p_value, 0);
  EXPECT_LT(p_value, 1e-6);
}

TEST_F(GatewayApiTest, StatusPageIsServedFromTheBinaryWithItsHeaders) {
  testing::HttpReply page = testing::Get(gateway_->port(), "/");
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(page.Header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(page.Header("Cache-Control"), "no-cache");
  EXPECT_THAT(page.Header("Content-Security-Policy"), HasSubstr("default-src 'self'"));
  EXPECT_EQ(page.Header("X-Content-Type-Options"), "nosniff");
  EXPECT_THAT(page.body, HasSubstr("<h1>obsgate status</h1>"));
  // The CSP allows no inline script: every script of the page comes from /ui/.
  EXPECT_THAT(page.body, HasSubstr("<script src=\"/ui/status.js\" defer></script>"));
  EXPECT_EQ(page.body.find("<script>"), std::string::npos);
  // Test-only use of std::regex, off the data path.
  EXPECT_FALSE(std::regex_search(page.body, std::regex(R"(\son[a-z]+\s*=)")))
      << "no inline event handler attributes (onclick=...)";

  const std::pair<const char*, const char*> files[] = {
      {"index.html", "text/html; charset=utf-8"},
      {"status.css", "text/css; charset=utf-8"},
      {"status.js", "text/javascript; charset=utf-8"}};
  for (const auto& [name, type] : files) {
    auto source = core::ReadWholeFile(std::string(OBSGATE_SOURCE_DIR) + "/app/status_page/" + name);
    ASSERT_TRUE(source) << source.error();
    const StatusPageFile* embedded = FindStatusPageFile(name);
    ASSERT_NE(embedded, nullptr) << name;
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(embedded->data), embedded->size), *source)
        << name << " is embedded byte for byte";
    if (std::string_view(name) == "index.html") continue;
    testing::HttpReply r = testing::Get(gateway_->port(), std::string("/ui/") + name);
    EXPECT_EQ(r.status, 200) << name;
    EXPECT_EQ(r.Header("Content-Type"), type) << name;
    EXPECT_EQ(r.body, *source) << name;
    EXPECT_EQ(r.Header("ETag"), embedded->etag) << name;
  }

  // A browser that has the page revalidates it by its ETag and gets 304 with no body.
  std::string etag = page.Header("ETag");
  ASSERT_FALSE(etag.empty());
  testing::Connection c(gateway_->port());
  ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nIf-None-Match: W/\"other\", " + etag +
                     "\r\n\r\n"));
  std::optional<testing::HttpReply> again = c.ReadReply();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 304);
  EXPECT_EQ(again->body, "");
  EXPECT_EQ(again->Header("ETag"), etag);
  ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nIf-None-Match: \"stale\"\r\n\r\n"));
  again = c.ReadReply();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);

  testing::HttpReply missing = testing::Get(gateway_->port(), "/ui/../gateway.cpp");
  EXPECT_EQ(missing.status, 404);
  EXPECT_THAT(missing.body, HasSubstr("the page is at /"));
  EXPECT_EQ(testing::Get(gateway_->port(), "/nothing-here").status, 404) << "/ is not a prefix";
}

}  // namespace
}  // namespace obsgate::app
