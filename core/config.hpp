#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config_reader.hpp"
#include "core/units.hpp"

namespace obsgate::core {

struct ServerConfig {
  std::string host = "127.0.0.1";
  std::uint16_t port = 9464;
  int threads = 2;
  std::uint64_t max_header_bytes = 16 * 1024;
  std::uint64_t max_body_bytes = 16 * 1024 * 1024;
  // A request must arrive whole within read_timeout of its first byte (slow clients are cut off).
  Duration read_timeout = std::chrono::seconds(30);
  // A kept-alive connection with no request in flight is closed after idle_timeout.
  Duration idle_timeout = std::chrono::seconds(120);
  // On SIGTERM, requests in flight get this long to finish.
  Duration shutdown_timeout = std::chrono::seconds(10);

  bool operator==(const ServerConfig&) const = default;
};

// How counts are kept per series (rules::WindowStore).
struct WindowsConfig {
  Duration resolution = std::chrono::seconds(1);
  Duration horizon = std::chrono::hours(1);  // the longest window a rule may use
  std::uint64_t max_series = 200'000;
  Duration idle_series_ttl = std::chrono::hours(1);

  bool operator==(const WindowsConfig&) const = default;
};

// The whole configuration, validated. Later components add their sections here.
struct Config {
  std::string file;  // where it was read from; "<embedded default>" for the built-in one
  ServerConfig server;
  WindowsConfig windows;
};

struct ConfigLoad {
  std::optional<Config> config;  // set only when there are no problems
  std::vector<ConfigProblem> problems;
};

ConfigLoad ParseConfig(std::string_view yaml, std::string file, const Env& env);
ConfigLoad LoadConfigFile(const std::string& path, const Env& env);

// "host:port", "[v6]:port" or ":port" (all interfaces).
Result<std::pair<std::string, std::uint16_t>> ParseListenAddress(std::string_view text);

}  // namespace obsgate::core
