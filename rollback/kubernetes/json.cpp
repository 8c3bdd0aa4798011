#include "rollback/kubernetes/json.hpp"

#include <algorithm>
#include <charconv>

#include "core/json.hpp"

namespace obsgate::rollback::kubernetes {
namespace {

constexpr int kMaxDepth = 200;

// The length of the valid UTF-8 sequence at s[i], or 0 when the bytes there are not one.
std::size_t Utf8Length(std::string_view s, std::size_t i, std::uint32_t* cp) {
  auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  unsigned char c = b(0);
  std::size_t n = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  std::uint32_t v = n == 2 ? c & 0x1F : n == 3 ? c & 0x0F : c & 0x07;
  for (std::size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0;
    v = (v << 6) | (b(k) & 0x3F);
  }
  if ((n == 3 && (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF))) || (n == 4 && v < 0x10000) ||
      v > 0x10FFFF) {
    return 0;
  }
  *cp = v;
  return n;
}

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  core::Result<Json> Document() {
    Json v;
    if (!Value(v, 0)) return core::Error{error_};
    Space();
    if (i_ != s_.size()) return core::Error{"unexpected text after the JSON value at byte " + At()};
    return v;
  }

 private:
  std::string At() const { return std::to_string(i_); }
  bool Fail(std::string message) {
    if (error_.empty()) error_ = std::move(message) + " at byte " + At();
    return false;
  }
  void Space() {
    while (i_ < s_.size() &&
           (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) {
      ++i_;
    }
  }
  bool Literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return Fail("invalid literal");
    i_ += word.size();
    return true;
  }

  bool Value(Json& out, int depth) {
    if (depth > kMaxDepth) return Fail("JSON nested too deep");
    Space();
    if (i_ >= s_.size()) return Fail("unexpected end of JSON");
    char c = s_[i_];
    if (c == '{') return ObjectValue(out, depth);
    if (c == '[') return ArrayValue(out, depth);
    if (c == '"') {
      std::string str;
      if (!StringValue(str)) return false;
      out = Json::String(std::move(str));
      return true;
    }
    if (c == 't') return Literal("true") && (out = Json::Bool(true), true);
    if (c == 'f') return Literal("false") && (out = Json::Bool(false), true);
    if (c == 'n') return Literal("null") && (out = Json(), true);
    return NumberValue(out);
  }

  bool NumberValue(Json& out) {
    std::size_t start = i_;
    auto digits = [&] {
      std::size_t from = i_;
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
      return i_ > from;
    };
    if (i_ < s_.size() && s_[i_] == '-') ++i_;
    if (i_ < s_.size() && s_[i_] == '0') {
      ++i_;
    } else if (!digits()) {
      return Fail("invalid value");
    }
    if (i_ < s_.size() && s_[i_] == '.') {
      ++i_;
      if (!digits()) return Fail("invalid number");
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      if (!digits()) return Fail("invalid number");
    }
    out = Json::Number(std::string(s_.substr(start, i_ - start)));
    return true;
  }

  bool Hex4(std::uint32_t& v) {
    if (i_ + 4 > s_.size()) return Fail("short \\u escape");
    auto [p, ec] = std::from_chars(s_.data() + i_, s_.data() + i_ + 4, v, 16);
    if (ec != std::errc() || p != s_.data() + i_ + 4) return Fail("invalid \\u escape");
    i_ += 4;
    return true;
  }

