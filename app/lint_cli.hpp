#pragma once

#include <string>
#include <vector>

namespace obsgate::app {

extern const char* const kLintMigrationsHelp;

// obsgate lint-migrations [--json] PATH...: 0 clean or warnings only, 1 an error finding, 2 bad
// usage or a path that cannot be read.
int LintMigrationsCommand(const std::vector<std::string>& args);

}  // namespace obsgate::app
