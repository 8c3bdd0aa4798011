// Cutting reads into lines: however the bytes are split into reads, the lines handed on are those
// of the whole input cut at "\n", each no longer than the limit (a longer one cut there once, the
// rest skipped), and a read reports where its last "\n" ends.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "ingest/line_cutter.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace obsgate::ingest;
  if (size < 2) return 0;
  // The first byte: the line limit (1 to 64); the second: where reads end (a seed for the splits).
  const std::size_t max_line = 1 + data[0] % 64;
  const std::size_t max_message = max_line / 2;
  unsigned split = data[1];
  const std::string_view input(reinterpret_cast<const char*>(data) + 2, size - 2);

  // What the whole input must give.
  std::vector<std::string> want;
  std::uint64_t want_truncated = 0;
  for (std::string_view rest = input; !rest.empty();) {
    const std::size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    if (line.size() > max_line) {
      line = line.substr(0, max_line);
      if (line.size() <= max_message) ++want_truncated;
    }
    want.emplace_back(line);
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
  }

  LineCutter cutter(max_line, max_message);
  IngestStats stats;
  std::vector<std::string> got;
  auto take = [&](std::string_view line) {
    if (line.size() > max_line) std::abort();
    got.emplace_back(line);
  };
  for (std::size_t pos = 0; pos < input.size();) {
    split = split * 1103515245u + 12345u;
    const std::size_t n = std::min<std::size_t>(1 + (split >> 16) % 40, input.size() - pos);
    const std::string_view read = input.substr(pos, n);
    const std::size_t ended = cutter.Consume(read, stats, take);
    const std::size_t last_nl = read.rfind('\n');
    if (ended != (last_nl == std::string_view::npos ? 0 : last_nl + 1)) std::abort();
    pos += n;
  }
  cutter.Finish(take);
  if (got != want || stats.truncated != want_truncated) std::abort();
  return 0;
}