  bool StringValue(std::string& out) {
    ++i_;  // the opening quote
    while (true) {
      if (i_ >= s_.size()) return Fail("unterminated string");
      unsigned char c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') {
        ++i_;
        return true;
      }
      if (c < 0x20) return Fail("control character in a string");
      if (c != '\\') {
        out += static_cast<char>(c);
        ++i_;
        continue;
      }
      if (++i_ >= s_.size()) return Fail("unterminated string");
      char e = s_[i_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out += e;
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          std::uint32_t cp = 0;
          if (!Hex4(cp)) return false;
          if (cp >= 0xD800 && cp < 0xDC00 && s_.substr(i_, 2) == "\\u") {
            std::size_t save = i_;
            i_ += 2;
            std::uint32_t low = 0;
            if (!Hex4(low)) return false;
            if (low >= 0xDC00 && low <= 0xDFFF) {
              cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            } else {
              i_ = save;
              cp = 0xFFFD;
            }
          } else if (cp >= 0xD800 && cp <= 0xDFFF) {
            cp = 0xFFFD;
          }
          core::AppendUtf8(out, cp);
          break;
        }
        default:
          return Fail("invalid escape");
      }
    }
  }

  bool ArrayValue(Json& out, int depth) {
    ++i_;
    out = Json::Array();
    Space();
    if (i_ < s_.size() && s_[i_] == ']') {
      ++i_;
      return true;
    }
    while (true) {
      Json item;
      if (!Value(item, depth + 1)) return false;
      out.Push(std::move(item));
      Space();
      if (i_ < s_.size() && s_[i_] == ',') {
        ++i_;
      } else if (i_ < s_.size() && s_[i_] == ']') {
        ++i_;
        return true;
      } else {
        return Fail("expected ',' or ']'");
      }
    }
  }

  bool ObjectValue(Json& out, int depth) {
    ++i_;
    out = Json::Object();
    Space();
    if (i_ < s_.size() && s_[i_] == '}') {
      ++i_;
      return true;
    }
    while (true) {
      Space();
      if (i_ >= s_.size() || s_[i_] != '"') return Fail("expected a member name");
      std::string key;
      if (!StringValue(key)) return false;
      Space();
      if (i_ >= s_.size() || s_[i_] != ':') return Fail("expected ':'");
      ++i_;
      Json value;
      if (!Value(value, depth + 1)) return false;
      out.Set(key, std::move(value));  // a repeated name: the last wins, as in Go
      Space();
      if (i_ < s_.size() && s_[i_] == ',') {
        ++i_;
      } else if (i_ < s_.size() && s_[i_] == '}') {
        ++i_;
        return true;
      } else {
        return Fail("expected ',' or '}'");
      }
    }
  }

  std::string_view s_;
  std::size_t i_ = 0;
  std::string error_;
};

void Dump(const Json& v, std::string& out) {
  switch (v.type()) {
    case Json::Type::kNull:
      out += "null";
      return;
    case Json::Type::kBool:
      out += v.boolean() ? "true" : "false";
      return;
    case Json::Type::kNumber:
      out += v.Dump();
      return;
    case Json::Type::kString:
      AppendGoString(out, v.str());
      return;
    case Json::Type::kArray: {
      out += '[';
      bool first = true;
      for (const auto& item : v.items()) {
        if (!first) out += ',';
        first = false;
        Dump(item, out);
      }
      out += ']';
      return;
    }
    case Json::Type::kObject: {
      out += '{';
      bool first = true;
      for (const auto& m : v.members()) {
        if (!first) out += ',';
        first = false;
        AppendGoString(out, m.key);
        out += ':';
        Dump(m.value, out);
      }
      out += '}';
      return;
    }
  }
}

bool IsZero(const Json& v) {
  switch (v.type()) {
    case Json::Type::kNull:
      return true;
    case Json::Type::kBool:
      return !v.boolean();
    case Json::Type::kNumber: {
      std::string t = v.Dump();
      return t.find_first_of("123456789") == std::string::npos ||
             t.find_first_of("123456789") > t.find_first_of("eE");
    }
    case Json::Type::kString:
      return v.str().empty();
    case Json::Type::kArray:
      return v.items().empty();
    case Json::Type::kObject:
      return v.members().empty();
  }
  return false;
}

}  // namespace

