#pragma once

#include <string>
#include <vector>

namespace obsgate::app {

extern const char* const kRollbackHelp;
extern const char* const kRevisionsHelp;

// obsgate rollback NAMESPACE/DEPLOYMENT [--to-revision N] [--dry-run] [--config FILE]
int RollbackCommand(const std::vector<std::string>& args);
// obsgate revisions NAMESPACE/DEPLOYMENT [--config FILE]
int RevisionsCommand(const std::vector<std::string>& args);

}  // namespace obsgate::app
