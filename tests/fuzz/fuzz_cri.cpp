// CRI framing: the message and time always view the input line.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ingest/container_line.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace obsgate::ingest;
  static PartialJoiner joiner(4096);
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  ContainerLine out;
  if (ParseCri(line, out) != FrameError::kNone) return 0;
  auto inside = [&](std::string_view v) {
    return v.empty() || (v.data() >= line.data() && v.data() + v.size() <= line.data() + size);
  };
  if (!inside(out.message) || !inside(out.time) || out.time.empty()) std::abort();
  std::string_view whole;
  if (joiner.Add(out, whole) && whole.size() > 4096) std::abort();
  return 0;
}
