// OTLP/HTTP logs: requests built with the classes protoc generates from the OTLP schema, as an
// OpenTelemetry SDK builds them, and JSON bodies as the OTLP/HTTP JSON encoding spells them.
#include "ingest/http/otlp.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <mutex>

#include "google/rpc/status.pb.h"
#include "ingest/http/push.hpp"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"

namespace obsgate::ingest {
namespace {

using opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest;
using opentelemetry::proto::collector::logs::v1::ExportLogsServiceResponse;
using ::testing::HasSubstr;
namespace logs = opentelemetry::proto::logs::v1;
namespace common = opentelemetry::proto::common::v1;

// Counts per "ns/deployment/version", as the window store would get them.
class Totals final : public RecordSink {
 public:
  void Deliver(std::string_view, core::LocalCounts& counts, const IngestStats& stats) override {
    std::lock_guard lock(mu_);
    counts.Drain([&](const core::SeriesKey& k, const core::Counts& c) {
      by_series[k.ns + "/" + k.deployment + "/" + k.version] += c;
    });
    this->stats += stats;
  }
  // "requests errors log_lines error_lines" of one series.
  std::string Of(const std::string& series) {
    std::lock_guard lock(mu_);
    auto it = by_series.find(series);
    if (it == by_series.end()) return "none";
    const core::Counts& c = it->second;
    return std::to_string(c.requests) + " " + std::to_string(c.errors) + " " +
           std::to_string(c.log_lines) + " " + std::to_string(c.error_lines);
  }
  std::map<std::string, core::Counts> by_series;
  IngestStats stats;

