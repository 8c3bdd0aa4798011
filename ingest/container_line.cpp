#include "ingest/container_line.hpp"

#include <cstring>

namespace obsgate::ingest {
namespace {

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view StripLineEnd(std::string_view s) {
  if (!s.empty() && s.back() == '\n') s.remove_suffix(1);
  if (!s.empty() && s.back() == '\r') s.remove_suffix(1);
  return s;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads 4 hex digits at s[pos]; -1 when they are missing or not hex.
long ReadHex4(std::string_view s, std::size_t pos) {
  if (pos + 4 > s.size()) return -1;
  long v = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    const int h = HexValue(s[pos + i]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

void AppendUtf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

constexpr std::uint32_t kReplacement = 0xFFFD;

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
    const std::size_t start = ++pos_;
    while (pos_ < s_.size()) {
      const char c = s_[pos_];
      if (c == '"') {
        raw = s_.substr(start, pos_ - start);
        ++pos_;
        return FrameError::kNone;
      }
      pos_ += (c == '\\') ? 2 : 1;
    }
    return FrameError::kTruncated;
  }

  // At an opening quote: the unescaped string. Without escapes it views the line itself, so the
  // common case copies nothing.
  FrameError String(std::string& scratch, std::string_view& value) {
    const std::size_t start = ++pos_;
    while (pos_ < s_.size() && s_[pos_] != '"' && s_[pos_] != '\\') ++pos_;
    if (pos_ >= s_.size()) return FrameError::kTruncated;
    if (s_[pos_] == '"') {
      value = s_.substr(start, pos_ - start);
      ++pos_;
      return FrameError::kNone;
    }
    scratch.assign(s_.data() + start, pos_ - start);
    while (pos_ < s_.size()) {
      const char c = s_[pos_];
      if (c == '"') {
        ++pos_;
        value = scratch;
        return FrameError::kNone;
      }
      if (c != '\\') {
        // Copy the run up to the next quote or backslash in one go.
        std::size_t end = pos_ + 1;
        while (end < s_.size() && s_[end] != '"' && s_[end] != '\\') ++end;
        scratch.append(s_.data() + pos_, end - pos_);
        pos_ = end;
        continue;
      }
      if (pos_ + 1 >= s_.size()) return FrameError::kTruncated;
      const char e = s_[pos_ + 1];
      pos_ += 2;
      switch (e) {
        case '"':
        case '\\':
        case '/':
          scratch.push_back(e);
          break;
        case 'b':
          scratch.push_back('\b');
          break;
        case 'f':
          scratch.push_back('\f');
          break;
        case 'n':
          scratch.push_back('\n');
          break;
        case 'r':
          scratch.push_back('\r');
          break;
        case 't':
          scratch.push_back('\t');
          break;
        case 'u': {
          if (FrameError err = Unicode(scratch); err != FrameError::kNone) return err;
          break;
        }
        default:
          return FrameError::kBadEscape;
      }
    }
    return FrameError::kTruncated;
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
  // After "\u": one code point, or a surrogate pair; lone surrogates become U+FFFD.
  FrameError Unicode(std::string& scratch) {
    const long hi = ReadHex4(s_, pos_);
    if (hi < 0) return pos_ + 4 > s_.size() ? FrameError::kTruncated : FrameError::kBadEscape;
    pos_ += 4;
    if (hi >= 0xDC00 && hi <= 0xDFFF) {
      AppendUtf8(scratch, kReplacement);
      return FrameError::kNone;
    }
    if (hi < 0xD800 || hi > 0xDBFF) {
      AppendUtf8(scratch, static_cast<std::uint32_t>(hi));
      return FrameError::kNone;
    }
    // A high surrogate counts only with a low one right after it; otherwise the next escape is
    // left alone to be decoded on its own.
    if (pos_ + 6 <= s_.size() && s_[pos_] == '\\' && s_[pos_ + 1] == 'u') {
      const long lo = ReadHex4(s_, pos_ + 2);
      if (lo >= 0xDC00 && lo <= 0xDFFF) {
        pos_ += 6;
        AppendUtf8(scratch, 0x10000 + ((static_cast<std::uint32_t>(hi) - 0xD800) << 10) +
                                (static_cast<std::uint32_t>(lo) - 0xDC00));
        return FrameError::kNone;
      }
    }
    AppendUtf8(scratch, kReplacement);
    return FrameError::kNone;
  }

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

DockerParser::DockerParser() { scratch_.reserve(16 * 1024 + 64); }

FrameError DockerParser::Parse(std::string_view line, ContainerLine& out) {
  out = ContainerLine{};
  while (!line.empty() && IsJsonSpace(line.back())) line.remove_suffix(1);
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

  if (!log.empty() && log.back() == '\n') {
    log.remove_suffix(1);
  } else {
    out.partial = true;
  }
  out.message = log;
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

  const std::size_t stream_end = line.find(' ', time_end + 1);
  if (stream_end == std::string_view::npos) return FrameError::kBadCri;
  const std::string_view stream = line.substr(time_end + 1, stream_end - time_end - 1);
  if (stream == "stdout") {
    out.stream = Stream::kStdout;
  } else if (stream == "stderr") {
    out.stream = Stream::kStderr;
  } else {
    return FrameError::kBadCri;
  }

  // The tag is a ':'-separated list whose first element is P or F, as the kubelet reads it.
  std::size_t tag_end = line.find(' ', stream_end + 1);
  if (tag_end == std::string_view::npos) tag_end = line.size();
  std::string_view tag = line.substr(stream_end + 1, tag_end - stream_end - 1);
  tag = tag.substr(0, tag.find(':'));
  if (tag == "P") {
    out.partial = true;
  } else if (tag != "F") {
    return FrameError::kBadCri;
  }

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
