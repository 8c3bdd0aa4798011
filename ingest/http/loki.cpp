#include "ingest/http/loki.hpp"

#include <simdjson.h>
#include <snappy.h>

#include "core/json.hpp"

namespace obsgate::ingest {
namespace {

bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }

// Protobuf wire format, read by hand: zero-copy over the body, every length checked.
class Wire {
 public:
  explicit Wire(std::string_view data) : data_(data) {}
  bool done() const { return pos_ >= data_.size(); }
  bool Varint(std::uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= data_.size()) return false;
      auto b = static_cast<unsigned char>(data_[pos_++]);
      v |= static_cast<std::uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  }
  bool Bytes(std::string_view& out) {
    std::uint64_t n;
    if (!Varint(n) || n > data_.size() - pos_) return false;
    out = data_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  // Skips a field of the given wire type; false on a malformed or group field.
  bool Skip(std::uint64_t type) {
    std::uint64_t v;
    std::string_view s;
    switch (type) {
      case 0:
        return Varint(v);
      case 1:
        if (data_.size() - pos_ < 8) return false;
        pos_ += 8;
        return true;
      case 2:
        return Bytes(s);
      case 5:
        if (data_.size() - pos_ < 4) return false;
        pos_ += 4;
        return true;
      default:
        return false;
    }
  }

 private:
  std::string_view data_;
  std::size_t pos_ = 0;
};

// Counts the entries of a stream, for rejecting a stream whose labels are bad.
std::uint64_t CountEntries(std::string_view stream) {
  Wire w(stream);
  std::uint64_t n = 0;
  while (!w.done()) {
    std::uint64_t key;
    if (!w.Varint(key)) break;
    if ((key >> 3) == 2 && (key & 7) == 2) ++n;
    if (!w.Skip(key & 7)) break;
  }
  return n;
}

}  // namespace

core::Result<std::vector<Label>> ParseLabelSelector(std::string_view s) {
  std::vector<Label> labels;
  std::size_t i = 0;
  auto space = [&] {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
  };
  auto fail = [&](const std::string& what) -> core::Result<std::vector<Label>> {
    return core::Error{"bad label selector at byte " + std::to_string(i + 1) + ": " + what +
                       "; expected the form {name=\"value\", ...}"};
  };
  space();
  if (i >= s.size() || s[i] != '{') return fail("missing {");
  ++i;
  space();
  if (i < s.size() && s[i] == '}') {
    ++i;
  } else {
    for (;;) {
      space();
      std::size_t start = i;
      if (i >= s.size() || !IsNameStart(s[i])) return fail("expected a label name");
      while (i < s.size() && IsNameChar(s[i])) ++i;
      Label l{std::string(s.substr(start, i - start)), {}};
      space();
      if (i >= s.size() || s[i] != '=') return fail("expected = after " + l.name);
      ++i;
      space();
      if (i >= s.size() || s[i] != '"') return fail("expected a quoted value for " + l.name);
      ++i;
      for (;;) {
        if (i >= s.size()) return fail("unterminated value of " + l.name);
        char c = s[i++];
        if (c == '"') break;
        if (c != '\\') {
          l.value += c;
          continue;
        }
        if (i >= s.size()) return fail("unterminated escape");
        char e = s[i++];
        switch (e) {
          case 'n':
            l.value += '\n';
            break;
          case 't':
            l.value += '\t';
            break;
          case 'r':
            l.value += '\r';
            break;
          case '\\':
          case '"':
          case '\'':
            l.value += e;
            break;
          case 'u': {
            if (i + 4 > s.size()) return fail("short \\u escape");
            std::uint32_t cp = 0;
            for (int k = 0; k < 4; ++k) {
              char h = s[i++];
              cp <<= 4;
              if (h >= '0' && h <= '9') {
                cp |= static_cast<std::uint32_t>(h - '0');
              } else if (h >= 'a' && h <= 'f') {
                cp |= static_cast<std::uint32_t>(h - 'a' + 10);
              } else if (h >= 'A' && h <= 'F') {
                cp |= static_cast<std::uint32_t>(h - 'A' + 10);
              } else {
                return fail("bad hex digit in \\u escape");
              }
            }
            if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;
            core::AppendUtf8(l.value, cp);
            break;
          }
          default:
            return fail(std::string("unknown escape \\") + e);
        }
      }
      labels.push_back(std::move(l));
      space();
      if (i < s.size() && s[i] == ',') {
        ++i;
        space();
        if (i < s.size() && s[i] == '}') {
          ++i;
          break;
        }
        continue;
      }
      if (i < s.size() && s[i] == '}') {
        ++i;
        break;
      }
      return fail("expected , or }");
    }
  }
  space();
  if (i != s.size()) return fail("unexpected text after }");
  return labels;
}

namespace {
constexpr std::size_t kKeptParserCapacity = 4 << 20;
}  // namespace

