#include "core/config.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>

namespace obsgate::core {
namespace {

void ReadServer(ConfigMap& m, ServerConfig& s) {
  if (auto v = m.Int("threads", 1, 64)) s.threads = static_cast<int>(*v);
  if (auto v = m.Size("max_header_size")) {
    if (*v < 1024) {
      m.Report("max_header_size", "must be at least 1KiB");
    } else {
      s.max_header_bytes = *v;
    }
  }
  if (auto v = m.Size("max_body_size")) {
    if (*v == 0) {
      m.Report("max_body_size", "must be more than 0");
    } else {
      s.max_body_bytes = *v;
    }
  }
  auto positive = [&](std::string_view key, Duration& out) {
    if (auto v = m.Duration(key)) {
      if (v->count() <= 0) {
        m.Report(key, "must be longer than 0s");
      } else {
        out = *v;
      }
    }
  };
  positive("read_timeout", s.read_timeout);
  positive("idle_timeout", s.idle_timeout);
  positive("shutdown_timeout", s.shutdown_timeout);
  m.Finish();
}

void ReadWindows(ConfigMap& m, WindowsConfig& w) {
  auto positive = [&](std::string_view key, Duration& out) {
    if (auto v = m.Duration(key)) {
      if (v->count() <= 0) {
        m.Report(key, "must be longer than 0s");
      } else {
        out = *v;
      }
    }
  };
  positive("resolution", w.resolution);
  positive("horizon", w.horizon);
  positive("idle_series_ttl", w.idle_series_ttl);
  if (auto v = m.Int("max_series", 1, 100'000'000)) w.max_series = static_cast<std::uint64_t>(*v);
  if (w.horizon < w.resolution) m.Report("horizon", "must be at least the resolution");
  if (w.horizon.count() / w.resolution.count() > 7 * 86400) {
    m.Report("horizon", "holds more than 604800 resolutions; use a coarser resolution");
  }
  m.Finish();
}

}  // namespace

Result<std::pair<std::string, std::uint16_t>> ParseListenAddress(std::string_view text) {
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return Error{"\"" + std::string(text) + "\" is not an address; write [::1]:9464"};
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return Error{"\"" + std::string(text) + "\" has no port; write host:port, like 127.0.0.1:9464"};
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return Error{"IPv6 addresses go in brackets, like [::1]:9464"};
    }
  }
  unsigned value = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || p != port.data() + port.size() || value > 65535) {
    return Error{"port \"" + std::string(port) + "\" is not a number from 0 to 65535"};
  }
  return std::pair{host.empty() ? std::string("0.0.0.0") : std::string(host),
                   static_cast<std::uint16_t>(value)};
}

ConfigLoad ParseConfig(std::string_view yaml, std::string file, const Env& env) {
  ConfigReader reader(file, env);
  ConfigLoad load;
  Config config;
  config.file = file;
  if (auto root = reader.Parse(yaml)) {
    ConfigMap top(reader, *root, "");
    if (auto listen = top.Scalar("listen")) {
      auto addr = ParseListenAddress(listen->text);
      if (addr) {
        config.server.host = addr->first;
        config.server.port = addr->second;
      } else {
        top.Report("listen", listen->from_env ? "the value from the environment is not host:port"
                                              : addr.error());
      }
    }
    if (auto server = top.Map("server")) ReadServer(*server, config.server);
    if (auto windows = top.Map("windows")) ReadWindows(*windows, config.windows);
    top.Finish();
  }
  load.problems = reader.problems();
  // In file order, as a person reads them, whatever order the schema walked the keys in.
  std::stable_sort(load.problems.begin(), load.problems.end(),
                   [](const ConfigProblem& a, const ConfigProblem& b) {
                     return std::pair(a.line, a.column) < std::pair(b.line, b.column);
                   });
  if (load.problems.empty()) load.config = std::move(config);
  return load;
}

ConfigLoad LoadConfigFile(const std::string& path, const Env& env) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ConfigLoad load;
    load.problems.push_back(
        ConfigProblem{path, 0, 0, "", "cannot read the file; check the path and its permissions"});
    return load;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return ParseConfig(text.str(), path, env);
}

}  // namespace obsgate::core