 private:
  std::mutex mu_;
};

void Attr(google::protobuf::RepeatedPtrField<common::KeyValue>* to, const std::string& key,
          const std::string& value) {
  auto* kv = to->Add();
  kv->set_key(key);
  kv->mutable_value()->set_string_value(value);
}
void IntAttr(google::protobuf::RepeatedPtrField<common::KeyValue>* to, const std::string& key,
             std::int64_t value) {
  auto* kv = to->Add();
  kv->set_key(key);
  kv->mutable_value()->set_int_value(value);
}

logs::ScopeLogs* Resource(ExportLogsServiceRequest& req,
                          std::vector<std::pair<std::string, std::string>> attributes) {
  auto* rl = req.add_resource_logs();
  for (auto& [k, v] : attributes) Attr(rl->mutable_resource()->mutable_attributes(), k, v);
  auto* sl = rl->add_scope_logs();
  sl->mutable_scope()->set_name("io.opentelemetry.test");
  return sl;
}

logs::LogRecord* Record(logs::ScopeLogs* sl, int status, logs::SeverityNumber severity,
                        const std::string& body = "request served") {
  auto* r = sl->add_log_records();
  r->set_time_unix_nano(1733300000000000000ull);
  r->set_severity_number(severity);
  r->mutable_body()->set_string_value(body);
  if (status != 0) IntAttr(r->mutable_attributes(), "http.response.status_code", status);
  return r;
}

class OtlpPush : public ::testing::Test {
 protected:
  void SetUp() override {
    auto p = PushIngester::Create("http", ClassifyOptions{}, totals_, 64 << 20);
    ASSERT_TRUE(p) << p.error();
    ingester_ = std::move(p).value();
  }
  core::Result<PushResult> Send(const ExportLogsServiceRequest& req) {
    std::string wire;
    req.SerializeToString(&wire);
    return ingester_->Otlp(wire, OtlpEncoding::kProtobuf, "");
  }
  core::Result<PushResult> SendJson(const std::string& body) {
    return ingester_->Otlp(body, OtlpEncoding::kJson, "");
  }
  Totals totals_;
  std::unique_ptr<PushIngester> ingester_;
};

TEST(OtlpEncoding, FromTheContentType) {
  EXPECT_EQ(OtlpEncodingFrom("application/x-protobuf"), OtlpEncoding::kProtobuf);
  EXPECT_EQ(OtlpEncodingFrom("application/json; charset=utf-8"), OtlpEncoding::kJson);
  EXPECT_EQ(OtlpEncodingFrom("text/plain"), std::nullopt);
  EXPECT_EQ(OtlpEncodingFrom(""), std::nullopt);
}

TEST_F(OtlpPush, ResourceAttributesNameTheSeriesAndSeverityAndStatusCount) {
  ExportLogsServiceRequest req;
  auto* auth = Resource(req, {{"service.name", "auth"},
                              {"service.version", "1.4.0"},
                              {"k8s.namespace.name", "shop"},
                              {"k8s.pod.name", "auth-7d9c8b6f5-x2k4q"}});
  for (int i = 0; i < 96; ++i) Record(auth, 200, logs::SEVERITY_NUMBER_INFO);
  for (int i = 0; i < 4; ++i) Record(auth, 503, logs::SEVERITY_NUMBER_ERROR);
  Record(auth, 0, logs::SEVERITY_NUMBER_FATAL, "worker crashed");
  Record(auth, 0, logs::SEVERITY_NUMBER_WARN2, "slow query");
  // k8s.deployment.name is the deployment even where service.name differs; without
  // service.version the pod's template hash is the version, as for a log file's path.
  auto* cart = Resource(req, {{"service.name", "cart-api"},
                              {"k8s.deployment.name", "cart"},
                              {"k8s.namespace.name", "shop"},
                              {"k8s.pod.name", "cart-5f7b9c6d4-x7k2q"}});
  Record(cart, 500, logs::SEVERITY_NUMBER_UNSPECIFIED);
  auto r = Send(req);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->accepted, 103u);
  EXPECT_EQ(r->rejected, 0u);
  EXPECT_EQ(totals_.Of("shop/auth/1.4.0"), "100 4 102 5");
  EXPECT_EQ(totals_.Of("shop/cart/5f7b9c6d4"), "1 1 1 0");
  EXPECT_EQ(totals_.by_series.size(), 2u);
  EXPECT_EQ(totals_.stats.lines, 103u);
}

TEST_F(OtlpPush, TheBodyIsReadForWhatTheFieldsDoNotSay) {
  ExportLogsServiceRequest req;
  auto* sl = Resource(req, {{"service.name", "search"}, {"service.version", "v3"}});
  // A collector's filelog receiver sends the line as the body, severity unset.
  Record(sl, 0, logs::SEVERITY_NUMBER_UNSPECIFIED, R"({"level":"error","status":502})");
  Record(sl, 0, logs::SEVERITY_NUMBER_UNSPECIFIED, "msg=served status=200\n");
  // A severity the sender set wins over the body's word; the status attribute over its number.
  Record(sl, 201, logs::SEVERITY_NUMBER_INFO, R"({"level":"error","status":500})");
  auto* text = Record(sl, 0, logs::SEVERITY_NUMBER_UNSPECIFIED, "no level here");
  text->set_severity_text("ERROR");
  auto r = Send(req);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(totals_.Of("/search/v3"), "3 1 4 2");
}

TEST_F(OtlpPush, RecordAttributesOverrideTheResourceAndNothingNamedIsUnknown) {
  ExportLogsServiceRequest req;
  auto* sl = Resource(req, {{"service.name", "auth"}, {"service.version", "v1"}});
  auto* canary = Record(sl, 500, logs::SEVERITY_NUMBER_ERROR);
  Attr(canary->mutable_attributes(), "service.version", "v2");
  auto* none = Resource(req, {});
  Record(none, 200, logs::SEVERITY_NUMBER_INFO, "hello");
  auto r = Send(req);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(totals_.Of("/auth/v2"), "1 1 1 1");
  EXPECT_EQ(totals_.Of("/unknown/"), "1 0 1 0");
  EXPECT_EQ(totals_.stats.unattributed, 1u);
}

TEST_F(OtlpPush, AStatusThatIsNoStatusRejectsItsRecordOnly) {
  ExportLogsServiceRequest req;
  auto* sl = Resource(req, {{"service.name", "auth"}});
  Record(sl, 200, logs::SEVERITY_NUMBER_INFO);
  Record(sl, 999, logs::SEVERITY_NUMBER_INFO);
  auto* word = Record(sl, 0, logs::SEVERITY_NUMBER_INFO);
  Attr(word->mutable_attributes(), "http.response.status_code", "ok");
  auto* text = Record(sl, 0, logs::SEVERITY_NUMBER_INFO);
  Attr(text->mutable_attributes(), "http.status_code", "404");  // the older name, as a string
  auto r = Send(req);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->accepted, 2u);
  EXPECT_EQ(r->rejected, 2u);
  EXPECT_EQ(r->first_problem, "http.response.status_code 999 is not an HTTP status (100..599)");
  EXPECT_EQ(totals_.Of("/auth/"), "2 0 2 0");
}

