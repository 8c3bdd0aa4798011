#include "ingest/container_line.hpp"

#include <cstring>

#include "ingest/json_text.hpp"

namespace obsgate::ingest {
namespace {

std::string_view StripLineEnd(std::string_view s) {
  if (!s.empty() && s.back() == '\n') s.remove_suffix(1);
  if (!s.empty() && s.back() == '\r') s.remove_suffix(1);
  return s;
}

// A cursor over one docker json-file line. Every method leaves pos_ where parsing stopped.
class DockerCursor {
 public:
  explicit DockerCursor(std::string_view s) : s_(s) {}

  void SkipSpace() {
    while (pos_ < s_.size() && IsJsonSpace(s_[pos_])) ++pos_;
  }
  bool AtEnd() const { return pos_ >= s_.size(); }
  char Peek() const { return s_[pos_]; }
  void Advance() { ++pos_; }

  // At an opening quote: the raw bytes between the quotes, without unescaping.
  FrameError RawString(std::string_view& raw) {
    const char* begin = s_.data() + ++pos_;
    const char* end = s_.data() + s_.size();
    const char* p = begin;
    for (;;) {
      p = FindQuoteOrBackslash(p, end);
      if (end - p < (p < end && *p == '\\' ? 2 : 1)) {
        pos_ = s_.size();
        return FrameError::kTruncated;
      }
      if (*p == '"') break;
      p += 2;
    }
    raw = std::string_view(begin, static_cast<std::size_t>(p - begin));
    pos_ = static_cast<std::size_t>(p - s_.data()) + 1;
    return FrameError::kNone;
  }

  // At an opening quote: the unescaped string. Without escapes it views the line itself, so the
  // common case copies nothing; with them it is unescaped into `scratch` in the same pass.
  FrameError String(std::string& scratch, std::string_view& value) {
    const char* begin = s_.data() + ++pos_;
    const char* end = s_.data() + s_.size();
    const char* p = FindQuoteOrBackslash(begin, end);
    if (p < end && *p == '"') {
      value = std::string_view(begin, static_cast<std::size_t>(p - begin));
      pos_ = static_cast<std::size_t>(p - s_.data()) + 1;
      return FrameError::kNone;
    }
    const std::size_t clean = static_cast<std::size_t>(p - begin);
    p = begin;
    const UnescapeResult r = UnescapeString(p, end, scratch, value, clean);
    pos_ = static_cast<std::size_t>(p - s_.data());
    if (r == UnescapeResult::kUnterminated) return FrameError::kTruncated;
    if (r == UnescapeResult::kBadEscape) return FrameError::kBadEscape;
    return FrameError::kNone;
  }

  // Skips any JSON value without recursion: nesting is only counted.
  FrameError SkipValue() {
    if (AtEnd()) return FrameError::kTruncated;
    const char c = Peek();
    if (c == '"') {
      std::string_view ignored;
      return RawString(ignored);
    }
    if (c == '{' || c == '[') {
      std::size_t depth = 0;
      while (pos_ < s_.size()) {
        const char d = s_[pos_];
        if (d == '"') {
          std::string_view ignored;
          if (FrameError err = RawString(ignored); err != FrameError::kNone) return err;
          continue;
        }
        if (d == '{' || d == '[') {
          ++depth;
        } else if (d == '}' || d == ']') {
          if (--depth == 0) {
            ++pos_;
            return FrameError::kNone;
          }
        }
        ++pos_;
      }
      return FrameError::kTruncated;
    }
    const std::size_t start = pos_;
    while (pos_ < s_.size()) {
      const char d = s_[pos_];
      const bool literal = (d >= '0' && d <= '9') || (d >= 'a' && d <= 'z') || d == '-' ||
                           d == '+' || d == '.' || d == 'E';
      if (!literal) break;
      ++pos_;
    }
    if (pos_ == start) return FrameError::kNotJson;
    return FrameError::kNone;
  }

