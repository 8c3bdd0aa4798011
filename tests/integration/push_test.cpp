// Pushing logs to a running obsgate the ways shippers do: Loki JSON, gzip, snappy protobuf,
// NDJSON; bad bodies, tokens and overload.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <snappy.h>

#include <regex>
#include <thread>

#include "push.pb.h"
#include "tests/integration/gateway_process.hpp"
#include "tests/integration/push_support.hpp"

namespace obsgate::testing {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

std::string Lines(const std::string& status, int n) {
  std::string values;
  for (int i = 0; i < n; ++i) {
    values += (i ? "," : "") + std::string("[\"17000000000000000") + std::to_string(10 + i) +
              "\",\"{\\\"status\\\":" + status + "}\"]";
  }
  return values;
}

class PushTest : public ::testing::Test {
 protected:
  void StartGateway(const std::string& extra = "", const std::vector<std::string>& env = {}) {
    std::string config =
        "listen: 127.0.0.1:0\nserver: {max_body_size: 2MiB}\nsources:\n"
        "  - http: {formats: [loki, ndjson]" +
        extra + "}\n";
    g_ = GatewayProcess::Start(dir_.Write("c.yaml", config), env);
  }
  TempDir dir_;
  GatewayProcess g_;
};

TEST_F(PushTest, LokiJsonGzipAndProtobufAreCountedExactly) {
  StartGateway();
  std::string json =
      "{\"streams\":[{\"stream\":{\"namespace\":\"shop\",\"app\":\"auth\","
      "\"version\":\"v1\"},\"values\":[" +
      Lines("200", 97) + "," + Lines("503", 3) + "]}]}";
  HttpReply plain =
      Post(g_.port, "/loki/api/v1/push", json, {{"Content-Type", "application/json"}});
  EXPECT_EQ(plain.status, 204) << plain.body;
  EXPECT_EQ(plain.body, "");
  EXPECT_EQ(plain.Header("Content-Length"), "");

  HttpReply gz = Post(g_.port, "/loki/api/v1/push", Gzip(json),
                      {{"Content-Type", "application/json"}, {"Content-Encoding", "gzip"}});
  EXPECT_EQ(gz.status, 204) << gz.body;

  logproto::PushRequest req;
  auto* s = req.add_streams();
  s->set_labels("{namespace=\"shop\", app=\"auth\", version=\"v1\"}");
  for (int i = 0; i < 50; ++i) {
    auto* e = s->add_entries();
    e->mutable_timestamp()->set_seconds(1700000000 + i);
    e->set_line(i < 10 ? "level=error status=500" : "level=info status=200");
  }
  std::string wire, compressed;
  req.SerializeToString(&wire);
  snappy::Compress(wire.data(), wire.size(), &compressed);
  HttpReply proto =
      Post(g_.port, "/loki/api/v1/push", compressed, {{"Content-Type", "application/x-protobuf"}});
  EXPECT_EQ(proto.status, 204) << proto.body;

  EXPECT_EQ(Total(g_.port, "auth", "v1"),
            "{\"requests\":250,\"errors\":16,\"log_lines\":250,\"log_error_lines\":10}");
  std::string metrics = Get(g_.port, "/metrics").body;
  EXPECT_THAT(metrics, HasSubstr("obsgate_ingest_lines_total{source=\"http\"} 250"));
}

TEST_F(PushTest, NdjsonTakesDockerCriAndJsonLinesWithLabelsFromTheQuery) {
  StartGateway();
  std::string body =
      "{\"log\":\"{\\\"status\\\":500}\\n\",\"stream\":\"stdout\",\"time\":\"2024-03-05T10:00:"
      "00Z\"}\n"
      "2024-03-05T10:00:01Z stdout P {\"status\":\n"
      "2024-03-05T10:00:01Z stdout F 200}\n"
      "{\"status\":404,\"level\":\"warn\"}\n";
  HttpReply r = Post(g_.port, "/api/v1/logs?namespace=shop&deployment=cart&version=v7", body);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "{\"status\":\"success\",\"accepted\":3,\"rejected\":0}\n");
  EXPECT_EQ(Total(g_.port, "cart", "v7"),
            "{\"requests\":3,\"errors\":1,\"log_lines\":3,\"log_error_lines\":0}");
}

