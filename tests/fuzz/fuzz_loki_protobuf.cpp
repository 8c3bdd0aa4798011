// Loki's protobuf push (uncompressed), and the snappy and gzip layers in front of it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ingest/http/loki.hpp"

namespace {

class Checker final : public obsgate::ingest::PushVisitor {
 public:
  explicit Checker(std::string_view body) : body_(body) {}
  void Stream(const std::vector<obsgate::ingest::Label>&) override { in_stream_ = true; }
  void Entry(std::string_view line) override {
    if (!in_stream_) std::abort();
    // Zero-copy: every line views the body.
    if (!line.empty() &&
        (line.data() < body_.data() || line.data() + line.size() > body_.data() + body_.size())) {
      std::abort();
    }
  }
  void Rejected(std::uint64_t, std::string_view why) override {
    if (why.empty()) std::abort();
  }

 private:
  std::string_view body_;
  bool in_stream_ = false;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  Checker c(body);
  (void)obsgate::ingest::DecodeLokiProtobuf(body, c);
  auto unsnappy = obsgate::ingest::SnappyUncompress(body, 1 << 20);
  if (unsnappy && unsnappy->size() > (1 << 20)) std::abort();
  auto gunzip = obsgate::core::Gunzip(body, 1 << 20);
  if (gunzip && gunzip->size() > (1 << 20)) std::abort();
  return 0;
}
