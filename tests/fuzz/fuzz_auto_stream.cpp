// A format-auto stream reads a JSON line that cannot be a docker frame in one pass (Feed); any
// lines in, it must count exactly what framing first and classifying after (Frame, then Count)
// counts: the same series, counts and statistics. Lines are split at '\n'.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "ingest/pipeline.hpp"
#include "tests/fuzz/stream_totals.hpp"

using namespace obsgate;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto fed = ingest::LineCounter::Create({}).value();
  static auto framed = ingest::LineCounter::Create({}).value();
  const std::string path = "/var/log/containers/auth-7d9c8b6f5-x2k4q_shop_auth-0123.log";
  // A small line limit, so the joiner's cut is reached too.
  ingest::LogStream a(ingest::Format::kAuto, path, {}, 256);
  ingest::LogStream b(ingest::Format::kAuto, path, {}, 256);
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  while (!rest.empty()) {
    const std::size_t nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    a.Feed(line, *fed);
    if (auto m = b.Frame(line, framed->stats())) b.Count(*m, *framed);
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
  }
  a.Finish(*fed);
  b.Finish(*framed);
  if (!fuzz::DrainSame(*fed, *framed)) std::abort();
  return 0;
}
