#pragma once

#include <cstddef>
#include <functional>
#include <string>

namespace obsgate::core {

// The unit everything is counted by: one version of one deployment in one namespace.
struct SeriesKey {
  std::string ns;
  std::string deployment;
  std::string version;

  bool operator==(const SeriesKey&) const = default;
};

// Where records go when nothing says whose they are: counted, never dropped.
inline constexpr const char* kUnknown = "unknown";

struct SeriesKeyHash {
  std::size_t operator()(const SeriesKey& k) const noexcept {
    std::size_t h = std::hash<std::string>()(k.ns);
    h = h * 1099511628211ULL ^ std::hash<std::string>()(k.deployment);
    return h * 1099511628211ULL ^ std::hash<std::string>()(k.version);
  }
};

}  // namespace obsgate::core
