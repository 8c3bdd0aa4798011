// Docker json-file framing: any bytes in, a FrameError or a message out, never a crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "ingest/container_line.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace obsgate::ingest;
  static DockerParser parser;
  static PartialJoiner joiner(64 * 1024);
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  ContainerLine out;
  const FrameError err = parser.Parse(line, out);
  if (FrameErrorName(err) == nullptr) std::abort();
  // The shape docker writes is read a faster way; spelt with a space after the brace, the same
  // line goes the general way, and both must agree.
  if (!line.empty() && line[0] == '{') {
    static DockerParser general;
    ContainerLine other;
    const std::string spaced = "{ " + std::string(line.substr(1));
    const FrameError e2 = general.Parse(spaced, other);
    if (e2 != err) std::abort();
    if (err == FrameError::kNone && (other.message != out.message || other.time != out.time ||
                                     other.stream != out.stream || other.partial != out.partial)) {
      std::abort();
    }
  }
  if (err != FrameError::kNone) return 0;
  // Unescaping never makes the message longer than the line it came from.
  if (out.message.size() > size || out.time.size() > size) std::abort();
  std::string_view whole;
  if (joiner.Add(out, whole) && whole.size() > 64 * 1024) std::abort();
  return 0;
}
