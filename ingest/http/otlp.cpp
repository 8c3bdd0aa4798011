#include "ingest/http/otlp.hpp"

#include <google/protobuf/arena.h>
#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/util/json_util.h>
#include <simdjson.h>

#include <cmath>
#include <mutex>

#include "google/rpc/status.pb.h"
#include "ingest/classify.hpp"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"

namespace obsgate::ingest {
namespace {

namespace pb = google::protobuf;
namespace otlp_logs = opentelemetry::proto::logs::v1;
namespace otlp_common = opentelemetry::proto::common::v1;
using opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest;
using opentelemetry::proto::collector::logs::v1::ExportLogsServiceResponse;
using opentelemetry::proto::resource::v1::Resource;

// libprotobuf logs a body's invalid UTF-8 to stderr itself; obsgate answers it as a bad request
// and counts it, so the library's own line would only be noise in the gateway's log.
void QuietProtobufLog() {
  static std::once_flag once;
  std::call_once(once, [] { pb::SetLogHandler(nullptr); });
}

// The attributes that name a record's series, found once per resource and once per record.
// Views into the request.
struct Attribution {
  std::string_view ns, deployment, service, version, pod;
};

// A record's HTTP status attribute: 0 none, -1 present but not an HTTP status (`attribute` says
// which), else the status. A status belongs to a request, so to a record, never to a resource.
struct RecordStatus {
  int value = 0;
  const otlp_common::KeyValue* attribute = nullptr;
};

// At most `max` bytes of `s`, never cutting a UTF-8 sequence (answers are protobuf strings).
std::string Shorten(std::string_view s, std::size_t max = 200) {
  if (s.size() <= max) return std::string(s);
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return std::string(s.substr(0, n)) + "...";
}

std::string_view StringValue(const otlp_common::AnyValue& v) {
  return v.value_case() == otlp_common::AnyValue::kStringValue ? std::string_view(v.string_value())
                                                               : std::string_view();
}

// An HTTP status from an attribute value: an integer, a whole double or a string of digits.
int StatusValue(const otlp_common::AnyValue& v) {
  switch (v.value_case()) {
    case otlp_common::AnyValue::kIntValue:
      return v.int_value() >= 100 && v.int_value() <= 599 ? static_cast<int>(v.int_value()) : -1;
    case otlp_common::AnyValue::kDoubleValue: {
      double d = v.double_value();
      return d >= 100 && d <= 599 && d == std::floor(d) ? static_cast<int>(d) : -1;
    }
    case otlp_common::AnyValue::kStringValue: {
      int s = ParseStatusDigits(v.string_value());
      return s != 0 ? s : -1;
    }
    default:
      return -1;
  }
}

std::string Describe(const otlp_common::AnyValue& v) {
  switch (v.value_case()) {
    case otlp_common::AnyValue::kIntValue:
      return std::to_string(v.int_value());
    case otlp_common::AnyValue::kDoubleValue:
      return std::to_string(v.double_value());
    case otlp_common::AnyValue::kStringValue:
      return "\"" + Shorten(v.string_value(), 40) + "\"";
    case otlp_common::AnyValue::kBoolValue:
      return v.bool_value() ? "true" : "false";
    default:
      return "a value of another kind";
  }
}

// Reads `attributes` over `a`; the status attribute too when `status` is given.
void Read(const pb::RepeatedPtrField<otlp_common::KeyValue>& attributes, Attribution& a,
          RecordStatus* status = nullptr) {
  for (const otlp_common::KeyValue& kv : attributes) {
    const std::string& k = kv.key();
    if (k == "http.response.status_code" || k == "http.status_code") {
      // The stable name wins over the old one when both are sent.
      if (status == nullptr || (status->value > 0 && k == "http.status_code")) continue;
      status->value = StatusValue(kv.value());
      status->attribute = &kv;
      continue;
    }
    std::string_view s = StringValue(kv.value());
    if (s.empty()) continue;
    if (k == "k8s.namespace.name") {
      a.ns = s;
    } else if (k == "k8s.deployment.name") {
      a.deployment = s;
    } else if (k == "service.name") {
      a.service = s;
    } else if (k == "service.version") {
      a.version = s;
    } else if (k == "k8s.pod.name") {
      a.pod = s;
    }
  }
}

// Hands one record to the visitor, or rejects it.
void Visit(Attribution a, const otlp_logs::LogRecord& r, OtlpVisitor& visitor) {
  RecordStatus status;
  Read(r.attributes(), a, &status);
  if (status.value < 0) {
    visitor.Rejected(1, status.attribute->key() + " " + Describe(status.attribute->value()) +
                            " is not an HTTP status (100..599)");
    return;
  }
  OtlpRecord out;
  out.ns = a.ns;
  out.deployment = !a.deployment.empty() ? a.deployment : a.service;
  out.version = a.version;
  out.pod = a.pod;
  out.severity_number = static_cast<int>(r.severity_number());
  out.severity_text = r.severity_text();
  out.status = status.value;
  if (r.has_body()) out.body = StringValue(r.body());
  visitor.Record(out);
}

void VisitResourceLogs(const otlp_logs::ResourceLogs& rl, OtlpVisitor& visitor) {
  Attribution resource;
  Read(rl.resource().attributes(), resource);
  for (const otlp_logs::ScopeLogs& sl : rl.scope_logs()) {
    for (const otlp_logs::LogRecord& r : sl.log_records()) Visit(resource, r, visitor);
  }
}

pb::util::JsonParseOptions JsonOptions() {
  pb::util::JsonParseOptions o;
  o.ignore_unknown_fields = true;  // OTLP: receivers must ignore fields they do not know
  return o;
}

// A field of an object under either of the names protobuf's JSON mapping accepts.
simdjson::simdjson_result<simdjson::dom::element> Field(simdjson::dom::object o,
                                                        std::string_view camel,
                                                        std::string_view snake) {
  auto v = o[camel];
  if (v.error() == simdjson::NO_SUCH_FIELD) return o[snake];
  return v;
}

// The array `camel` of `o`, one level of the request: nullopt when absent, and when not an array
// (then one record is rejected for it).
std::optional<simdjson::dom::array> ArrayIn(simdjson::dom::object o, std::string_view camel,
                                            std::string_view snake, OtlpVisitor& visitor) {
  auto field = Field(o, camel, snake);
  simdjson::dom::array a;
  if (field.error() == simdjson::NO_SUCH_FIELD) return std::nullopt;
  if (field.get(a)) {
    visitor.Rejected(1, std::string(camel) + " is not an array");
    return std::nullopt;
  }
  return a;
}

// An element of the array `list` as an object: nullopt (one record rejected) when it is not one.
std::optional<simdjson::dom::object> ObjectIn(simdjson::dom::element e, std::string_view list,
                                              OtlpVisitor& visitor) {
  simdjson::dom::object o;
  if (e.get(o)) {
    visitor.Rejected(1, "an element of " + std::string(list) + " is not an object");
    return std::nullopt;
  }
  return o;
}

std::uint64_t RecordsIn(simdjson::dom::element resource_logs) {
  std::uint64_t n = 0;
  simdjson::dom::object o;
  simdjson::dom::array scopes;
  if (resource_logs.get(o) || Field(o, "scopeLogs", "scope_logs").get(scopes)) return 1;
  for (simdjson::dom::element scope : scopes) {
    simdjson::dom::object so;
    simdjson::dom::array records;
    if (scope.get(so) || Field(so, "logRecords", "log_records").get(records)) continue;
    n += records.size();
  }
  return n == 0 ? 1 : n;
}

// The slow path for a JSON body protobuf's parser refused as a whole: each resource and each
// record read on its own, so one bad record costs only itself.
core::Status DecodeJsonPiecewise(std::string_view body, const std::string& whole_error,
                                 OtlpVisitor& visitor) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  simdjson::dom::object top;
  if (parser.parse(body.data(), body.size()).get(root) || root.get(top)) {
    return core::Error{"the body is not an OTLP ExportLogsServiceRequest in JSON: " +
                       Shorten(whole_error)};
  }
  simdjson::dom::array resources;
  auto rl_field = Field(top, "resourceLogs", "resource_logs");
  if (rl_field.error() == simdjson::NO_SUCH_FIELD) return core::Ok{};  // nothing sent
  if (rl_field.get(resources)) {
    return core::Error{"resourceLogs is not an array: " + Shorten(whole_error)};
  }
  pb::util::JsonParseOptions options = JsonOptions();
  for (simdjson::dom::element rl : resources) {
    auto rlo = ObjectIn(rl, "resourceLogs", visitor);
    if (!rlo) continue;
    Resource resource;
    auto resource_json = Field(*rlo, "resource", "resource");
    if (resource_json.error() != simdjson::NO_SUCH_FIELD) {
      std::string text =
          resource_json.error() ? std::string("null") : simdjson::to_string(resource_json.value());
      if (auto s = pb::util::JsonStringToMessage(text, &resource, options); !s.ok()) {
        visitor.Rejected(RecordsIn(rl), "a resource does not read: " + Shorten(s.ToString()));
        continue;
      }
    }
    Attribution attribution;
    Read(resource.attributes(), attribution);
    auto scopes = ArrayIn(*rlo, "scopeLogs", "scope_logs", visitor);
    if (!scopes) continue;
    for (simdjson::dom::element scope : *scopes) {
      auto so = ObjectIn(scope, "scopeLogs", visitor);
      if (!so) continue;
      auto records = ArrayIn(*so, "logRecords", "log_records", visitor);
      if (!records) continue;
      for (simdjson::dom::element record : *records) {
        otlp_logs::LogRecord r;
        if (auto s = pb::util::JsonStringToMessage(simdjson::to_string(record), &r, options);
            !s.ok()) {
          visitor.Rejected(1, "a log record does not read: " + Shorten(s.ToString()));
          continue;
        }
        Visit(attribution, r, visitor);
      }
    }
  }
  return core::Ok{};
}

}  // namespace

