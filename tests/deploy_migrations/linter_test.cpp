// The migration linter: every rule in several forms, at the exact file and line, over a corpus of
// SQL files and Alembic revisions; safe migrations pass; and obsgate lint-migrations as a user
// runs it.
#include "deploy/migrations/linter.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/support/process.hpp"

namespace obsgate::deploy {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
namespace fs = std::filesystem;

const std::string kCorpus = std::string(OBSGATE_SOURCE_DIR) + "/tests/deploy_migrations/corpus";

// "file:line: rule" with the file relative to the corpus, so expectations read like the output.
std::vector<std::string> Brief(const std::vector<MigrationFinding>& findings) {
  std::vector<std::string> out;
  for (const MigrationFinding& f : findings) {
    std::string file = f.file;
    if (file.rfind(kCorpus + "/", 0) == 0) file = file.substr(kCorpus.size() + 1);
    out.push_back(file + ":" + std::to_string(f.line) + ": " + f.rule);
  }
  return out;
}

std::vector<MigrationFinding> Sql(std::string_view text) {
  return LintMigration(text, "m.sql", MigrationKind::kSql);
}
std::vector<MigrationFinding> Py(std::string_view text) {
  return LintMigration(text, "m.py", MigrationKind::kAlembic);
}

// Every finding in the unsafe corpus, in the order obsgate prints them: path, then line.
const std::vector<std::string> kUnsafe = {
    "unsafe/alembic/versions/a1_drop_and_rename.py:18: drop_table",
    "unsafe/alembic/versions/a1_drop_and_rename.py:19: drop_column",
    "unsafe/alembic/versions/a1_drop_and_rename.py:23: rename_table",
    "unsafe/alembic/versions/a1_drop_and_rename.py:24: drop_column",
    "unsafe/alembic/versions/a1_drop_and_rename.py:28: rename_column",
    "unsafe/alembic/versions/a1_drop_and_rename.py:32: drop_column",
    "unsafe/alembic/versions/a1_drop_and_rename.py:33: change_type",
    "unsafe/alembic/versions/a2_types_and_not_null.py:14: change_type",
    "unsafe/alembic/versions/a2_types_and_not_null.py:17: set_not_null",
    "unsafe/alembic/versions/a2_types_and_not_null.py:19: add_not_null_without_default",
    "unsafe/alembic/versions/a2_types_and_not_null.py:20: add_not_null_without_default",
    "unsafe/alembic/versions/a3_execute_and_indexes.py:14: drop_column",
    "unsafe/alembic/versions/a3_execute_and_indexes.py:20: change_type",
    "unsafe/alembic/versions/a3_execute_and_indexes.py:24: index_not_concurrently",
    "unsafe/alembic/versions/a3_execute_and_indexes.py:26: index_not_concurrently",
    "unsafe/sql/001_drops.sql:10: drop_table",
    "unsafe/sql/001_drops.sql:11: drop_table",
    "unsafe/sql/001_drops.sql:11: drop_table",
    "unsafe/sql/001_drops.sql:14: drop_column",
    "unsafe/sql/001_drops.sql:16: drop_column",
    "unsafe/sql/001_drops.sql:19: drop_column",
    "unsafe/sql/001_drops.sql:28: drop_column",
    "unsafe/sql/002_renames_and_types.sql:1: rename_table",
    "unsafe/sql/002_renames_and_types.sql:2: rename_column",
    "unsafe/sql/002_renames_and_types.sql:3: rename_column",
    "unsafe/sql/002_renames_and_types.sql:5: rename_table",
    "unsafe/sql/002_renames_and_types.sql:8: change_type",
    "unsafe/sql/002_renames_and_types.sql:9: change_type",
    "unsafe/sql/002_renames_and_types.sql:12: rename_table",
    "unsafe/sql/002_renames_and_types.sql:13: change_type",
    "unsafe/sql/003_not_null.sql:1: add_not_null_without_default",
    "unsafe/sql/003_not_null.sql:6: add_not_null_without_default",
    "unsafe/sql/003_not_null.sql:7: set_not_null",
    "unsafe/sql/003_not_null.sql:11: drop_column",
    "unsafe/sql/004_indexes.sql:1: index_not_concurrently",
    "unsafe/sql/004_indexes.sql:2: index_not_concurrently",
    "unsafe/sql/004_indexes.sql:6: index_not_concurrently",
};

TEST(MigrationCorpus, UnsafeMigrationsAreFlaggedAtTheirFileLineAndRule) {
  auto found = LintMigrationPaths({kCorpus + "/unsafe"});
  ASSERT_TRUE(found.ok()) << found.error();
  EXPECT_THAT(Brief(*found), ElementsAreArray(kUnsafe));
}

TEST(MigrationCorpus, SafeMigrationsPass) {
  auto found = LintMigrationPaths({kCorpus + "/safe"});
  ASSERT_TRUE(found.ok()) << found.error();
  EXPECT_THAT(Brief(*found), IsEmpty());
}

TEST(MigrationCorpus, OnlyIndexesWithoutConcurrentlyAreWarnings) {
  auto found = LintMigrationPaths({kCorpus});
  ASSERT_TRUE(found.ok()) << found.error();
  ASSERT_EQ(found->size(), kUnsafe.size());
  for (const MigrationFinding& f : *found) {
    EXPECT_EQ(f.severity, f.rule == "index_not_concurrently" ? "warning" : "error") << f.rule;
  }
}

TEST(MigrationMessages, NameTheTableAndColumnAndEndWithAHint) {
  auto found = LintMigrationPaths({kCorpus + "/unsafe/sql/001_drops.sql"});
  ASSERT_TRUE(found.ok());
  ASSERT_EQ(found->size(), 7u);
  EXPECT_THAT((*found)[0].message, HasSubstr("drops table public.legacy_orders;"));
  EXPECT_THAT((*found)[1].message, HasSubstr("drops table \"Audit Log\";"));
  EXPECT_THAT((*found)[2].message, HasSubstr("drops table archive.events;"));
  EXPECT_THAT((*found)[3].message, HasSubstr("drops column users.email;"));
  EXPECT_THAT((*found)[4].message, HasSubstr("drops column shop.orders.coupon;"));
  EXPECT_THAT((*found)[5].message, HasSubstr("drops column shop.orders.\"Legacy Flag\";"));
  EXPECT_THAT((*found)[6].message, HasSubstr("drops column payments.card_number;"));
  for (const MigrationFinding& f : *found) {
    EXPECT_THAT(f.message, EndsWith("then drop it in a later release"));
  }

  auto renames = Sql("ALTER TABLE accounts RENAME COLUMN name TO full_name;");
  ASSERT_EQ(renames.size(), 1u);
  EXPECT_THAT(renames[0].message,
              AllOf(HasSubstr("renames column accounts.name to full_name"),
                    EndsWith("add the new column, deploy code that writes both, backfill, then "
                             "drop the old one in a later release")));
  auto types = Sql("ALTER TABLE t ALTER COLUMN c SET DATA TYPE numeric(10,2) USING c::numeric;");
  ASSERT_EQ(types.size(), 1u);
  EXPECT_THAT(types[0].message, HasSubstr("changes the type of t.c to numeric(10, 2);"));
  auto python_default =
      Py("def upgrade():\n"
         "    op.add_column('t', sa.Column('c', sa.Integer(), nullable=False, default=0))\n");
  ASSERT_EQ(python_default.size(), 1u);
  EXPECT_THAT(python_default[0].message,
              AllOf(HasSubstr("adds column t.c NOT NULL without a default"),
                    HasSubstr("the database needs server_default="),
                    EndsWith("then set NOT NULL in a later release")));
  auto index = Py("def upgrade():\n    op.create_index('ix', 'users', ['email'])\n");
  ASSERT_EQ(index.size(), 1u);
  EXPECT_THAT(index[0].message, AllOf(HasSubstr("creates index ix on users without CONCURRENTLY"),
                                      HasSubstr("postgresql_concurrently=True")));
}

TEST(SqlTokenizer, KeywordsInCommentsStringsAndBodiesAreNotStatements) {
  EXPECT_THAT(Sql("-- DROP TABLE a;\n"
                  "/* DROP TABLE b; /* nested */ DROP TABLE c; */\n"
                  "SELECT 'DROP TABLE d; '' DROP TABLE e';\n"
                  "SELECT \"DROP TABLE f;\" FROM g;\n"
                  "SELECT $$DROP TABLE h;$$, $x$ $$ DROP TABLE i; $x$;\n"
                  "CREATE FUNCTION f() RETURNS void AS $$ BEGIN DROP TABLE j; END $$ LANGUAGE "
                  "plpgsql;\n"
                  "SELECT E'\\' DROP TABLE k;';\n"),
              IsEmpty());
}

TEST(SqlTokenizer, StatementsSplitOnSemicolonsOutsideQuotes) {
  EXPECT_THAT(Brief(Sql("select 1; DrOp TaBlE a; select ';'; drop table \"b;c\"\n;\n"
                        "SELECT $1; ALTER TABLE t DROP COLUMN x")),
              ElementsAre("m.sql:1: drop_table", "m.sql:1: drop_table", "m.sql:3: drop_column"));
  auto quoted = Sql("DROP TABLE \"We\"\"ird\"");
  ASSERT_EQ(quoted.size(), 1u);
  EXPECT_THAT(quoted[0].message, HasSubstr("drops table \"We\"\"ird\";"));
}

TEST(SqlStatements, MultiLineStatementsReportWhereTheOffendingClauseStarts) {
  EXPECT_THAT(Brief(Sql("\n"
                        "ALTER TABLE users\n"
                        "  ADD COLUMN a int NULL,\n"
                        "  ADD COLUMN b numeric(10,\n"
                        "     2) NOT NULL,\n"
                        "  RENAME COLUMN c TO d;\n"
                        "DROP\n"
                        "  TABLE x;\n")),
              ElementsAre("m.sql:4: add_not_null_without_default", "m.sql:6: rename_column",
                          "m.sql:7: drop_table"));
}

TEST(SqlStatements, WhatIsNotFlagged) {
  EXPECT_THAT(Sql("ALTER TABLE t DROP CONSTRAINT c, ADD CONSTRAINT d CHECK (x IS NOT NULL);\n"
                  "ALTER TABLE t ADD PRIMARY KEY (id), ALTER COLUMN c DROP NOT NULL;\n"
                  "ALTER TABLE t ALTER COLUMN c SET DEFAULT 0, ALTER c DROP DEFAULT;\n"
                  "ALTER TABLE t RENAME CONSTRAINT a TO b;\n"
                  "ALTER TABLE t ADD COLUMN id serial PRIMARY KEY;\n"
                  "ALTER TABLE t ADD COLUMN n int NOT NULL DEFAULT 0;\n"
                  "DROP INDEX CONCURRENTLY ix; DROP VIEW v; TRUNCATE logs;\n"
                  "CREATE INDEX CONCURRENTLY ix ON t (c);\n"
                  "CREATE TABLE n (id int); CREATE INDEX n_id ON public.n (id);\n"
                  "ALTER TABLE n ADD COLUMN m int NOT NULL;\n"
                  "BEGIN; COMMIT;\n"),
              IsEmpty());
}

TEST(SqlStatements, DoBlocksAreReadLikeTheFile) {
  EXPECT_THAT(Brief(Sql("DO $$\n"
                        "BEGIN\n"
                        "  DROP TABLE old_a;\n"
                        "  ALTER TABLE b\n"
                        "    ALTER COLUMN c TYPE text;\n"
                        "END $$;\n"
                        "DO LANGUAGE plpgsql 'BEGIN DROP TABLE quoted; END';\n")),
              ElementsAre("m.sql:3: drop_table", "m.sql:5: change_type", "m.sql:7: drop_table"));
}

TEST(SqlStatements, MySqlFormsToo) {
  EXPECT_THAT(Brief(Sql("ALTER TABLE t CHANGE COLUMN a b int;\n"
                        "ALTER TABLE t CHANGE c c bigint NOT NULL;\n"
                        "ALTER TABLE t MODIFY d varchar(20);\n"
                        "RENAME TABLE x TO y, z TO w;\n"
                        "ALTER TABLE t DROP INDEX ix, DROP PRIMARY KEY, DROP FOREIGN KEY fk;\n")),
              ElementsAre("m.sql:1: rename_column", "m.sql:2: change_type", "m.sql:3: change_type",
                          "m.sql:4: rename_table", "m.sql:4: rename_table"));
}

TEST(Alembic, OnlyUpgradeCounts) {
  EXPECT_THAT(Brief(Py("from alembic import op\n"
                       "def downgrade():\n"
                       "    op.drop_table('a')\n"
                       "def upgrade(): op.drop_table('inline')\n"
                       "def helper():\n"
                       "    op.drop_table('b')\n"
                       "\n"
                       "def upgrade_engine1():\n"
                       "    if True:\n"
                       "        op.drop_column('t',\n"
                       "            'c')\n"
                       "    x = '''\n"
                       "op.drop_table('in_a_string')\n"
                       "'''\n"
                       "# op.drop_table('comment')\n"
                       "def downgrade_engine1():\n"
                       "    op.drop_table('c')\n"
                       "class Revision:\n"
                       "    def upgrade(self):\n"
                       "        op.rename_table('m', 'n')\n"
                       "    def downgrade(self):\n"
                       "        op.drop_table('n')\n")),
              ElementsAre("m.py:4: drop_table", "m.py:10: drop_column", "m.py:20: rename_table"));
}

TEST(Alembic, ExecuteLintsItsSqlAtTheLinesOfTheString) {
  EXPECT_THAT(
      Brief(Py("def upgrade():\n"
               "    op.execute(r\"DROP TABLE a\")\n"
               "    op.execute(sqltext=sa.text('ALTER TABLE b '\n"
               "                               'DROP COLUMN c'))\n"
               "    op.execute(\"\"\"\n"
               "        -- DROP TABLE commented;\n"
               "        DROP TABLE\n"
               "          d;\n"
               "        \"\"\")\n"
               "    op.execute('ALTER TABLE e\\nDROP COLUMN f; SELECT \\'DROP TABLE g\\'')\n"
               "    op.execute(f\"ALTER TABLE {table} DROP COLUMN h\")\n"
               "    op.execute(some_variable)\n")),
      ElementsAre("m.py:2: drop_table", "m.py:4: drop_column", "m.py:7: drop_table",
                  "m.py:10: drop_column", "m.py:11: drop_column"));
}

TEST(Alembic, BatchOperationsUseTheBatchTable) {
  auto found =
      Py("def upgrade():\n"
         "    with op.batch_alter_table('users', schema='app') as b:\n"
         "        b.drop_column('fax')\n"
         "        b.alter_column('name', new_column_name='full_name', type_=sa.String(200),\n"
         "                       nullable=False)\n"
         "        b.add_column(sa.Column('tenant', sa.Integer(), nullable=False))\n"
         "        b.create_index('ix_users_tenant', ['tenant'])\n"
         "        b.add_column(sa.Column('ok', sa.Integer(), nullable=False, server_default='0'))\n"
         "        other.drop_column('not_a_batch')\n");
  EXPECT_THAT(Brief(found),
              ElementsAre("m.py:3: drop_column", "m.py:4: rename_column", "m.py:4: change_type",
                          "m.py:5: set_not_null", "m.py:6: add_not_null_without_default",
                          "m.py:7: index_not_concurrently"));
  ASSERT_EQ(found.size(), 6u);
  EXPECT_THAT(found[0].message, HasSubstr("drops column app.users.fax;"));
  EXPECT_THAT(found[1].message, HasSubstr("renames column app.users.name to full_name;"));
  EXPECT_THAT(found[2].message, HasSubstr("to sa.String(200);"));
}

TEST(Alembic, PrimaryKeysAreNotNullAndIdentitiesFillThemselvesIn) {
  EXPECT_THAT(
      Brief(Py("def upgrade():\n"
               "    op.add_column('t', sa.Column('a', sa.Integer(), primary_key=True))\n"
               "    op.add_column('t', sa.Column('b', sa.Integer(), primary_key=True,\n"
               "                                 nullable=True))\n"
               "    op.add_column('t', Column('c', Integer, sa.Computed('a + 1'),\n"
               "                              nullable=False))\n"
               "    op.add_column('t', sa.Column('d', sa.Integer(), nullable=False,\n"
               "                                 server_default=None))\n")),
      ElementsAre("m.py:2: add_not_null_without_default", "m.py:7: add_not_null_without_default"));
}

// Findings stay on lines that exist, whatever the bytes: unterminated quotes, comments and
// brackets, CRLF, NULs.
TEST(Robustness, BrokenInputNeverCrashesAndLinesStayInTheText) {
  const std::vector<std::string> inputs = {
      "DROP TABLE a; '",
      "DROP TABLE a /*",
      "$$",
      "$a$ DROP TABLE",
      "ALTER TABLE",
      "ALTER TABLE t ADD",
      "E'\\",
      "DROP TABLE a,",
      "CREATE INDEX",
      "CREATE UNIQUE INDEX x",
      "DO $$",
      "ALTER TABLE t ALTER",
      "def upgrade():\n op.",
      "def upgrade():\n op.drop_table(",
      "def upgrade(\n",
      "def upgrade():\n op.execute(\"\"\"DROP TABLE a;\n\n",
      "def",
      "def upgrade():\r\n    op.drop_table('a')\r\n",
      std::string("DROP\0TABLE x;", 13),
      "def upgrade():\n    with op.batch_alter_table('t') as\n",
      ")))(((",
      "'\n'\n\"\n",
  };
  for (const std::string& in : inputs) {
    const int lines = static_cast<int>(std::count(in.begin(), in.end(), '\n')) + 1;
    for (MigrationKind kind : {MigrationKind::kSql, MigrationKind::kAlembic}) {
      for (const MigrationFinding& f : LintMigration(in, "x", kind)) {
        EXPECT_GE(f.line, 1) << in;
        EXPECT_LE(f.line, lines) << in;
      }
    }
  }
  EXPECT_THAT(Brief(Py("def upgrade():\r\n    op.drop_table('a')\r\n")),
              ElementsAre("m.py:2: drop_table"));
}

TEST(LintMigrationPaths, FilesAndDirectoriesInPathOrderNonMigrationsSkipped) {
  testing::TempDir dir;
  const fs::path root = dir.path();
  fs::create_directories(root / "b");
  auto write = [](const fs::path& p, const std::string& text) { std::ofstream(p) << text; };
  write(root / "b" / "2.sql", "DROP TABLE two;");
  write(root / "b" / "1.py", "def upgrade():\n    op.drop_table('one')\n");
  write(root / "a.SQL", "\n\nDROP TABLE a;");
  write(root / "notes.txt", "DROP TABLE notes;");
  auto found = LintMigrationPaths({(root / "b").string(), (root / "a.SQL").string(),
                                   (root / "notes.txt").string(), (root / "b" / "2.sql").string()});
  ASSERT_TRUE(found.ok()) << found.error();
  ASSERT_EQ(found->size(), 3u);
  EXPECT_EQ((*found)[0].file, (root / "a.SQL").string());
  EXPECT_EQ((*found)[0].line, 3);
  EXPECT_EQ((*found)[1].file, (root / "b" / "1.py").string());
  EXPECT_EQ((*found)[2].file, (root / "b" / "2.sql").string());  // once, though named twice

  auto missing = LintMigrationPaths({(root / "nope").string()});
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.error(), HasSubstr((root / "nope").string() + ": no such file"));
}

