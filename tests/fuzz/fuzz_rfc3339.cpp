// Times read one after another by core::Rfc3339Reader (which reads a time sharing its hour with the
// one before from its minutes on) must be exactly what ParseRfc3339 reads from each alone. Times
// are split at '\n'.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string_view>

#include "core/time.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  obsgate::core::Rfc3339Reader reader;
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  while (!rest.empty()) {
    const std::size_t nl = rest.find('\n');
    const std::string_view text = rest.substr(0, nl);
    const std::optional<obsgate::core::TimePoint> want = obsgate::core::ParseRfc3339(text);
    const std::optional<obsgate::core::TimePoint> got = reader.Parse(text);
    if (want.has_value() != got.has_value() || (want && *want != *got)) std::abort();
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
  }
  return 0;
}