TEST_F(OtlpPush, JsonAsTheOtlpJsonEncodingSpellsIt) {
  // camelCase keys, 64-bit integers as strings, enums as numbers, ids in hex, fields obsgate does
  // not know (observedTimeUnixNano, droppedAttributesCount, flags, a future field) ignored.
  std::string body = R"({"resourceLogs":[{"resource":{"attributes":[
      {"key":"service.name","value":{"stringValue":"auth"}},
      {"key":"service.version","value":{"stringValue":"v2"}},
      {"key":"k8s.namespace.name","value":{"stringValue":"shop"}}]},
    "scopeLogs":[{"scope":{"name":"my.library","version":"1.0.0"},"logRecords":[
      {"timeUnixNano":"1544712660300000000","observedTimeUnixNano":"1544712660300000000",
       "severityNumber":17,"severityText":"Error","traceId":"5b8efff798038103d269b633813fc60c",
       "spanId":"eee19b7ec3c1b174","flags":1,"aFieldFromTheFuture":true,
       "body":{"stringValue":"upstream failed"},
       "attributes":[{"key":"http.response.status_code","value":{"intValue":"503"}}]},
      {"timeUnixNano":"1544712660300000000","severityNumber":9,
       "body":{"stringValue":"ok"},
       "attributes":[{"key":"http.response.status_code","value":{"intValue":200}}]}]}]}]})";
  auto r = SendJson(body);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->accepted, 2u);
  EXPECT_EQ(totals_.Of("shop/auth/v2"), "2 1 2 1");
}

TEST_F(OtlpPush, ABadJsonRecordOrResourceCostsOnlyItself) {
  std::string body = R"({"resourceLogs":[
    {"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"good"}}]},
     "scopeLogs":[{"logRecords":[
       {"severityNumber":9,"attributes":[{"key":"http.response.status_code","value":{"intValue":200}}]},
       {"timeUnixNano":"yesterday"},
       {"severityNumber":17,"attributes":[{"key":"http.response.status_code","value":{"intValue":500}}]}]}]},
    {"resource":{"attributes":"not a list"},
     "scopeLogs":[{"logRecords":[{"severityNumber":9},{"severityNumber":9}]}]}]})";
  auto r = SendJson(body);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->accepted, 2u);
  EXPECT_EQ(r->rejected, 3u);
  EXPECT_THAT(r->first_problem, HasSubstr("a log record does not read"));
  EXPECT_EQ(totals_.Of("/good/"), "2 1 2 1");
}

TEST_F(OtlpPush, AWholeBodyThatIsNoRequestIsAnError) {
  auto truncated = SendJson(R"({"resourceLogs":[{"resource":)");
  ASSERT_FALSE(truncated);
  EXPECT_THAT(truncated.error(), HasSubstr("not an OTLP ExportLogsServiceRequest in JSON"));
  EXPECT_FALSE(SendJson(R"({"resourceLogs":"no"})"));
  EXPECT_FALSE(SendJson("[1,2]"));

  ExportLogsServiceRequest req;
  Record(Resource(req, {{"service.name", "auth"}}), 200, logs::SEVERITY_NUMBER_INFO);
  std::string wire;
  req.SerializeToString(&wire);
  for (std::size_t cut = 1; cut < wire.size(); ++cut) {
    // Never a crash; a cut that happens to end between fields is a shorter, valid request.
    (void)ingester_->Otlp(std::string_view(wire).substr(0, cut), OtlpEncoding::kProtobuf, "");
  }
  auto bad =
      ingester_->Otlp(std::string("\x0a\xff\xff\xff\xff\x0f", 6), OtlpEncoding::kProtobuf, "");
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error(), HasSubstr("not an OTLP ExportLogsServiceRequest in protobuf"));
  auto gz = ingester_->Otlp(wire, OtlpEncoding::kProtobuf, "gzip");
  ASSERT_FALSE(gz);
  EXPECT_THAT(gz.error(), HasSubstr("gzip"));
  EXPECT_EQ(SendJson("{}").value().accepted, 0u);  // an empty request is a valid one
}

TEST(OtlpAnswers, InTheRequestsEncoding) {
  EXPECT_EQ(OtlpExportResponse(OtlpEncoding::kJson, 0, ""), "{}");
  EXPECT_EQ(OtlpExportResponse(OtlpEncoding::kProtobuf, 0, ""), "");
  std::string json = OtlpExportResponse(OtlpEncoding::kJson, 3, "3 log records rejected");
  EXPECT_EQ(
      json,
      R"({"partialSuccess":{"rejectedLogRecords":"3","errorMessage":"3 log records rejected"}})");
  ExportLogsServiceResponse decoded;
  ASSERT_TRUE(decoded.ParseFromString(OtlpExportResponse(OtlpEncoding::kProtobuf, 2, "why")));
  EXPECT_EQ(decoded.partial_success().rejected_log_records(), 2);
  EXPECT_EQ(decoded.partial_success().error_message(), "why");
  google::rpc::Status status;
  ASSERT_TRUE(status.ParseFromString(OtlpStatus(OtlpEncoding::kProtobuf, 3, "bad body")));
  EXPECT_EQ(status.code(), 3);
  EXPECT_EQ(status.message(), "bad body");
  EXPECT_EQ(OtlpStatus(OtlpEncoding::kJson, 3, "bad"), R"({"code":3,"message":"bad"})");
}

}  // namespace
}  // namespace obsgate::ingest
