#pragma once

#include <string>
#include <vector>

namespace obsgate::app {

// `obsgate analyze [--format docker|cri|raw|auto] [--window 5m] [--json] FILE...|-`: the log
// pipeline over files, offline, for post-mortems. Returns the exit code.
int Analyze(std::vector<std::string> args);
extern const char* const kAnalyzeHelp;

}  // namespace obsgate::app
