// CRI framing: the message and time always view the input line, and a line read is one the
// format describes: time, stream, a tag whose first ':'-element is P or F, then the message.
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
  std::string_view rest = line;
  if (rest.ends_with('\n')) rest.remove_suffix(1);
  if (rest.ends_with('\r')) rest.remove_suffix(1);
  if (!rest.starts_with(out.time) || out.time.find(' ') != std::string_view::npos) std::abort();
  rest.remove_prefix(out.time.size());
  if (!rest.starts_with(out.stream == Stream::kStderr ? " stderr " : " stdout ")) std::abort();
  rest.remove_prefix(8);
  const std::string_view tag = rest.substr(0, rest.find(' '));
  if (tag.substr(0, tag.find(':')) != (out.partial ? "P" : "F")) std::abort();
  rest.remove_prefix(tag.size());
  if (rest.empty() ? !out.message.empty() : rest.substr(1) != out.message) std::abort();
  std::string_view whole;
  if (joiner.Add(out, whole) && whole.size() > 4096) std::abort();
  return 0;
}
