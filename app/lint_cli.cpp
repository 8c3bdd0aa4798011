#include "app/lint_cli.hpp"

#include <iostream>

#include "core/json.hpp"
#include "deploy/migrations/linter.hpp"

namespace obsgate::app {

const char* const kLintMigrationsHelp =
    "usage: obsgate lint-migrations [--json] PATH...\n\n"
    "Reads SQL files (.sql) and Alembic revision scripts (.py; only upgrade() counts) under each\n"
    "PATH (files or directories, recursed) and prints every change the release still running\n"
    "during a rollout may not survive, as FILE:LINE: RULE: MESSAGE:\n\n"
    "  drop_table, drop_column          dropping a table or a column\n"
    "  rename_table, rename_column      renaming a table or a column\n"
    "  change_type                      changing a column's type\n"
    "  add_not_null_without_default     adding a NOT NULL column without a default\n"
    "  set_not_null                     SET NOT NULL (reversing an earlier DROP NOT NULL)\n"
    "  index_not_concurrently           CREATE INDEX without CONCURRENTLY (a warning)\n\n"
    "  --json   one JSON object: the counts of errors and warnings, and the findings\n\n"
    "Exit status: 0 nothing found or warnings only; 1 at least one error; 2 bad usage or a path\n"
    "that cannot be read.\n";

int LintMigrationsCommand(const std::vector<std::string>& args) {
  bool json = false;
  std::vector<std::string> paths;
  bool options = true;
  for (const std::string& a : args) {
    if (options && a == "--") {
      options = false;
    } else if (options && a == "--json") {
      json = true;
    } else if (options && a.size() > 1 && a[0] == '-') {
      std::cerr << "obsgate lint-migrations: unknown option " << a
                << "; see obsgate lint-migrations --help\n";
      return 2;
    } else {
      paths.push_back(a);
    }
  }
  if (paths.empty()) {
    std::cerr << "usage: obsgate lint-migrations [--json] PATH...\n";
    return 2;
  }
  core::Result<std::vector<deploy::MigrationFinding>> found = deploy::LintMigrationPaths(paths);
  if (!found) {
    std::cerr << "obsgate lint-migrations: " << found.error() << "\n";
    return 2;
  }
  std::size_t errors = 0;
  for (const deploy::MigrationFinding& f : *found) errors += f.severity == "error";
  const std::size_t warnings = found->size() - errors;
  if (json) {
    std::string out = "{\"errors\":" + std::to_string(errors) +
                      ",\"warnings\":" + std::to_string(warnings) + ",\"findings\":[";
    for (std::size_t i = 0; i < found->size(); ++i) {
      const deploy::MigrationFinding& f = (*found)[i];
      out += (i ? "," : "");
      out += "{\"file\":" + core::JsonQuote(f.file) + ",\"line\":" + std::to_string(f.line) +
             ",\"rule\":" + core::JsonQuote(f.rule) +
             ",\"severity\":" + core::JsonQuote(f.severity) +
             ",\"message\":" + core::JsonQuote(f.message) + "}";
    }
    std::cout << out << "]}\n";
  } else {
    for (const deploy::MigrationFinding& f : *found) {
      std::cout << f.file << ":" << f.line << ": " << f.rule << ": " << f.message << "\n";
    }
    if (found->empty()) {
      std::cout << "no destructive or incompatible changes found\n";
    } else {
      std::cout << errors << (errors == 1 ? " error, " : " errors, ") << warnings
                << (warnings == 1 ? " warning" : " warnings") << "\n";
    }
  }
  return errors > 0 ? 1 : 0;
}

}  // namespace obsgate::app
