// Access-log status extraction, alone and through the classifier.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ingest/classify.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace obsgate::ingest;
  static Classifier* classifier = std::move(Classifier::Create({})).value().release();
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  const int status = AccessLogStatus(line);
  if (status != 0 && (status < 100 || status > 599)) std::abort();
  // A line that is not JSON gets the access-log status when it has one.
  const LineFacts f = classifier->Classify(line);
  const std::size_t first = line.find_first_not_of(" \t\r\n\v\f");
  const bool json = first != std::string_view::npos && line[first] == '{';
  if (!json && status != 0 && f.status != status) std::abort();
  return 0;
}
