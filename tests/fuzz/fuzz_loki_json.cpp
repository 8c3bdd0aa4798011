// Loki's JSON push: any body either fails whole or yields streams, entries and rejections whose
// counts add up; never a crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ingest/http/loki.hpp"

namespace {

class Checker final : public obsgate::ingest::PushVisitor {
 public:
  void Stream(const std::vector<obsgate::ingest::Label>&) override { in_stream = true; }
  void Entry(std::string_view line) override {
    if (!in_stream) std::abort();  // an entry always belongs to a stream
    bytes += line.size();
  }
  void Rejected(std::uint64_t, std::string_view why) override {
    if (why.empty()) std::abort();  // every rejection says why
  }
  bool in_stream = false;
  std::size_t bytes = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  Checker c;
  obsgate::core::Status s = obsgate::ingest::DecodeLokiJson(body, c);
  if (!s && s.error().empty()) std::abort();
  if (c.bytes > size) std::abort();  // lines are never longer than the body they came from
  return 0;
}
