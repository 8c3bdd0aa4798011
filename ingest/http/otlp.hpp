#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace obsgate::ingest {

// How an OTLP/HTTP body is encoded, from its Content-Type: application/x-protobuf or
// application/json (parameters such as charset ignored). nullopt for anything else (HTTP 415).
enum class OtlpEncoding { kProtobuf, kJson };
std::optional<OtlpEncoding> OtlpEncodingFrom(std::string_view content_type);

// What one log record says, as OTLP carries it: attribution from the resource's attributes
// (service.name, service.version, k8s.namespace.name, k8s.deployment.name, k8s.pod.name), the
// record's own attributes overriding them; severity; an HTTP status from
// http.response.status_code (or the older http.status_code). Views are valid during the call.
struct OtlpRecord {
  std::string_view ns;
  std::string_view deployment;  // k8s.deployment.name, else service.name
  std::string_view version;     // service.version
  std::string_view pod;         // k8s.pod.name
  int severity_number = 0;      // 0 unset; 17..24 error and fatal
  std::string_view severity_text;
  int status = 0;         // 100..599; 0 when the record names none
  std::string_view body;  // a string body; empty for any other kind
};

// Receives a decoded export request record by record.
class OtlpVisitor {
 public:
  virtual ~OtlpVisitor() = default;
  virtual void Record(const OtlpRecord& record) = 0;
  // `records` could not be read, for the reason given; the rest of the request goes on.
  virtual void Rejected(std::uint64_t records, std::string_view why) = 0;
};

// An ExportLogsServiceRequest, already uncompressed. An error means the body as a whole is not
// one (HTTP 400). In JSON a record, or a resource, that does not read is Rejected and the rest
// kept; a record whose HTTP status attribute is not a status (100..599) is Rejected too.
core::Status DecodeOtlpLogs(std::string_view body, OtlpEncoding encoding, OtlpVisitor& visitor);

// The bodies OTLP/HTTP answers with, in the request's encoding: an ExportLogsServiceResponse,
// with partial_success set when records were rejected, and a google.rpc.Status for a refused
// request (code 3, INVALID_ARGUMENT, for a malformed body).
std::string OtlpExportResponse(OtlpEncoding encoding, std::uint64_t rejected,
                               std::string_view error_message);
std::string OtlpStatus(OtlpEncoding encoding, int code, std::string_view message);
// The Content-Type of those bodies.
std::string_view OtlpContentType(OtlpEncoding encoding);

}  // namespace obsgate::ingest
