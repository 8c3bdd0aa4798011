// The migration linter: any bytes, read both as SQL and as an Alembic revision, never crash, and
// every finding points at a line inside the text, with a rule, a severity and a message.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "deploy/migrations/linter.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const long lines = std::count(text.begin(), text.end(), '\n') + 1;
  for (auto kind :
       {obsgate::deploy::MigrationKind::kSql, obsgate::deploy::MigrationKind::kAlembic}) {
    int previous = 0;
    for (const obsgate::deploy::MigrationFinding& f :
         obsgate::deploy::LintMigration(text, "fuzz", kind)) {
      if (f.line < 1 || f.line > lines || f.line < previous) std::abort();
      if (f.rule.empty() || f.message.empty() || f.file != "fuzz") std::abort();
      if (f.severity != (f.rule == "index_not_concurrently" ? "warning" : "error")) std::abort();
      previous = f.line;
    }
  }
  return 0;
}
