#pragma once

#include <simdjson.h>

#include <cstddef>
#include <string>
#include <string_view>

// Small helpers the fakes share to check parsed JSON against a published schema.
namespace obsgate::fakes::rules {

// Characters as the services count them: Unicode code points, not bytes.
inline std::size_t Characters(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

inline std::string Quote(std::string_view key) { return "'" + std::string(key) + "'"; }

// The member `key` when it is present (null counts as absent, as the services treat it).
inline bool Member(simdjson::dom::object o, std::string_view key, simdjson::dom::element& out) {
  if (o.at_key(key).get(out) != simdjson::SUCCESS) return false;
  return !out.is_null();
}

inline const char* TypeName(simdjson::dom::element e) {
  switch (e.type()) {
    case simdjson::dom::element_type::ARRAY:
      return "an array";
    case simdjson::dom::element_type::OBJECT:
      return "an object";
    case simdjson::dom::element_type::INT64:
    case simdjson::dom::element_type::UINT64:
    case simdjson::dom::element_type::DOUBLE:
      return "a number";
    case simdjson::dom::element_type::STRING:
      return "a string";
    case simdjson::dom::element_type::BOOL:
      return "a boolean";
    case simdjson::dom::element_type::NULL_VALUE:
      return "null";
  }
  return "unknown";
}

}  // namespace obsgate::fakes::rules
