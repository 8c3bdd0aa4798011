// Exposition parser, both formats: never crashes, and every name and label it hands out views the
// input (zero-copy).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ingest/scrape/exposition.hpp"

namespace {

// Owned by the fuzzing thread.
class Checker final : public obsgate::ingest::ExpositionVisitor {
 public:
  explicit Checker(std::string_view input) : input_(input) {}
  void OnFamily(const obsgate::ingest::ExpositionFamily& f) override {
    if (f.name.empty() || !Inside(f.name) || !Inside(f.help) || !Inside(f.unit)) std::abort();
  }
  bool OnSample(const obsgate::ingest::ExpositionFamily& f,
                const obsgate::ingest::ExpositionSample& s) override {
    if (!s.name.starts_with(f.name) || !Inside(s.name) || s.line == 0) std::abort();
    for (const auto& l : s.labels) {
      if (l.name.empty() || !Inside(l.name) || !Inside(l.value)) std::abort();
      if (obsgate::ingest::Unescape(l.value).size() > l.value.size()) std::abort();
    }
    if (s.exemplar) {
      for (const auto& l : s.exemplar->labels) {
        if (!Inside(l.name) || !Inside(l.value)) std::abort();
      }
    }
    return true;
  }

 private:
  bool Inside(std::string_view v) const {
    return v.empty() ||
           (v.data() >= input_.data() && v.data() + v.size() <= input_.data() + input_.size());
  }
  std::string_view input_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace obsgate::ingest;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  for (ExpositionFormat format : {ExpositionFormat::kText, ExpositionFormat::kOpenMetrics}) {
    Checker checker(body);
    obsgate::core::Status s = ParseExposition(body, format, checker);
    if (!s.ok() && s.error().rfind("line ", 0) != 0) std::abort();  // every error names a line
  }
  (void)SniffFormat(body);
  return 0;
}
