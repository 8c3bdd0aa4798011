// The label selector of a protobuf push: parsed labels have valid names, and printing them back
// parses to the same labels.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "ingest/http/loki.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using obsgate::ingest::ParseLabelSelector;
  auto labels = ParseLabelSelector(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!labels) {
    if (labels.error().empty()) std::abort();
    return 0;
  }
  std::string printed = "{";
  for (const auto& l : *labels) {
    if (l.name.empty()) std::abort();
    printed += l.name + "=\"";
    for (char c : l.value) {
      if (c == '"' || c == '\\') printed += '\\';
      if (c == '\n') {
        printed += "\\n";
        continue;
      }
      printed += c;
    }
    printed += "\",";
  }
  printed += "}";
  auto again = ParseLabelSelector(printed);
  if (!again || *again != *labels) std::abort();
  return 0;
}
