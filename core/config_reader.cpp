#include "core/config_reader.hpp"

#include <charconv>
#include <cstdlib>

namespace obsgate::core {
namespace {

bool IsNameStart(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }

}  // namespace

std::string ConfigProblem::ToString() const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
  out += ": ";
  if (!key.empty()) out += key + ": ";
  out += message;
  return out;
}

Env ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

Result<std::string> ExpandEnv(std::string_view s, const Env& env, bool* used_env) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '$') {
      out += s[i];
      continue;
    }
    if (i + 1 < s.size() && s[i + 1] == '$') {
      out += '$';
      ++i;
      continue;
    }
    if (i + 1 >= s.size() || s[i + 1] != '{') {
      out += '$';
      continue;
    }
    std::size_t close = s.find('}', i + 2);
    if (close == std::string_view::npos) {
      return Error{"unclosed ${ at position " + std::to_string(i + 1) +
                   "; write ${NAME} or ${NAME:-default}, or $$ for a literal $"};
    }
    std::string_view inner = s.substr(i + 2, close - i - 2);
    std::string_view name = inner;
    std::optional<std::string_view> fallback;
    if (auto sep = inner.find(":-"); sep != std::string_view::npos) {
      name = inner.substr(0, sep);
      fallback = inner.substr(sep + 2);
    }
    bool valid = !name.empty() && IsNameStart(name[0]);
    for (char c : name) valid = valid && IsNameChar(c);
    if (!valid) {
      return Error{"\"${" + std::string(inner) +
                   "}\" is not a variable reference; names are letters, digits and _"};
    }
    std::optional<std::string> value = env(std::string(name));
    if (!value || (value->empty() && fallback)) {
      if (!fallback) {
        return Error{"environment variable " + std::string(name) +
                     " is not set; set it or write ${" + std::string(name) + ":-default}"};
      }
      out.append(*fallback);
    } else {
      out += *value;
    }
    if (used_env != nullptr) *used_env = true;
    i = close;
  }
  return out;
}

std::optional<YAML::Node> ConfigReader::Parse(std::string_view text) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    ReportAt(e.mark.line + 1, e.mark.column + 1, "", "not valid YAML: " + e.msg);
    return std::nullopt;
  }
  if (root.IsNull()) return YAML::Node(YAML::NodeType::Map);  // an empty file is all defaults
  if (!root.IsMap()) {
    Report(root, "", "the configuration must be a YAML mapping of keys such as listen: and rules:");
    return std::nullopt;
  }
  return root;
}

void ConfigReader::Report(const YAML::Node& at, std::string key, std::string message) {
  YAML::Mark m = at.Mark();
  if (m.line < 0) {
    ReportAt(0, 0, std::move(key), std::move(message));
  } else {
    ReportAt(m.line + 1, m.column + 1, std::move(key), std::move(message));
  }
}

void ConfigReader::ReportAt(int line, int column, std::string key, std::string message) {
  problems_.push_back(ConfigProblem{file_, line, column, std::move(key), std::move(message)});
}

ConfigMap::ConfigMap(ConfigReader& reader, const YAML::Node& node, std::string path)
    : reader_(&reader), node_(node), path_(std::move(path)) {
  for (auto it = node.begin(); it != node.end(); ++it) {
    std::string key = it->first.IsScalar() ? it->first.Scalar() : std::string();
    if (!it->first.IsScalar()) {
      reader_->Report(it->first, path_, "keys must be plain strings");
      continue;
    }
    if (Find(key) != nullptr) {
      reader_->Report(it->first, PathOf(key), "duplicate key; each key may appear once");
      continue;
    }
    entries_.push_back(Entry{key, it->first, it->second});
  }
}

ConfigMap::Entry* ConfigMap::Find(std::string_view key) {
  for (Entry& e : entries_) {
    if (e.key == key) return &e;
  }
  return nullptr;
}

const ConfigMap::Entry* ConfigMap::Find(std::string_view key) const {
  return const_cast<ConfigMap*>(this)->Find(key);
}

