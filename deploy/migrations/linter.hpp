#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace obsgate::deploy {

// One change a migration makes that old code may not survive (expand/contract: the code still
// running during a rollout must work on the new schema).
struct MigrationFinding {
  std::string file;
  int line = 0;          // 1-based, where the statement or op call starts
  std::string rule;      // drop_table, drop_column, rename_table, rename_column, change_type,
                         // add_not_null_without_default, set_not_null, index_not_concurrently
  std::string severity;  // "error" (stops a pipeline unless allowed) or "warning"
  std::string message;   // what and why, with a hint: "drops column users.email; ..."

  bool operator==(const MigrationFinding&) const = default;
};

enum class MigrationKind { kSql, kAlembic };

// Findings in one migration's text, in file order. Pure: no I/O, never throws, any bytes in.
std::vector<MigrationFinding> LintMigration(std::string_view text, std::string_view file,
                                            MigrationKind kind);
// Every .sql and .py file under the paths (files or directories, recursed, sorted), linted; an
// error names a path that cannot be read.
core::Result<std::vector<MigrationFinding>> LintMigrationPaths(
    const std::vector<std::string>& paths);

}  // namespace obsgate::deploy