core::Status DecodeLokiJson(std::string_view body, PushVisitor& visitor) {
  // One parser per server thread, reused push after push: a fresh one allocates (and the kernel
  // zeroes) room for the whole body each time. One that grew for a huge push is let go.
  thread_local simdjson::dom::parser parser;
  struct Shrink {
    ~Shrink() {
      if (parser.capacity() > kKeptParserCapacity) parser = simdjson::dom::parser{};
    }
  } shrink;
  simdjson::dom::element root;
  if (auto err = parser.parse(body.data(), body.size()).get(root)) {
    return core::Error{std::string("body is not valid JSON: ") + simdjson::error_message(err)};
  }
  simdjson::dom::array streams;
  if (root["streams"].get_array().get(streams)) {
    return core::Error{"body has no \"streams\" array; Loki's push is {\"streams\":[...]}"};
  }
  std::vector<Label> labels;
  std::size_t index = 0;
  for (simdjson::dom::element stream : streams) {
    ++index;
    simdjson::dom::array values;
    if (stream["values"].get_array().get(values)) {
      visitor.Rejected(0, "stream " + std::to_string(index) + " has no \"values\" array");
      continue;
    }
    labels.clear();
    simdjson::dom::object fields;
    bool good = !stream["stream"].get_object().get(fields);
    if (good) {
      for (auto [key, value] : fields) {
        std::string_view v;
        if (value.get_string().get(v)) {
          good = false;
          break;
        }
        labels.push_back(Label{std::string(key), std::string(v)});
      }
    }
    if (!good) {
      visitor.Rejected(values.size(), "stream " + std::to_string(index) +
                                          ": \"stream\" must be an object of string labels");
      continue;
    }
    visitor.Stream(labels);
    for (simdjson::dom::element entry : values) {
      simdjson::dom::array pair;
      std::string_view ts, line;
      if (entry.get_array().get(pair) || pair.size() < 2 || pair.size() > 3 ||
          pair.at(0).get_string().get(ts) || pair.at(1).get_string().get(line)) {
        visitor.Rejected(1, "stream " + std::to_string(index) +
                                ": an entry must be [\"<unix ns>\", \"<line>\"]");
        continue;
      }
      bool digits = !ts.empty();
      for (char c : ts) digits = digits && c >= '0' && c <= '9';
      if (!digits) {
        visitor.Rejected(1, "stream " + std::to_string(index) +
                                ": the timestamp must be a string of nanoseconds");
        continue;
      }
      visitor.Entry(line);
    }
  }
  return core::Ok{};
}

core::Status DecodeLokiProtobuf(std::string_view body, PushVisitor& visitor) {
  Wire request(body);
  std::size_t index = 0;
  std::vector<Label> labels;
  while (!request.done()) {
    std::uint64_t key;
    if (!request.Varint(key)) return core::Error{"truncated protobuf PushRequest"};
    if ((key >> 3) != 1 || (key & 7) != 2) {
      if (!request.Skip(key & 7)) return core::Error{"malformed protobuf PushRequest"};
      continue;
    }
    std::string_view stream;
    if (!request.Bytes(stream)) return core::Error{"truncated protobuf stream"};
    ++index;
    // Labels may come after the entries on the wire: find them first.
    std::string_view selector;
    {
      Wire w(stream);
      while (!w.done()) {
        std::uint64_t k;
        if (!w.Varint(k)) break;
        if ((k >> 3) == 1 && (k & 7) == 2) {
          if (!w.Bytes(selector)) break;
        } else if (!w.Skip(k & 7)) {
          break;
        }
      }
    }
    auto parsed = ParseLabelSelector(selector);
    if (!parsed) {
      visitor.Rejected(CountEntries(stream),
                       "stream " + std::to_string(index) + ": " + parsed.error());
      continue;
    }
    visitor.Stream(*parsed);
    Wire w(stream);
    while (!w.done()) {
      std::uint64_t k;
      if (!w.Varint(k)) {
        visitor.Rejected(1, "stream " + std::to_string(index) + ": truncated field");
        break;
      }
      if ((k >> 3) != 2 || (k & 7) != 2) {
        if (!w.Skip(k & 7)) {
          visitor.Rejected(1, "stream " + std::to_string(index) + ": malformed field");
          break;
        }
        continue;
      }
      std::string_view entry;
      if (!w.Bytes(entry)) {
        visitor.Rejected(1, "stream " + std::to_string(index) + ": truncated entry");
        break;
      }
      Wire e(entry);
      std::string_view line;
      bool ok = true;
      while (ok && !e.done()) {
        std::uint64_t ek;
        ok = e.Varint(ek);
        if (!ok) break;
        if ((ek >> 3) == 2 && (ek & 7) == 2) {
          ok = e.Bytes(line);
        } else {
          ok = e.Skip(ek & 7);
        }
      }
      if (!ok) {
        visitor.Rejected(1, "stream " + std::to_string(index) + ": malformed entry");
        continue;
      }
      visitor.Entry(line);
    }
  }
  return core::Ok{};
}

core::Result<std::string> SnappyUncompress(std::string_view body, std::size_t max_bytes) {
  std::size_t n = 0;
  if (!snappy::GetUncompressedLength(body.data(), body.size(), &n)) {
    return core::Error{"body is not valid snappy (block format, as Loki's protobuf push uses)"};
  }
  if (n > max_bytes) {
    return core::Error{"snappy body inflates to " + std::to_string(n) + " bytes, past " +
                       std::to_string(max_bytes) + "; send smaller batches"};
  }
  std::string out;
  if (!snappy::Uncompress(body.data(), body.size(), &out)) {
    return core::Error{"body is not valid snappy: corrupt data"};
  }
  return out;
}

}  // namespace obsgate::ingest
