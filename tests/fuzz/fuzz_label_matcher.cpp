// Alertmanager-style label matchers (routes, inhibit rules, silences): any text parses or gives
// an error; what parses prints back to text that parses to the same matcher.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "alerting/matcher.hpp"
#include "core/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto m = obsgate::core::ParseLabelMatcher(text);
  if (!m) {
    if (m.error().empty()) std::abort();
    return 0;
  }
  auto again = obsgate::core::ParseLabelMatcher(obsgate::core::LabelMatcherText(*m));
  if (!again || !(*again == *m)) std::abort();
  obsgate::alerting::Matchers compiled({*m});
  (void)compiled.Matches({{m->name, m->value}, {"other", std::string(text)}});
  return 0;
}