std::string ConfigMap::PathOf(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

std::string ConfigMap::Shown(const ConfigValue& v) {
  return v.from_env ? "the value from the environment" : "\"" + v.text + "\"";
}

bool ConfigMap::Has(std::string_view key) const { return Find(key) != nullptr; }

std::vector<std::string> ConfigMap::Keys() const {
  std::vector<std::string> keys;
  for (const Entry& e : entries_) keys.push_back(e.key);
  return keys;
}

void ConfigMap::Report(std::string_view key, std::string message) {
  Entry* e = Find(key);
  if (e != nullptr) {
    reader_->Report(e->value.IsNull() ? e->key_node : e->value, PathOf(key), std::move(message));
  } else {
    reader_->Report(node_, PathOf(key), std::move(message));
  }
}

std::optional<ConfigValue> ReadScalar(ConfigReader& reader, const YAML::Node& node,
                                      const std::string& path) {
  if (!node.IsScalar()) {
    reader.Report(node, path, node.IsNull() ? "a value is required" : "expected a single value");
    return std::nullopt;
  }
  bool used_env = false;
  Result<std::string> expanded = ExpandEnv(node.Scalar(), reader.env(), &used_env);
  if (!expanded) {
    reader.Report(node, path, expanded.error());
    return std::nullopt;
  }
  return ConfigValue{std::move(expanded).value(), used_env};
}

std::optional<ConfigValue> ConfigMap::Scalar(std::string_view key) {
  Entry* e = Find(key);
  if (e == nullptr) return std::nullopt;
  e->used = true;
  if (e->value.IsNull()) {
    reader_->Report(e->key_node, PathOf(key), "a value is required");
    return std::nullopt;
  }
  return ReadScalar(*reader_, e->value, PathOf(key));
}

std::optional<std::string> ConfigMap::String(std::string_view key) {
  auto v = Scalar(key);
  if (!v) return std::nullopt;
  return std::move(v->text);
}

std::optional<bool> ConfigMap::Bool(std::string_view key) {
  auto v = Scalar(key);
  if (!v) return std::nullopt;
  if (v->text == "true") return true;
  if (v->text == "false") return false;
  Report(key, Shown(*v) + " is not true or false");
  return std::nullopt;
}

std::optional<std::int64_t> ConfigMap::Int(std::string_view key, std::int64_t min,
                                           std::int64_t max) {
  auto v = Scalar(key);
  if (!v) return std::nullopt;
  std::int64_t n = 0;
  auto [p, ec] = std::from_chars(v->text.data(), v->text.data() + v->text.size(), n);
  if (ec != std::errc() || p != v->text.data() + v->text.size() || v->text.empty()) {
    Report(key, Shown(*v) + " is not a whole number");
    return std::nullopt;
  }
  if (n < min || n > max) {
    Report(key, Shown(*v) + " is out of range; use " + std::to_string(min) + " to " +
                    std::to_string(max));
    return std::nullopt;
  }
  return n;
}

std::optional<core::Duration> ConfigMap::Duration(std::string_view key) {
  auto v = Scalar(key);
  if (!v) return std::nullopt;
  auto d = ParseDuration(v->text);
  if (!d) {
    Report(key, v->from_env ? "the value from the environment is not a duration (like 30s, 5m)"
                            : d.error());
    return std::nullopt;
  }
  return *d;
}

std::optional<std::uint64_t> ConfigMap::Size(std::string_view key) {
  auto v = Scalar(key);
  if (!v) return std::nullopt;
  auto s = ParseSize(v->text);
  if (!s) {
    Report(key,
           v->from_env ? "the value from the environment is not a size (like 16KiB)" : s.error());
    return std::nullopt;
  }
  return *s;
}

std::optional<double> ConfigMap::Percent(std::string_view key) {
  auto v = Scalar(key);
  if (!v) return std::nullopt;
  auto p = ParsePercent(v->text);
  if (!p) {
    Report(key,
           v->from_env ? "the value from the environment is not a percent (like 1%)" : p.error());
    return std::nullopt;
  }
  return *p;
}

std::optional<std::vector<std::string>> ConfigMap::StringList(std::string_view key) {
  Entry* e = Find(key);
  if (e == nullptr) return std::nullopt;
  e->used = true;
  if (!e->value.IsSequence()) {
    reader_->Report(e->value, PathOf(key), "expected a list, like [a, b]");
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool ok = true;
  std::size_t i = 0;
  for (const YAML::Node& item : e->value) {
    auto v = ReadScalar(*reader_, item, PathOf(key) + "[" + std::to_string(i++) + "]");
    if (v) {
      out.push_back(std::move(v->text));
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<ConfigMap> ConfigMap::Map(std::string_view key) {
  Entry* e = Find(key);
  if (e == nullptr) return std::nullopt;
  e->used = true;
  if (!e->value.IsMap()) {
    reader_->Report(e->value.IsNull() ? e->key_node : e->value, PathOf(key),
                    "expected a mapping of keys to values");
    return std::nullopt;
  }
  return ConfigMap(*reader_, e->value, PathOf(key));
}

std::vector<std::pair<YAML::Node, std::string>> ConfigMap::List(std::string_view key) {
  std::vector<std::pair<YAML::Node, std::string>> out;
  Entry* e = Find(key);
  if (e == nullptr) return out;
  e->used = true;
  if (!e->value.IsSequence()) {
    reader_->Report(e->value.IsNull() ? e->key_node : e->value, PathOf(key),
                    "expected a list of items, each starting with -");
    return out;
  }
  std::size_t i = 0;
  for (const YAML::Node& item : e->value) {
    out.emplace_back(item, PathOf(key) + "[" + std::to_string(i++) + "]");
  }
  return out;
}

void ConfigMap::Finish() {
  for (const Entry& e : entries_) {
    if (!e.used) {
      reader_->Report(e.key_node, PathOf(e.key), "unknown key; check its spelling and place");
    }
  }
}

}  // namespace obsgate::core
