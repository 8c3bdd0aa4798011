// OTLP/HTTP logs bodies (uncompressed), as protobuf and as JSON: the first byte chooses.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ingest/http/otlp.hpp"

namespace {

class Checker final : public obsgate::ingest::OtlpVisitor {
 public:
  void Record(const obsgate::ingest::OtlpRecord& r) override {
    if (r.status != 0 && (r.status < 100 || r.status > 599)) std::abort();
    if (r.severity_number < 0) std::abort();
  }
  void Rejected(std::uint64_t records, std::string_view why) override {
    if (records == 0 || why.empty()) std::abort();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  using obsgate::ingest::OtlpEncoding;
  const OtlpEncoding encoding = (data[0] & 1) ? OtlpEncoding::kJson : OtlpEncoding::kProtobuf;
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  Checker c;
  auto status = obsgate::ingest::DecodeOtlpLogs(body, encoding, c);
  if (!status && status.error().empty()) std::abort();
  return 0;
}
