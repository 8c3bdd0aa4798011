#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <regex>
#include <string>

#include "tests/support/http_client.hpp"
#include "tests/support/process.hpp"

namespace obsgate::testing {

// The obsgate binary running as a child process on a port of its choosing.
struct GatewayProcess {
  std::unique_ptr<Process> process;
  std::uint16_t port = 0;

  // Starts `obsgate run --config FILE` in the file's directory (so its data/ goes there) and
  // waits for its "obsgate started" line.
  static GatewayProcess Start(const std::string& config_path,
                              const std::vector<std::string>& env = {}) {
    GatewayProcess g;
    std::string dir = std::filesystem::absolute(config_path).parent_path().string();
    g.process = Process::Start(
        {OBSGATE_BINARY, "run", "--config", std::filesystem::absolute(config_path).string()}, env,
        {}, dir);
    EXPECT_TRUE(g.process->WaitForOutput("\"msg\":\"obsgate started\"", std::chrono::seconds(30)))
        << g.process->Output();
    std::smatch m;
    std::string out = g.process->Output();
    // Test-only parsing of our own log line; std::regex is fine off the data path.
    if (std::regex_search(out, m, std::regex("\"listen\":\"[^\"]*:([0-9]+)\""))) {
      g.port = static_cast<std::uint16_t>(std::stoi(m[1]));
    }
    EXPECT_NE(g.port, 0) << out;
    return g;
  }
};

}  // namespace obsgate::testing
