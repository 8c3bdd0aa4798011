// Sending OTLP/HTTP logs to a running obsgate as an OpenTelemetry exporter does (the collector's
// otlphttp exporter, an SDK's OTLP log exporter): POST /v1/logs, protobuf or JSON, gzip, a token.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "google/rpc/status.pb.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "tests/integration/gateway_process.hpp"
#include "tests/integration/push_support.hpp"

namespace obsgate::testing {
namespace {

using opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest;
using opentelemetry::proto::collector::logs::v1::ExportLogsServiceResponse;
using ::testing::HasSubstr;
namespace logs = opentelemetry::proto::logs::v1;

// `ok` records answering 200 and `failed` answering 500, from shop/<service> at `version`.
std::string Request(const std::string& service, const std::string& version, int ok, int failed) {
  ExportLogsServiceRequest req;
  auto* rl = req.add_resource_logs();
  auto attr = [](auto* list, const std::string& k, const std::string& v) {
    auto* kv = list->Add();
    kv->set_key(k);
    kv->mutable_value()->set_string_value(v);
  };
  attr(rl->mutable_resource()->mutable_attributes(), "service.name", service);
  attr(rl->mutable_resource()->mutable_attributes(), "service.version", version);
  attr(rl->mutable_resource()->mutable_attributes(), "k8s.namespace.name", "shop");
  auto* sl = rl->add_scope_logs();
  for (int i = 0; i < ok + failed; ++i) {
    auto* r = sl->add_log_records();
    bool bad = i >= ok;
    r->set_severity_number(bad ? logs::SEVERITY_NUMBER_ERROR : logs::SEVERITY_NUMBER_INFO);
    r->mutable_body()->set_string_value(bad ? "upstream failed" : "served");
    auto* kv = r->add_attributes();
    kv->set_key("http.response.status_code");
    kv->mutable_value()->set_int_value(bad ? 500 : 200);
  }
  std::string wire;
  req.SerializeToString(&wire);
  return wire;
}

class OtlpPushTest : public ::testing::Test {
 protected:
  void StartGateway(const std::string& http = "{}", const std::vector<std::string>& env = {}) {
    g_ = GatewayProcess::Start(
        dir_.Write("c.yaml", "listen: 127.0.0.1:0\nsources:\n  - http: " + http + "\n"), env);
  }
  HttpReply Send(const std::string& body, const std::string& type,
                 std::vector<std::pair<std::string, std::string>> headers = {}) {
    headers.push_back({"Content-Type", type});
    return Post(g_.port, "/v1/logs", body, headers);
  }
  TempDir dir_;
  GatewayProcess g_;
};

TEST_F(OtlpPushTest, ProtobufJsonAndGzipAreCountedExactlyPerVersion) {
  StartGateway();
  HttpReply proto = Send(Request("auth", "v1", 97, 3), "application/x-protobuf");
  EXPECT_EQ(proto.status, 200) << proto.body;
  EXPECT_EQ(proto.Header("Content-Type"), "application/x-protobuf");
  ExportLogsServiceResponse answer;
  ASSERT_TRUE(answer.ParseFromString(proto.body));
  EXPECT_FALSE(answer.has_partial_success());

  HttpReply gz = Send(Gzip(Request("auth", "v2", 40, 10)), "application/x-protobuf",
                      {{"Content-Encoding", "gzip"}});
  EXPECT_EQ(gz.status, 200) << gz.body;

  std::string json = R"({"resourceLogs":[{"resource":{"attributes":[
      {"key":"service.name","value":{"stringValue":"auth"}},
      {"key":"service.version","value":{"stringValue":"v2"}},
      {"key":"k8s.namespace.name","value":{"stringValue":"shop"}}]},
    "scopeLogs":[{"scope":{},"logRecords":[
      {"timeUnixNano":"1733300000000000000","severityNumber":17,"severityText":"ERROR",
       "body":{"stringValue":"upstream failed"},
       "attributes":[{"key":"http.response.status_code","value":{"intValue":"503"}}]}]}]}]})";
  HttpReply j = Send(json, "application/json");
  EXPECT_EQ(j.status, 200) << j.body;
  EXPECT_EQ(j.Header("Content-Type"), "application/json");
  EXPECT_EQ(j.body, "{}");

  EXPECT_EQ(Total(g_.port, "auth", "v1"),
            "{\"requests\":100,\"errors\":3,\"log_lines\":100,\"log_error_lines\":3}");
  EXPECT_EQ(Total(g_.port, "auth", "v2"),
            "{\"requests\":51,\"errors\":11,\"log_lines\":51,\"log_error_lines\":11}");
  EXPECT_THAT(Get(g_.port, "/metrics").body,
              HasSubstr("obsgate_ingest_lines_total{source=\"http\"} 151"));
}