TEST_F(PushTest, BadBodiesAreRefusedWithAReasonAndGoodStreamsKept) {
  StartGateway();
  auto loki = [&](const std::string& body, std::vector<std::pair<std::string, std::string>> h = {
                                               {"Content-Type", "application/json"}}) {
    return Post(g_.port, "/loki/api/v1/push", body, h);
  };
  HttpReply truncated = loki("{\"streams\":[{\"stream\":{\"app\":\"x\"},\"values\":[[\"1\",");
  EXPECT_EQ(truncated.status, 400);
  EXPECT_THAT(truncated.body, HasSubstr("body is not valid JSON"));

  HttpReply partly =
      loki("{\"streams\":[{\"stream\":{\"app\":\"good\"},\"values\":[" + Lines("200", 4) +
           "]},{\"stream\":{\"app\":1},\"values\":[" + Lines("500", 2) +
           "]},{\"stream\":{\"app\":\"good\"},\"values\":[[1,2]]}]}");
  EXPECT_EQ(partly.status, 400);
  EXPECT_THAT(partly.body, HasSubstr("3 lines rejected, the rest kept"));
  EXPECT_THAT(partly.body, HasSubstr("\"accepted\":4,\"rejected\":3"));
  EXPECT_EQ(Total(g_.port, "good", ""),
            "{\"requests\":4,\"errors\":0,\"log_lines\":4,\"log_error_lines\":0}");

  HttpReply bad_gzip =
      loki("not gzip", {{"Content-Type", "application/json"}, {"Content-Encoding", "gzip"}});
  EXPECT_EQ(bad_gzip.status, 400);
  EXPECT_THAT(bad_gzip.body, HasSubstr("not valid gzip"));
  HttpReply bad_snappy = loki("not snappy", {{"Content-Type", "application/x-protobuf"}});
  EXPECT_EQ(bad_snappy.status, 400);
  EXPECT_THAT(bad_snappy.body, HasSubstr("not valid snappy"));

  logproto::PushRequest req;
  req.add_streams()->set_labels("{app=unquoted}");
  req.mutable_streams(0)->add_entries()->set_line("x");
  std::string wire, compressed;
  req.SerializeToString(&wire);
  snappy::Compress(wire.data(), wire.size(), &compressed);
  HttpReply bad_selector = loki(compressed, {{"Content-Type", "application/x-protobuf"}});
  EXPECT_EQ(bad_selector.status, 400);
  EXPECT_THAT(bad_selector.body, HasSubstr("bad label selector"));

  HttpReply wrong_type = loki("{}", {{"Content-Type", "text/plain"}});
  EXPECT_EQ(wrong_type.status, 400);
  EXPECT_THAT(wrong_type.body, HasSubstr("is not a Loki push"));

  HttpReply too_big = loki(std::string(3 << 20, ' '));
  EXPECT_EQ(too_big.status, 413);

  std::string metrics = Get(g_.port, "/metrics").body;
  EXPECT_THAT(metrics, HasSubstr("obsgate_ingest_rejected_lines_total{reason=\"malformed_push\","
                                 "source=\"http\"} 4"));
  EXPECT_EQ(Get(g_.port, "/health").status, 200);
}

TEST_F(PushTest, ATokenIsRequiredWhenConfigured) {
  StartGateway(", token: \"${INGEST_TOKEN}\"", {"INGEST_TOKEN=s3cret-t0ken"});
  std::string body =
      "{\"streams\":[{\"stream\":{\"app\":\"a\"},\"values\":[" + Lines("200", 1) + "]}]}";
  HttpReply none = Post(g_.port, "/loki/api/v1/push", body);
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.Header("WWW-Authenticate"), "Bearer realm=\"obsgate\"");
  HttpReply wrong = Post(g_.port, "/loki/api/v1/push", body, {{"Authorization", "Bearer nope"}});
  EXPECT_EQ(wrong.status, 401);
  HttpReply right =
      Post(g_.port, "/loki/api/v1/push", body, {{"Authorization", "Bearer s3cret-t0ken"}});
  EXPECT_EQ(right.status, 204);
  HttpReply ndjson = Post(g_.port, "/api/v1/logs", "{\"status\":200}\n");
  EXPECT_EQ(ndjson.status, 401);
  EXPECT_THAT(g_.process->Output(), ::testing::Not(HasSubstr("s3cret-t0ken")));
  EXPECT_THAT(Get(g_.port, "/metrics").body, ::testing::Not(HasSubstr("s3cret-t0ken")));
}

TEST_F(PushTest, OverloadEndsIn429sAndMemoryStaysBounded) {
  StartGateway(", max_inflight_size: 1MiB");
  // Two slow pushes of 600 KiB each: the first holds its share of the budget while its body
  // trickles in, so the second is refused before a byte of its body is read.
  std::string head =
      "POST /loki/api/v1/push HTTP/1.1\r\nHost: x\r\nContent-Type: "
      "application/json\r\nContent-Length: 614400\r\n\r\n";
  Connection first(g_.port);
  first.Send(head + "{\"streams\":[");
  std::this_thread::sleep_for(200ms);
  int refused = 0;
  for (int i = 0; i < 20; ++i) {
    Connection next(g_.port);
    next.Send(head);
    auto r = next.ReadReply(10s);
    ASSERT_TRUE(r);
    if (r->status == 429) {
      ++refused;
      EXPECT_EQ(r->Header("Retry-After"), "1");
    }
  }
  EXPECT_EQ(refused, 20);
  first.Send(std::string(614400 - 12, ' '));  // the slow push ends (malformed: 400), freeing it
  ASSERT_EQ(first.ReadReply()->status, 400);
  // Many concurrent pushes of ~400 KiB against a 1 MiB budget: each is answered 204 or 429,
  // never queued without bound.
  std::string body =
      "{\"streams\":[{\"stream\":{\"app\":\"load\"},\"values\":[" + Lines("200", 8000) + "]}]}";
  std::atomic<int> ok{0}, busy{0}, other{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 8; ++t) {
    clients.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        int s =
            Post(g_.port, "/loki/api/v1/push", body, {{"Content-Type", "application/json"}}).status;
        (s == 204 ? ok : s == 429 ? busy : other)++;
      }
    });
  }
  for (auto& c : clients) c.join();
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(ok.load() + busy.load(), 200);
  EXPECT_GT(ok.load(), 0);
  EXPECT_EQ(Total(g_.port, "load", ""),
            "{\"requests\":" + std::to_string(ok.load() * 8000) + ",\"errors\":0,\"log_lines\":" +
                std::to_string(ok.load() * 8000) + ",\"log_error_lines\":0}");
  std::string metrics = Get(g_.port, "/metrics").body;
  EXPECT_THAT(metrics, HasSubstr("obsgate_ingest_refused_requests_total{reason=\"busy\","
                                 "source=\"http\"} " +
                                 std::to_string(20 + busy.load())));
  std::smatch m;
  ASSERT_TRUE(
      std::regex_search(metrics, m, std::regex("process_resident_memory_bytes ([0-9.e+]+)")));
  EXPECT_LT(std::stod(m[1]), 200.0 * (1 << 20));
}

}  // namespace
}  // namespace obsgate::testing
