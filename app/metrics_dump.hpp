#pragma once

#include <string>
#include <vector>

namespace obsgate::app {

// `obsgate metrics-dump URL|FILE [--json]`: one exposition fetched or read, printed family by
// family with its sample count, like prom2json. Returns the exit code.
int MetricsDump(std::vector<std::string> args);
extern const char* const kMetricsDumpHelp;

}  // namespace obsgate::app
