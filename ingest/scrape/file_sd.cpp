#include "ingest/scrape/file_sd.hpp"

#include <yaml-cpp/yaml.h>

#include <exception>

namespace obsgate::ingest {
namespace {

core::Result<std::vector<core::ScrapeTargetConfig>> ReadGroups(const YAML::Node& root,
                                                               std::string_view scheme,
                                                               std::string_view metrics_path) {
  std::vector<core::ScrapeTargetConfig> out;
  if (!root || root.IsNull()) return out;  // an empty file: no targets yet
  if (!root.IsSequence()) {
    return core::Error{"expected a list of {targets: [host:port], labels: {...}} groups"};
  }
  for (std::size_t g = 0; g < root.size(); ++g) {
    const YAML::Node group = root[g];
    std::string where = "group " + std::to_string(g + 1);
    if (!group.IsMap()) return core::Error{where + ": expected a mapping with targets:"};
    for (const auto& kv : group) {
      std::string key = kv.first.as<std::string>();
      if (key != "targets" && key != "labels") {
        return core::Error{where + ": unknown key \"" + key + "\"; a group has targets and labels"};
      }
    }
    std::string group_scheme(scheme), group_path(metrics_path);
    std::map<std::string, std::string> labels;
    if (const YAML::Node l = group["labels"]; l && !l.IsNull()) {
      if (!l.IsMap()) return core::Error{where + ": labels must be a mapping of strings"};
      for (const auto& kv : l) {
        if (!kv.second.IsScalar()) {
          return core::Error{where + ": the label " + kv.first.as<std::string>() +
                             " must be a string"};
        }
        std::string name = kv.first.as<std::string>(), value = kv.second.as<std::string>();
        if (name == "__scheme__") {
          if (value != "http" && value != "https") {
            return core::Error{where + ": __scheme__ \"" + value + "\" is not http or https"};
          }
          group_scheme = value;
        } else if (name == "__metrics_path__") {
          if (!value.starts_with("/")) {
            return core::Error{where + ": __metrics_path__ must start with '/'"};
          }
          group_path = value;
        } else if (!name.starts_with("__")) {
          labels[name] = value;
        }
      }
    }
    const YAML::Node targets = group["targets"];
    if (!targets || !targets.IsSequence()) {
      return core::Error{where + ": expected targets: [\"host:port\", ...]"};
    }
    for (const YAML::Node& t : targets) {
      if (!t.IsScalar() || t.Scalar().empty()) {
        return core::Error{where + ": a target is a \"host:port\" string"};
      }
      const std::string& address = t.Scalar();
      if (address.find('/') != std::string::npos) {
        return core::Error{where + ": the target \"" + address +
                           "\" is not host:port; give the scheme and path with __scheme__ and "
                           "__metrics_path__ labels"};
      }
      out.push_back({group_scheme + "://" + address + group_path, labels});
    }
  }
  return out;
}

}  // namespace

core::Result<std::vector<core::ScrapeTargetConfig>> ParseFileSd(std::string_view text,
                                                                std::string_view scheme,
                                                                std::string_view metrics_path) {
  // yaml-cpp reports bad input by throwing; nothing of it escapes this function. JSON is read by
  // the same parser: file_sd's JSON is YAML flow syntax.
  try {
    return ReadGroups(YAML::Load(std::string(text)), scheme, metrics_path);
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null()) return core::Error{e.msg};
    return core::Error{"line " + std::to_string(e.mark.line + 1) + ": " + e.msg};
  } catch (const std::exception& e) {
    return core::Error{e.what()};
  }
}

}  // namespace obsgate::ingest
