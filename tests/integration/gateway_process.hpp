#pragma once

#include <gtest/gtest.h>

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

  // Starts `obsgate run --config FILE` and waits for its "obsgate started" line.
  static GatewayProcess Start(const std::string& config_path,
                              const std::vector<std::string>& env = {}) {
    GatewayProcess g;
    g.process = Process::Start({OBSGATE_BINARY, "run", "--config", config_path}, env);
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
