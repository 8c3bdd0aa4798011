#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/units.hpp"

namespace obsgate::core {

// One thing wrong with a configuration file, with where it is.
struct ConfigProblem {
  std::string file;
  int line = 0;     // 1-based; 0 when the problem has no place in the file
  int column = 0;   // 1-based
  std::string key;  // path such as "server.read_timeout" or "sources[1].tail"
  std::string message;

  // "file:line:column: key: message"
  std::string ToString() const;
};

// Looks up an environment variable; injected so tests need not touch the process environment.
using Env = std::function<std::optional<std::string>(const std::string& name)>;
Env ProcessEnv();

// Expands ${NAME} and ${NAME:-default} in s; "$$" is a literal "$". On a missing variable or a
// malformed reference, returns the error and names the variable, never a value.
Result<std::string> ExpandEnv(std::string_view s, const Env& env, bool* used_env = nullptr);

// Reads one YAML file against the schema that the caller walks with ConfigMap, collecting every
// problem rather than stopping at the first. Not thread-safe; one per load.
class ConfigReader {
 public:
  ConfigReader(std::string file, Env env) : file_(std::move(file)), env_(std::move(env)) {}

  // The root mapping, or nullopt after reporting why the text is not a YAML mapping.
  std::optional<YAML::Node> Parse(std::string_view text);

  void Report(const YAML::Node& at, std::string key, std::string message);
  void ReportAt(int line, int column, std::string key, std::string message);

  const std::vector<ConfigProblem>& problems() const { return problems_; }
  const std::string& file() const { return file_; }
  const Env& env() const { return env_; }

 private:
  std::string file_;
  Env env_;
  std::vector<ConfigProblem> problems_;
};

class ConfigMap;

// A value in the file after ${ENV} expansion. Values that came from the environment are never
// quoted back in messages, since they may be secrets.
struct ConfigValue {
  std::string text;
  bool from_env = false;
};

// One mapping being read. Each typed getter reports a problem and returns nullopt when the key
// is present but wrong; Finish() reports every key nobody asked for.
class ConfigMap {
 public:
  ConfigMap(ConfigReader& reader, const YAML::Node& node, std::string path);

  bool Has(std::string_view key) const;
  std::optional<ConfigValue> Scalar(std::string_view key);
  std::optional<std::string> String(std::string_view key);
  std::optional<bool> Bool(std::string_view key);
  std::optional<std::int64_t> Int(std::string_view key, std::int64_t min, std::int64_t max);
  std::optional<core::Duration> Duration(std::string_view key);
  std::optional<std::uint64_t> Size(std::string_view key);
  std::optional<double> Percent(std::string_view key);
  std::optional<std::vector<std::string>> StringList(std::string_view key);
  // A nested mapping; nullopt when absent or not a mapping (then reported).
  std::optional<ConfigMap> Map(std::string_view key);
  // A sequence's items with their key paths; empty when absent or not a sequence (reported).
  std::vector<std::pair<YAML::Node, std::string>> List(std::string_view key);
  // Every key of the mapping, for free-form maps such as labels.
  std::vector<std::string> Keys() const;

  void Report(std::string_view key, std::string message);
  void Finish();

  const std::string& path() const { return path_; }
  const YAML::Node& node() const { return node_; }
  ConfigReader& reader() { return *reader_; }

 private:
  struct Entry {
    std::string key;
    YAML::Node key_node;
    YAML::Node value;
    bool used = false;
  };
  Entry* Find(std::string_view key);
  const Entry* Find(std::string_view key) const;
  std::string PathOf(std::string_view key) const;
  // Describes a value for a message without revealing what came from the environment.
  static std::string Shown(const ConfigValue& v);

  ConfigReader* reader_;
  YAML::Node node_;
  std::string path_;
  std::vector<Entry> entries_;
};

// Reads a scalar list item or any other node as an expanded scalar; reports when it is not one.
std::optional<ConfigValue> ReadScalar(ConfigReader& reader, const YAML::Node& node,
                                      const std::string& path);

}  // namespace obsgate::core