 private:
  std::string_view s_;
  std::size_t pos_ = 0;
};

}  // namespace

const char* FrameErrorName(FrameError e) {
  switch (e) {
    case FrameError::kNone:
      return "none";
    case FrameError::kEmpty:
      return "empty";
    case FrameError::kNotJson:
      return "not_json";
    case FrameError::kTruncated:
      return "truncated";
    case FrameError::kMissingLog:
      return "missing_log";
    case FrameError::kBadField:
      return "bad_field";
    case FrameError::kBadEscape:
      return "bad_escape";
    case FrameError::kBadCri:
      return "bad_cri";
  }
  return "unknown";
}

DockerParser::DockerParser() { scratch_.resize(16 * 1024 + 64); }

namespace {

// A log value as a frame carries it: without its trailing newline, or partial when it has none.
void SetMessage(std::string_view log, ContainerLine& out) {
  if (!log.empty() && log.back() == '\n') {
    log.remove_suffix(1);
  } else {
    out.partial = true;
  }
  out.message = log;
}

}  // namespace

bool ParseDockerTail(std::string_view rest, ContainerLine& out) {
  constexpr std::string_view kStdout = "\",\"stream\":\"stdout\",\"time\":\"";
  constexpr std::string_view kStderr = "\",\"stream\":\"stderr\",\"time\":\"";
  static_assert(kStdout.size() == kStderr.size());
  if (rest.starts_with(kStdout)) {
    out.stream = Stream::kStdout;
  } else if (rest.starts_with(kStderr)) {
    out.stream = Stream::kStderr;
  } else {
    return false;
  }
  rest.remove_prefix(kStdout.size());
  const char* quote = FindQuoteOrBackslash(rest.data(), rest.data() + rest.size());
  const std::size_t time = static_cast<std::size_t>(quote - rest.data());
  if (rest.size() - time != 2 || quote[0] != '"' || quote[1] != '}') return false;
  out.time = rest.substr(0, time);
  return true;
}

std::optional<FrameError> DockerParser::ParseAsWritten(std::string_view line, ContainerLine& out) {
  constexpr std::string_view kHead = "{\"log\":\"";
  if (line.substr(0, kHead.size()) != kHead) return std::nullopt;
  const char* const begin = line.data() + kHead.size();
  const char* const end = line.data() + line.size();
  const char* p = FindQuoteOrBackslash(begin, end);
  std::string_view log;
  if (p < end && *p == '"') {
    log = std::string_view(begin, static_cast<std::size_t>(p - begin));
  } else {
    const std::size_t clean = static_cast<std::size_t>(p - begin);
    p = begin;
    switch (UnescapeString(p, end, scratch_, log, clean)) {
      case UnescapeResult::kUnterminated:
        return FrameError::kTruncated;
      case UnescapeResult::kBadEscape:
        return FrameError::kBadEscape;
      case UnescapeResult::kOk:
        break;
    }
    --p;  // back on the closing quote
  }
  // Then exactly the rest docker writes; anything else goes the general way.
  if (!ParseDockerTail(std::string_view(p, static_cast<std::size_t>(end - p)), out)) {
    return std::nullopt;
  }
  SetMessage(log, out);
  return FrameError::kNone;
}

FrameError DockerParser::Parse(std::string_view line, ContainerLine& out) {
  out = ContainerLine{};
  while (!line.empty() && IsJsonSpace(line.back())) line.remove_suffix(1);
  // The shape docker itself writes, read without looking at the keys.
  if (std::optional<FrameError> written = ParseAsWritten(line, out)) return *written;
  out = ContainerLine{};
  DockerCursor cur(line);
  cur.SkipSpace();
  if (cur.AtEnd()) return FrameError::kEmpty;
  if (cur.Peek() != '{') return FrameError::kNotJson;
  cur.Advance();

  bool have_log = false;
  std::string_view log;
  for (bool first = true;; first = false) {
    cur.SkipSpace();
    if (cur.AtEnd()) return FrameError::kTruncated;
    if (first && cur.Peek() == '}') {
      cur.Advance();
      break;
    }
    if (cur.Peek() != '"') return FrameError::kNotJson;
    std::string_view key;
    if (FrameError err = cur.RawString(key); err != FrameError::kNone) return err;
    cur.SkipSpace();
    if (cur.AtEnd()) return FrameError::kTruncated;
    if (cur.Peek() != ':') return FrameError::kNotJson;
    cur.Advance();
    cur.SkipSpace();
    if (cur.AtEnd()) return FrameError::kTruncated;

    if (key == "log" || key == "stream" || key == "time") {
      if (cur.Peek() != '"') {
        if (FrameError err = cur.SkipValue(); err != FrameError::kNone) return err;
        return FrameError::kBadField;
      }
      if (key == "log") {
        if (FrameError err = cur.String(scratch_, log); err != FrameError::kNone) return err;
        have_log = true;
      } else {
        std::string_view raw;
        if (FrameError err = cur.RawString(raw); err != FrameError::kNone) return err;
        if (key == "time") {
          out.time = raw;
        } else if (raw == "stdout") {
          out.stream = Stream::kStdout;
        } else if (raw == "stderr") {
          out.stream = Stream::kStderr;
        } else {
          return FrameError::kBadField;
        }
      }
    } else if (FrameError err = cur.SkipValue(); err != FrameError::kNone) {
      return err;
    }

    cur.SkipSpace();
    if (cur.AtEnd()) return FrameError::kTruncated;
    if (cur.Peek() == ',') {
      cur.Advance();
      continue;
    }
    if (cur.Peek() != '}') return FrameError::kNotJson;
    cur.Advance();
    break;
  }
  cur.SkipSpace();
  if (!cur.AtEnd()) return FrameError::kNotJson;
  if (!have_log) return FrameError::kMissingLog;

  SetMessage(log, out);
  return FrameError::kNone;
}

FrameError ParseCri(std::string_view line, ContainerLine& out) {
  out = ContainerLine{};
  line = StripLineEnd(line);
  if (line.empty()) return FrameError::kEmpty;

  const std::size_t time_end = line.find(' ');
  if (time_end == std::string_view::npos) return FrameError::kBadCri;
  const std::string_view time = line.substr(0, time_end);
  auto digits = [&](std::size_t from, std::size_t n) {
    for (std::size_t i = from; i < from + n; ++i) {
      if (i >= time.size() || time[i] < '0' || time[i] > '9') return false;
    }
    return true;
  };
  if (!digits(0, 4) || time.size() < 10 || time[4] != '-' || !digits(5, 2) || time[7] != '-' ||
      !digits(8, 2) || (time.size() > 10 && time[10] != 'T')) {
    return FrameError::kBadCri;
  }

  // The stream is one of two six-byte words, so it is compared where it must be, not searched for.
  const std::size_t tag_begin = time_end + 8;
  if (line.size() < tag_begin) return FrameError::kBadCri;
  const char* stream = line.data() + time_end + 1;
  if (std::memcmp(stream, "stdout ", 7) == 0) {
    out.stream = Stream::kStdout;
  } else if (std::memcmp(stream, "stderr ", 7) == 0) {
    out.stream = Stream::kStderr;
  } else {
    return FrameError::kBadCri;
  }

  // The tag is a ':'-separated list whose first element is P or F, as the kubelet reads it; it is
  // one byte as the kubelet and containerd write it, so it is read byte by byte.
  std::size_t tag_end = tag_begin;
  while (tag_end < line.size() && line[tag_end] != ' ') ++tag_end;
  const std::string_view tag = line.substr(tag_begin, tag_end - tag_begin);
  if (tag.empty() || (tag[0] != 'P' && tag[0] != 'F') || (tag.size() > 1 && tag[1] != ':')) {
    return FrameError::kBadCri;
  }
  out.partial = tag[0] == 'P';

  out.time = time;
  out.message = tag_end < line.size() ? line.substr(tag_end + 1) : std::string_view();
  return FrameError::kNone;
}

FrameError ParseRaw(std::string_view line, ContainerLine& out) {
  out = ContainerLine{};
  line = StripLineEnd(line);
  if (line.empty()) return FrameError::kEmpty;
  out.message = line;
  return FrameError::kNone;
}

FrameError LineFramer::Parse(std::string_view line, ContainerLine& out) {
  switch (format_) {
    case Format::kDocker:
      return docker_.Parse(line, out);
    case Format::kCri:
      return ParseCri(line, out);
    case Format::kRaw:
      return ParseRaw(line, out);
    case Format::kAuto:
      break;
  }
  if (!line.empty() && line.front() == '{') {
    const FrameError err = docker_.Parse(line, out);
    if (err != FrameError::kMissingLog && err != FrameError::kNotJson) return err;
    return ParseRaw(line, out);
  }
  if (!line.empty() && line.front() >= '0' && line.front() <= '9' &&
      ParseCri(line, out) == FrameError::kNone) {
    return FrameError::kNone;
  }
  return ParseRaw(line, out);
}

PartialJoiner::PartialJoiner(std::size_t max_bytes) : max_bytes_(max_bytes) {}

void PartialJoiner::ReleaseHandedOut() {
  if (handed_out_ < 0) return;
  Pending& done = pending_[handed_out_];
  done.cut = false;
  // A joiner lives per tailed file; one huge message must not pin a megabyte per file for good.
  if (done.bytes.capacity() > kKeptCapacity) {
    std::string().swap(done.bytes);
  } else {
    done.bytes.clear();
  }
  handed_out_ = -1;
}

bool PartialJoiner::Add(const ContainerLine& line, std::string_view& whole) {
  ReleaseHandedOut();
  const int index = line.stream == Stream::kStderr ? 1 : 0;
  Pending& p = pending_[index];
  if (!p.open && !line.partial) {
    // A message that was never split is handed through without a copy.
    whole = line.message;
    if (whole.size() > max_bytes_) {
      whole = whole.substr(0, max_bytes_);
      ++truncated_;
    }
    return true;
  }
  const std::size_t room = max_bytes_ - p.bytes.size();
  if (line.message.size() > room) {
    p.bytes.append(line.message.data(), room);
    p.cut = true;
  } else {
    p.bytes.append(line.message);
  }
  if (line.partial) {
    p.open = true;
    return false;
  }
  p.open = false;
  if (p.cut) ++truncated_;
  whole = p.bytes;
  handed_out_ = index;
  return true;
}

bool PartialJoiner::Flush(std::string_view& whole) {
  ReleaseHandedOut();
  for (int i = 0; i < 2; ++i) {
    Pending& p = pending_[i];
    if (!p.open) continue;
    p.open = false;
    if (p.cut) ++truncated_;
    whole = p.bytes;
    handed_out_ = i;
    return true;
  }
  return false;
}

}  // namespace obsgate::ingest
