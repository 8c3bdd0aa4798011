#pragma once

#include <string>
#include <vector>

namespace obsgate::app {

extern const char* const kDemoHelp;

// obsgate demo [--follow] [--speed N]: a bad release rolled back, start to finish, in this
// process alone: the gateway, a traffic generator, a simulated cluster and a simulated Slack.
int DemoCommand(const std::vector<std::string>& args);

}  // namespace obsgate::app
