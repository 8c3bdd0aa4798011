#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace obsgate::rollback::kubernetes {

// A JSON document whose objects keep their members in the order they were read or added, printed
// the way Go's encoding/json prints (compact; <, > and & escaped), so that a body built from what
// the API server sent reads byte for byte like the one kubectl builds from the same objects.
// Numbers keep their text. A value; not shared between threads.
class Json {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  struct Member;

  Json() = default;  // null
  static Json Bool(bool b);
  static Json Int(std::int64_t n);
  static Json Number(std::string text);  // already valid JSON number text
  static Json String(std::string s);
  static Json Array();
  static Json Object();
  // Untrusted text: a result, never an exception; nesting deeper than 200 is refused.
  static core::Result<Json> Parse(std::string_view text);

  std::string Dump() const;
  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_object() const { return type_ == Type::kObject; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_string() const { return type_ == Type::kString; }

  // Scalars; a default when the value is of another type.
  std::string_view str() const;                 // the string, or ""
  std::optional<std::int64_t> Integer() const;  // a number without fraction or exponent
  bool boolean() const;                         // true only for true

  // Objects. Find returns null when absent or when this is no object.
  const Json* Find(std::string_view key) const;
  Json* Find(std::string_view key);
  // Replaces the member in place, or appends it; makes this an object when it was null.
  Json& Set(std::string_view key, Json value);
  bool Erase(std::string_view key);
  const std::vector<Member>& members() const { return members_; }

  // Arrays.
  const std::vector<Json>& items() const { return items_; }
  std::vector<Json>& items() { return items_; }
  Json& Push(Json value);  // makes this an array when it was null

  // The value under a path of object keys, or null when any step is missing.
  const Json* At(std::initializer_list<std::string_view> path) const;
  // The string under a path, or "" when missing or not a string.
  std::string Text(std::initializer_list<std::string_view> path) const;

  // Same type and value; objects compare as sets of members, arrays in order.
  bool operator==(const Json& other) const;

 private:
  Type type_ = Type::kNull;
  bool bool_ = false;
  std::string text_;  // string value, or number text
  std::vector<Json> items_;
  std::vector<Member> members_;
};

struct Json::Member {
  std::string key;
  Json value;
};

// Equal as Kubernetes' Semantic.DeepEqual sees two decoded objects: a member that is absent
// equals one that holds its zero value (null, "", 0, false, {}, []).
bool SemanticEqual(const Json& a, const Json& b);

// Appends s as a quoted JSON string escaped as Go's encoding/json does.
void AppendGoString(std::string& out, std::string_view s);

}  // namespace obsgate::rollback::kubernetes
