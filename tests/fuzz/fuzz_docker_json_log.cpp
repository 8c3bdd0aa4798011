// A docker stream reads an application's JSON line inside the escaped "log" string without
// unescaping it (LogStream::Feed); any lines in, it must count exactly what framing, unescaping and
// classifying after (Frame, then Count) counts: the same series, counts, statistics and times.
// Each input line is read twice: as a docker line as it is, and as an application's line that is
// escaped and framed the way docker writes it (the first byte picks how: which characters become
// \u escapes, whether '/' is escaped, the stream, whether the line ends).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "ingest/pipeline.hpp"
#include "tests/fuzz/stream_totals.hpp"

namespace {

using namespace obsgate;

// `app` as docker's json-file driver writes it, with variations other writers have.
std::string DockerLine(unsigned char how, std::string_view app) {
  std::string line = "{\"log\":\"";
  for (char ch : app) {
    const unsigned char c = static_cast<unsigned char>(ch);
    char hex[8];
    if (c == '"' || c == '\\') {
      line += '\\';
      line += ch;
    } else if (c == '\n') {
      line += "\\n";
    } else if (c == '\t' && !(how & 1)) {
      line += "\\t";
    } else if (c < 0x20 || ((how & 2) && (c == '<' || c == '>' || c == '&')) ||
               ((how & 4) && c == ' ')) {
      std::snprintf(hex, sizeof hex, "\\u%04x", c);
      line += hex;
    } else if (c == '/' && (how & 8)) {
      line += "\\/";
    } else {
      line += ch;
    }
  }
  if (!(how & 16)) line += "\\n";  // else a partial line
  line += (how & 32) ? "\",\"stream\":\"stderr\"" : "\",\"stream\":\"stdout\"";
  line += ",\"time\":\"2024-03-05T10:00:01.000000001Z\"}";
  if (how & 64) line += " \r";
  return line;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto fed = ingest::LineCounter::Create({}).value();
  static auto framed = ingest::LineCounter::Create({}).value();
  if (size == 0) return 0;
  const unsigned char how = data[0];
  const std::string path = "/var/log/containers/auth-7d9c8b6f5-x2k4q_shop_auth-0123.log";
  // Attribution from the line's own fields when the path gives none.
  const std::string name = (how & 128) ? std::string() : path;
  // A small line limit, so the joiner's cut is reached too.
  ingest::LogStream a(ingest::Format::kDocker, name, {}, 512);
  ingest::LogStream b(ingest::Format::kDocker, name, {}, 512);
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto both = [&](std::string_view line) {
    std::optional<std::string_view> fed_time = a.Feed(line, *fed);
    std::optional<std::string> framed_time;
    if (auto m = b.Frame(line, framed->stats())) {
      b.Count(*m, *framed);
      framed_time = std::string(m->time);
    }
    if (fed_time.has_value() != framed_time.has_value() ||
        (fed_time && *fed_time != *framed_time)) {
      std::abort();
    }
  };
  while (!rest.empty()) {
    const std::size_t nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    both(line);
    both(DockerLine(how, line));
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
  }
  a.Finish(*fed);
  b.Finish(*framed);
  if (!fuzz::DrainSame(*fed, *framed)) std::abort();
  return 0;
}
