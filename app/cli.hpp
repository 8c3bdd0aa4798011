#pragma once

#include <string>
#include <vector>

namespace obsgate::app {

// Runs `obsgate ARGS...` and returns the process exit code.
int RunCli(const std::vector<std::string>& args);

}  // namespace obsgate::app
