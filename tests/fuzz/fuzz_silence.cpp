// POST /api/v1/silences bodies: any bytes are a silence or an error with a reason; a silence
// that was taken is listed and expires on request.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "alerting/silences.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static obsgate::core::FakeClock clock;
  static const std::string path =
      "/tmp/obsgate-fuzz-silences-" + std::to_string(::getpid()) + ".json";
  static std::unique_ptr<obsgate::alerting::Silences> silences =
      std::move(obsgate::alerting::Silences::Open(path, clock)).value();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto id = silences->Post(text);
  if (!id) {
    if (id.error().empty()) std::abort();
    return 0;
  }
  if (silences->ListJson().find(*id) == std::string::npos) std::abort();
  if (!silences->Expire(*id)) std::abort();
  return 0;
}
