#pragma once

#include <string>
#include <vector>

namespace obsgate::app {

extern const char* const kDeployHelp;
extern const char* const kApproveHelp;
extern const char* const kAbortHelp;
extern const char* const kRunsHelp;

// obsgate deploy PIPELINE --tag TAG [--url URL]: starts a run on the running gateway.
int DeployCommand(const std::vector<std::string>& args);
// obsgate approve RUN_ID [--url URL]
int ApproveCommand(const std::vector<std::string>& args);
// obsgate abort RUN_ID [--url URL]
int AbortCommand(const std::vector<std::string>& args);
// obsgate runs [RUN_ID] [--url URL]
int RunsCommand(const std::vector<std::string>& args);

}  // namespace obsgate::app
