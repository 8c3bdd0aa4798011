#include "server/http_server.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <future>
#include <thread>

#include "tests/support/http_client.hpp"

namespace obsgate::server {
namespace {

using testing::Connection;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

class HttpServerTest : public ::testing::Test {
 protected:
  void StartServer(ServerOptions options = {}) {
    server_ = std::make_unique<HttpServer>(options, registry_);
    server_->Route("GET", "/health", "health",
                   [](const Request&) { return Response::Text(200, "ok\n"); });
    server_->Route("POST", "/echo", "echo", [](const Request& r) {
      return Response::Text(200, std::string(r.HeaderValue("x-tag")) + ":" + r.body + ":" +
                                     r.QueryParam("q").value_or("-"));
    });
    server_->Route("GET", "/slow", "slow", [this](const Request&) {
      entered_.set_value();
      release_.get_future().wait();
      return Response::Text(200, std::string(100'000, 'x'));
    });
    ASSERT_TRUE(server_->Start());
    port_ = server_->port();
    ASSERT_NE(port_, 0);
  }

  std::string Metrics() { return prometheus::TextSerializer().Serialize(registry_.Collect()); }

  prometheus::Registry registry_;
  std::unique_ptr<HttpServer> server_;
  std::uint16_t port_ = 0;
  std::promise<void> entered_;
  std::promise<void> release_;
};

TEST_F(HttpServerTest, AnswersRoutesAndShortJsonErrors) {
  StartServer();
  auto health = testing::Get(port_, "/health");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "ok\n");

  auto missing = testing::Get(port_, "/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.Header("Content-Type"), "application/json");
  EXPECT_EQ(missing.body, "{\"status\":\"error\",\"error\":\"no such endpoint: /nope\"}\n");

  auto wrong = testing::Post(port_, "/health", "");
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(wrong.Header("Allow"), "GET");

  auto echo = testing::Post(port_, "/echo?q=a%20b", "payload", {{"X-Tag", "t1"}});
  EXPECT_EQ(echo.status, 200);
  EXPECT_EQ(echo.body, "t1:payload:a b");

  std::string m = Metrics();
  EXPECT_THAT(m, HasSubstr("obsgate_http_requests_total{code=\"200\",handler=\"health\"} 1"));
  EXPECT_THAT(m, HasSubstr("obsgate_http_requests_total{code=\"404\",handler=\"other\"} 1"));
  EXPECT_THAT(m, HasSubstr("obsgate_http_request_duration_seconds_count{handler=\"echo\"} 1"));
}

TEST_F(HttpServerTest, KeepsConnectionsAliveAndAnswersPipelinedRequests) {
  StartServer();
  Connection c(port_);
  ASSERT_TRUE(c.connected());
  for (int i = 0; i < 3; ++i) {
    c.Send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    auto r = c.ReadReply();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->Header("Connection"), "");  // HTTP/1.1 keeps alive by default
  }
  c.Send(
      "GET /health HTTP/1.1\r\nHost: x\r\n\r\nPOST /echo HTTP/1.1\r\nHost: x\r\n"
      "Content-Length: 2\r\n\r\nhiGET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(c.ReadReply()->status, 200);
  EXPECT_EQ(c.ReadReply()->body, ":hi:-");
  EXPECT_EQ(c.ReadReply()->status, 404);
}

TEST_F(HttpServerTest, RejectsOversizedBodiesAndHeadersAndKeepsServing) {
  ServerOptions o;
  o.max_body_bytes = 1024;
  o.max_header_bytes = 2048;
  StartServer(o);
  auto big = testing::Post(port_, "/echo", std::string(4096, 'a'));
  EXPECT_EQ(big.status, 413);
  EXPECT_THAT(big.body, HasSubstr("request body is larger than the limit of 1024 bytes"));

  auto fits = testing::Post(port_, "/echo", std::string(1024, 'a'));
  EXPECT_EQ(fits.status, 200);

  Connection c(port_);
  c.Send("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4096, 'h') + "\r\n\r\n");
  auto r = c.ReadReply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
  EXPECT_THAT(r->body, HasSubstr("request headers are larger than the limit of 2048 bytes"));
  EXPECT_TRUE(c.WaitClosed(5s));

  EXPECT_EQ(testing::Get(port_, "/health").status, 200);
}

TEST_F(HttpServerTest, MalformedRequestsGet400AndTheServerGoesOn) {
  StartServer();
  for (std::string bad :
       std::vector<std::string>{"GARBAGE\r\n\r\n", "GET /health HTTP/9.9\r\n\r\n",
                                "GET /health HTTP/1.1\r\nNo colon here\r\n\r\n",
                                "POST /echo HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
                                std::string("G\0T / HTTP/1.1\r\n\r\n", 18)}) {
    Connection c(port_);
    c.Send(bad);
    auto r = c.ReadReply();
    ASSERT_TRUE(r) << bad;
    EXPECT_EQ(r->status, 400) << bad;
    EXPECT_THAT(r->body, HasSubstr("malformed HTTP request")) << bad;
    EXPECT_TRUE(c.WaitClosed(5s));
  }
  EXPECT_EQ(testing::Get(port_, "/health").status, 200);
}

TEST_F(HttpServerTest, CutsOffSlowClientsWhileServingOthers) {
  ServerOptions o;
  o.read_timeout = 300ms;
  StartServer(o);
  Connection slow(port_);
  std::string req = "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ";
  bool cut_off = false;
  // One byte every 50ms would take far longer than read_timeout to finish the headers.
  for (int i = 0; i < 200 && !cut_off; ++i) {
    cut_off = !slow.Send(std::string(1, req[i % req.size()]));
    if (i % 10 == 0) {
      EXPECT_EQ(testing::Get(port_, "/health").status, 200);
    }
    std::this_thread::sleep_for(50ms);
    if (!cut_off && i > 10) {
      auto r = slow.ReadReply(1ms);
      if (r) {
        EXPECT_EQ(r->status, 408);
        cut_off = true;
      }
    }
  }
  EXPECT_TRUE(cut_off) << "a client sending one byte every 50ms was never cut off";
  EXPECT_TRUE(slow.WaitClosed(5s));
}

TEST_F(HttpServerTest, ClosesIdleConnections) {
  ServerOptions o;
  o.idle_timeout = 200ms;
  StartServer(o);
  Connection c(port_);
  c.Send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(c.ReadReply()->status, 200);
  EXPECT_TRUE(c.WaitClosed(10s));
}

TEST_F(HttpServerTest, ShutdownFinishesTheRequestInFlightAndRefusesNewOnes) {
  StartServer();
  Connection idle(port_);
  idle.Send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(idle.ReadReply()->status, 200);

  Connection busy(port_);
  busy.Send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  entered_.get_future().wait();

  auto stopped = std::async(std::launch::async, [&] { return server_->Stop(10s); });
  // The idle keep-alive connection is closed at once; new connections are refused.
  EXPECT_TRUE(idle.WaitClosed(5s));
  bool refused = false;
  for (int i = 0; i < 100 && !refused; ++i) {
    Connection late(port_);
    refused = !late.connected();
    if (!refused) std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(refused);
  EXPECT_EQ(stopped.wait_for(0ms), std::future_status::timeout);

  release_.set_value();
  auto r = busy.ReadReply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body.size(), 100'000u);
  EXPECT_EQ(r->Header("Connection"), "close");
  EXPECT_TRUE(stopped.get());
}

TEST_F(HttpServerTest, ShutdownPastTheGracePeriodClosesWhatIsLeft) {
  StartServer();
  Connection busy(port_);
  busy.Send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  entered_.get_future().wait();
  auto stopped = std::async(std::launch::async, [&] { return server_->Stop(100ms); });
  std::this_thread::sleep_for(300ms);
  release_.set_value();
  EXPECT_FALSE(stopped.get());
}

TEST(HttpServer, ReportsAPortInUse) {
  prometheus::Registry registry;
  HttpServer first(ServerOptions{}, registry);
  ASSERT_TRUE(first.Start());
  ServerOptions o;
  o.port = first.port();
  prometheus::Registry other;
  HttpServer second(o, other);
  auto s = second.Start();
  ASSERT_FALSE(s);
  EXPECT_THAT(s.error(), HasSubstr("cannot listen on 127.0.0.1:" + std::to_string(o.port)));
  EXPECT_THAT(s.error(), HasSubstr("is another process using the port?"));
}

TEST(Request, DecodesQueryParameters) {
  Request r;
  r.query = "a=1&b=x%2By+z&flag&c=%zz";
  EXPECT_EQ(r.QueryParam("a"), "1");
  EXPECT_EQ(r.QueryParam("b"), "x+y z");
  EXPECT_EQ(r.QueryParam("flag"), "");
  EXPECT_EQ(r.QueryParam("c"), "%zz");
  EXPECT_EQ(r.QueryParam("d"), std::nullopt);
}

}  // namespace
}  // namespace obsgate::server
