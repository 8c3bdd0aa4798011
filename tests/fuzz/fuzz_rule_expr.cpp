// The rule expression language: any text either compiles or gives an error with a caret under a
// column inside it; a compiled expression evaluates without crashing, with or without data.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "rules/expr.hpp"

namespace {

class Series final : public obsgate::rules::SeriesData {
 public:
  explicit Series(double n) : n_(n) {}
  obsgate::rules::WindowCounts Window(obsgate::core::Duration) const override {
    return {n_, n_ / 10, n_, n_ / 20};
  }
  std::optional<obsgate::core::Duration> Age() const override {
    return obsgate::core::Duration(60'000);
  }
  obsgate::rules::WindowCounts WindowEndingAgo(obsgate::core::Duration w,
                                               obsgate::core::Duration) const override {
    return Window(w);
  }
  std::optional<obsgate::core::Duration> Idle() const override {
    return obsgate::core::Duration(0);
  }

 private:
  double n_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto e = obsgate::rules::Expression::Compile(text);
  if (!e) {
    if (e.error().find('^') == std::string::npos) std::abort();
    return 0;
  }
  Series busy(1000), idle(0);
  (void)e->Evaluate(busy, &idle);
  (void)e->Evaluate(idle, nullptr);
  (void)e->Evaluate(idle, &busy);
  return 0;
}