// ---------------------------------------------------------------------------------------------
// obsgate lint-migrations

testing::RunResult Lint(std::vector<std::string> args) {
  args.insert(args.begin(), {OBSGATE_BINARY, "lint-migrations"});
  return testing::RunCommand(args);
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(LintMigrationsCommand, ErrorsFailWithCompilerStyleLines) {
  testing::RunResult r = Lint({kCorpus + "/unsafe"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  std::vector<std::string> lines = Lines(r.output);
  ASSERT_EQ(lines.size(), kUnsafe.size() + 1) << r.output;
  for (std::size_t i = 0; i < kUnsafe.size(); ++i) {
    EXPECT_THAT(lines[i], ::testing::StartsWith(kCorpus + "/" + kUnsafe[i] + ": ")) << i;
  }
  EXPECT_EQ(lines.back(), "32 errors, 5 warnings");
  EXPECT_THAT(r.output,
              HasSubstr(kCorpus + "/unsafe/sql/001_drops.sql:14: drop_column: drops column "
                                  "users.email; the release still running"));
}

TEST(LintMigrationsCommand, WarningsArePrintedButPass) {
  testing::RunResult r = Lint({kCorpus + "/unsafe/sql/004_indexes.sql"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(Lines(r.output),
              ElementsAre(::testing::StartsWith(kCorpus + "/unsafe/sql/004_indexes.sql:1: "
                                                          "index_not_concurrently: creates index "
                                                          "idx_users_email on users"),
                          ::testing::StartsWith(kCorpus + "/unsafe/sql/004_indexes.sql:2: "),
                          ::testing::StartsWith(kCorpus + "/unsafe/sql/004_indexes.sql:6: "),
                          "0 errors, 3 warnings"));
}

TEST(LintMigrationsCommand, SafeMigrationsPass) {
  testing::RunResult r = Lint({kCorpus + "/safe"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "no destructive or incompatible changes found\n");
}

TEST(LintMigrationsCommand, JsonForMachines) {
  testing::RunResult r = Lint({"--json", kCorpus + "/unsafe/sql/003_not_null.sql"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(r.output).get(doc), simdjson::SUCCESS) << r.output;
  EXPECT_EQ(int64_t(doc["errors"]), 4);
  EXPECT_EQ(int64_t(doc["warnings"]), 0);
  simdjson::dom::array findings = doc["findings"];
  ASSERT_EQ(findings.size(), 4u);
  simdjson::dom::element first = findings.at(0);
  EXPECT_EQ(std::string_view(first["file"]), kCorpus + "/unsafe/sql/003_not_null.sql");
  EXPECT_EQ(int64_t(first["line"]), 1);
  EXPECT_EQ(std::string_view(first["rule"]), "add_not_null_without_default");
  EXPECT_EQ(std::string_view(first["severity"]), "error");
  EXPECT_THAT(std::string(std::string_view(first["message"])),
              HasSubstr("adds column users.tenant_id NOT NULL without a default"));
}

TEST(LintMigrationsCommand, BadUsageAndUnreadablePathsExitTwo) {
  testing::RunResult none = Lint({});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_THAT(none.output, HasSubstr("usage: obsgate lint-migrations"));
  testing::RunResult option = Lint({"--sarif", kCorpus});
  EXPECT_EQ(option.exit_code, 2);
  EXPECT_THAT(option.output, HasSubstr("unknown option --sarif"));
  testing::RunResult missing = Lint({kCorpus + "/safe", "/nonexistent/migrations"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.output, HasSubstr("cannot read /nonexistent/migrations"));
  testing::RunResult help = Lint({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.output, HasSubstr("index_not_concurrently"));
}

}  // namespace
}  // namespace obsgate::deploy