std::optional<OtlpEncoding> OtlpEncodingFrom(std::string_view content_type) {
  std::string_view media = content_type.substr(0, content_type.find(';'));
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  if (media == "application/x-protobuf" || media == "application/protobuf") {
    return OtlpEncoding::kProtobuf;
  }
  if (media == "application/json") return OtlpEncoding::kJson;
  return std::nullopt;
}

core::Status DecodeOtlpLogs(std::string_view body, OtlpEncoding encoding, OtlpVisitor& visitor) {
  QuietProtobufLog();
  pb::Arena arena;
  auto* request = pb::Arena::CreateMessage<ExportLogsServiceRequest>(&arena);
  if (encoding == OtlpEncoding::kProtobuf) {
    if (body.size() > static_cast<std::size_t>(INT32_MAX) ||
        !request->ParseFromArray(body.data(), static_cast<int>(body.size()))) {
      return core::Error{
          "the body is not an OTLP ExportLogsServiceRequest in protobuf (truncated, a wrong "
          "field type, or a string that is not UTF-8)"};
    }
  } else {
    pb::StringPiece text(body.data(), body.size());
    if (auto s = pb::util::JsonStringToMessage(text, request, JsonOptions()); !s.ok()) {
      return DecodeJsonPiecewise(body, s.ToString(), visitor);
    }
  }
  for (const otlp_logs::ResourceLogs& rl : request->resource_logs()) {
    VisitResourceLogs(rl, visitor);
  }
  return core::Ok{};
}

std::string OtlpExportResponse(OtlpEncoding encoding, std::uint64_t rejected,
                               std::string_view error_message) {
  ExportLogsServiceResponse response;
  if (rejected > 0 || !error_message.empty()) {
    auto* partial = response.mutable_partial_success();
    partial->set_rejected_log_records(static_cast<std::int64_t>(rejected));
    partial->set_error_message(std::string(error_message));
  }
  std::string out;
  if (encoding == OtlpEncoding::kProtobuf) {
    response.SerializeToString(&out);
  } else {
    (void)pb::util::MessageToJsonString(response, &out);
  }
  return out;
}

std::string OtlpStatus(OtlpEncoding encoding, int code, std::string_view message) {
  google::rpc::Status status;
  status.set_code(code);
  status.set_message(std::string(message));
  std::string out;
  if (encoding == OtlpEncoding::kProtobuf) {
    status.SerializeToString(&out);
  } else {
    (void)pb::util::MessageToJsonString(status, &out);
  }
  return out;
}

std::string_view OtlpContentType(OtlpEncoding encoding) {
  return encoding == OtlpEncoding::kProtobuf ? "application/x-protobuf" : "application/json";
}

}  // namespace obsgate::ingest
