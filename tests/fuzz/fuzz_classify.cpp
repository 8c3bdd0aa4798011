// Classification of application lines (JSON, logfmt, plain text) with user patterns.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ingest/classify.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace obsgate::ingest;
  static Classifier* classifier = [] {
    ClassifyOptions o;
    o.error_patterns = {"(?i)exception", "panic: ", "OOMKilled|out of memory"};
    o.extra_error_statuses = {429};
    return std::move(Classifier::Create(o)).value().release();
  }();
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  const LineFacts f = classifier->Classify(line);
  if (f.status != 0 && (f.status < 100 || f.status > 599)) std::abort();
  if (IsErrorLevel(f.level) && !f.error_line) std::abort();
  std::string_view key, value;
  LogfmtReader reader(line);
  std::size_t pairs = 0;
  while (reader.Next(key, value)) {
    if (key.empty() || ++pairs > size) std::abort();
  }
  (void)LeadingLevel(line);
  return 0;
}
