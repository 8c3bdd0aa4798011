// Outbox lines read back after a crash: any bytes give a notification or an error, and a
// notification written out reads back equal.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "alerting/notification.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto n = obsgate::alerting::NotificationFromJson(text);
  if (!n) return 0;
  auto again = obsgate::alerting::NotificationFromJson(obsgate::alerting::NotificationToJson(*n));
  if (!again || !(*again == *n)) std::abort();
  return 0;
}