void AppendGoString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        default:
          // Go escapes control characters and, for HTML safety, <, > and &.
          if (c < 0x20 || c == '<' || c == '>' || c == '&') {
            out += "\\u00";
            out += kHex[c >> 4];
            out += kHex[c & 0xF];
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    std::uint32_t cp = 0;
    std::size_t n = Utf8Length(s, i, &cp);
    if (n == 0) {
      out += "\\ufffd";
      ++i;
    } else if (cp == 0x2028 || cp == 0x2029) {
      out += cp == 0x2028 ? "\\u2028" : "\\u2029";
      i += n;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  out += '"';
}

Json Json::Bool(bool b) {
  Json v;
  v.type_ = Type::kBool;
  v.bool_ = b;
  return v;
}

Json Json::Int(std::int64_t n) { return Number(std::to_string(n)); }

Json Json::Number(std::string text) {
  Json v;
  v.type_ = Type::kNumber;
  v.text_ = std::move(text);
  return v;
}

Json Json::String(std::string s) {
  Json v;
  v.type_ = Type::kString;
  v.text_ = std::move(s);
  return v;
}

Json Json::Array() {
  Json v;
  v.type_ = Type::kArray;
  return v;
}

Json Json::Object() {
  Json v;
  v.type_ = Type::kObject;
  return v;
}

core::Result<Json> Json::Parse(std::string_view text) { return Parser(text).Document(); }

std::string Json::Dump() const {
  if (type_ == Type::kNumber) return text_;
  std::string out;
  kubernetes::Dump(*this, out);
  return out;
}

std::string_view Json::str() const {
  return type_ == Type::kString ? std::string_view(text_) : std::string_view();
}

std::optional<std::int64_t> Json::Integer() const {
  if (type_ != Type::kNumber) return std::nullopt;
  std::int64_t n = 0;
  auto [p, ec] = std::from_chars(text_.data(), text_.data() + text_.size(), n);
  if (ec != std::errc() || p != text_.data() + text_.size()) return std::nullopt;
  return n;
}

bool Json::boolean() const { return type_ == Type::kBool && bool_; }

const Json* Json::Find(std::string_view key) const {
  for (const auto& m : members_) {
    if (m.key == key) return &m.value;
  }
  return nullptr;
}

Json* Json::Find(std::string_view key) {
  for (auto& m : members_) {
    if (m.key == key) return &m.value;
  }
  return nullptr;
}

Json& Json::Set(std::string_view key, Json value) {
  if (type_ == Type::kNull) type_ = Type::kObject;
  if (Json* existing = Find(key)) {
    *existing = std::move(value);
    return *existing;
  }
  members_.push_back(Member{std::string(key), std::move(value)});
  return members_.back().value;
}

bool Json::Erase(std::string_view key) {
  auto it =
      std::find_if(members_.begin(), members_.end(), [&](const Member& m) { return m.key == key; });
  if (it == members_.end()) return false;
  members_.erase(it);
  return true;
}

Json& Json::Push(Json value) {
  if (type_ == Type::kNull) type_ = Type::kArray;
  items_.push_back(std::move(value));
  return items_.back();
}

const Json* Json::At(std::initializer_list<std::string_view> path) const {
  const Json* v = this;
  for (std::string_view key : path) {
    v = v->Find(key);
    if (!v) return nullptr;
  }
  return v;
}

std::string Json::Text(std::initializer_list<std::string_view> path) const {
  const Json* v = At(path);
  return v ? std::string(v->str()) : "";
}

bool Json::operator==(const Json& other) const {
  if (type_ != other.type_) return false;
  switch (type_) {
    case Type::kNull:
      return true;
    case Type::kBool:
      return bool_ == other.bool_;
    case Type::kNumber:
    case Type::kString:
      return text_ == other.text_;
    case Type::kArray:
      return items_ == other.items_;
    case Type::kObject:
      if (members_.size() != other.members_.size()) return false;
      for (const auto& m : members_) {
        const Json* o = other.Find(m.key);
        if (!o || !(m.value == *o)) return false;
      }
      return true;
  }
  return false;
}

bool SemanticEqual(const Json& a, const Json& b) {
  if (IsZero(a) && IsZero(b)) return true;
  if (a.type() != b.type()) return false;
  if (a.is_array()) {
    if (a.items().size() != b.items().size()) return false;
    for (std::size_t i = 0; i < a.items().size(); ++i) {
      if (!SemanticEqual(a.items()[i], b.items()[i])) return false;
    }
    return true;
  }
  if (a.is_object()) {
    static const Json kNull;
    for (const auto& m : a.members()) {
      const Json* o = b.Find(m.key);
      if (!SemanticEqual(m.value, o ? *o : kNull)) return false;
    }
    for (const auto& m : b.members()) {
      if (!a.Find(m.key) && !IsZero(m.value)) return false;
    }
    return true;
  }
  return a == b;
}

}  // namespace obsgate::rollback::kubernetes