TEST_F(OtlpPushTest, RejectedRecordsAreAPartialSuccessAndTheRestIsKept) {
  StartGateway();
  std::string json = R"({"resourceLogs":[{"resource":{"attributes":[
      {"key":"service.name","value":{"stringValue":"cart"}}]},
    "scopeLogs":[{"logRecords":[
      {"attributes":[{"key":"http.response.status_code","value":{"intValue":"200"}}]},
      {"attributes":[{"key":"http.response.status_code","value":{"intValue":"2000"}}]},
      {"timeUnixNano":"yesterday"},
      {"attributes":[{"key":"http.response.status_code","value":{"intValue":"502"}}]}]}]}]})";
  HttpReply r = Send(json, "application/json");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(
      r.body,
      HasSubstr(
          R"("partialSuccess":{"rejectedLogRecords":"2","errorMessage":"2 log records rejected, the rest kept; the first: )"));
  EXPECT_EQ(Total(g_.port, "cart", ""),
            "{\"requests\":2,\"errors\":1,\"log_lines\":2,\"log_error_lines\":0}");
  EXPECT_THAT(Get(g_.port, "/metrics").body,
              HasSubstr("obsgate_ingest_rejected_lines_total{reason=\"otlp_rejected\","
                        "source=\"http\"} 2"));
}

TEST_F(OtlpPushTest, MalformedBodiesAre400WithAStatusAndOtherTypesAre415) {
  StartGateway();
  HttpReply truncated = Send(std::string("\x0a\xff\xff\xff\xff\x0f", 6), "application/x-protobuf");
  EXPECT_EQ(truncated.status, 400);
  google::rpc::Status status;
  ASSERT_TRUE(status.ParseFromString(truncated.body));
  EXPECT_EQ(status.code(), 3);
  EXPECT_THAT(status.message(), HasSubstr("not an OTLP ExportLogsServiceRequest in protobuf"));

  HttpReply json = Send(R"({"resourceLogs":[)", "application/json");
  EXPECT_EQ(json.status, 400);
  EXPECT_THAT(json.body, HasSubstr(R"({"code":3,"message":"the body is not an OTLP)"));

  HttpReply gzip = Send("not gzip", "application/json", {{"Content-Encoding", "gzip"}});
  EXPECT_EQ(gzip.status, 400);
  EXPECT_THAT(gzip.body, HasSubstr("gzip"));

  HttpReply text = Send("hello", "text/plain");
  EXPECT_EQ(text.status, 415);
  EXPECT_THAT(text.body, HasSubstr("use application/x-protobuf or application/json"));

  EXPECT_THAT(Get(g_.port, "/metrics").body,
              HasSubstr("obsgate_http_requests_total{code=\"400\",handler=\"otlp_logs\"} 3"));
  // Nothing was counted from them, and the gateway still takes good requests.
  EXPECT_EQ(Send(Request("auth", "v1", 1, 0), "application/x-protobuf").status, 200);
  EXPECT_EQ(Total(g_.port, "auth", "v1"),
            "{\"requests\":1,\"errors\":0,\"log_lines\":1,\"log_error_lines\":0}");
}

TEST_F(OtlpPushTest, TheTokenIsCheckedAndTheFormatCanBeTurnedOff) {
  StartGateway("{formats: [otlp], token: \"${INGEST_TOKEN}\"}", {"INGEST_TOKEN=s3cret-t0ken"});
  std::string body = Request("auth", "v1", 5, 0);
  EXPECT_EQ(Send(body, "application/x-protobuf").status, 401);
  EXPECT_EQ(Send(body, "application/x-protobuf", {{"Authorization", "Bearer s3cret-t0ken"}}).status,
            200);
  EXPECT_EQ(
      Post(g_.port, "/loki/api/v1/push", "{}", {{"Authorization", "Bearer s3cret-t0ken"}}).status,
      404);
  g_ = {};
  StartGateway("{formats: [loki]}");
  EXPECT_EQ(Send(body, "application/x-protobuf").status, 404);
}

}  // namespace
}  // namespace obsgate::testing
