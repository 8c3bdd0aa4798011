#include "deploy/migrations/linter.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <system_error>
#include <utility>

// What this reads, and what it does not:
//  - SQL: a tokenizer (-- and nested /* */ comments, '...' with '' escapes, E'...' with
//    backslash escapes, "quoted identifiers", $$ and $tag$ bodies), statements split on ';'.
//    It recognises ALTER TABLE (each comma-separated action), DROP TABLE, CREATE [UNIQUE] INDEX,
//    CREATE TABLE, MySQL's RENAME TABLE / MODIFY / CHANGE, and DO blocks, whose body is read
//    the same way. It does not follow PL/pgSQL control flow (IF ... THEN ALTER ...), dynamic SQL
//    (EXECUTE 'ALTER ...'), function bodies (they run later, if ever), psql meta-commands
//    (\i, \copy), or MySQL's DELIMITER; a table dropped by DROP SCHEMA ... CASCADE is not seen.
//  - Alembic: only the bodies of upgrade() and upgrade_<name>() count. op.* and batch_op.* calls
//    with literal arguments are read; names held in variables are shown as written, and SQL held
//    in a variable (sql = "..."; op.execute(sql)) is not linted.
// A table created earlier in the same file is new: indexing it, or adding a NOT NULL column to
// it, is not flagged, since no released code uses it yet.

namespace obsgate::deploy {
namespace {

constexpr int kMaxDoDepth = 8;         // DO blocks inside DO blocks, linted at most this deep
constexpr std::size_t kMaxShown = 60;  // longest type expression quoted in a message

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool IsIdentStart(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  return std::isalpha(u) || c == '_' || u >= 0x80;
}
bool IsIdentChar(char c) { return IsIdentStart(c) || std::isdigit(static_cast<unsigned char>(c)); }

std::string Shorten(std::string s) {
  if (s.size() > kMaxShown) s = s.substr(0, kMaxShown) + "...";
  return s;
}

// A quoted identifier as SQL writes it: "Audit Log", "We""ird".
std::string Requote(std::string_view name) {
  std::string out = "\"";
  for (char c : name) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// The name a table is known by across one file: without its schema, quotes or case.
std::string TableKey(std::string_view table) {
  std::size_t dot = table.rfind('.');
  std::string key;
  for (char c : dot == std::string_view::npos ? table : table.substr(dot + 1)) {
    if (c != '"') key += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return key;
}

// Where findings go, and what this file has created so far.
struct Context {
  std::string_view file;
  std::set<std::string> new_tables;  // TableKey()s
  std::vector<MigrationFinding> findings;

  bool IsNew(std::string_view table) const { return new_tables.count(TableKey(table)) > 0; }
  void Created(std::string_view table) { new_tables.insert(TableKey(table)); }
  void Add(int line, std::string rule, std::string message) {
    MigrationFinding f;
    f.file = std::string(file);
    f.line = line;
    f.severity = rule == "index_not_concurrently" ? "warning" : "error";
    f.rule = std::move(rule);
    f.message = std::move(message);
    findings.push_back(std::move(f));
  }
};

// The hints: what to do instead, in expand/contract steps.
constexpr std::string_view kLaterRelease =
    "deploy code that no longer uses it first, then drop it in a later release";
constexpr std::string_view kExpandContract =
    "add the new one, deploy code that writes both, backfill, then drop the old one in a later "
    "release";

void DropTable(Context& ctx, int line, const std::string& table) {
  ctx.Add(line, "drop_table",
          "drops table " + table + "; the release still running reads and writes it — " +
              std::string(kLaterRelease));
}
void DropColumn(Context& ctx, int line, const std::string& table, const std::string& column) {
  ctx.Add(line, "drop_column",
          "drops column " + table + "." + column +
              "; the release still running selects and inserts it — " + std::string(kLaterRelease));
}
void RenameTable(Context& ctx, int line, const std::string& from, const std::string& to) {
  ctx.Add(line, "rename_table",
          "renames table " + from + " to " + to +
              "; the release still running uses the old name — expand/contract: " +
              std::string(kExpandContract));
}
void RenameColumn(Context& ctx, int line, const std::string& table, const std::string& from,
                  const std::string& to) {
  ctx.Add(line, "rename_column",
          "renames column " + table + "." + from + " to " + to +
              "; the release still running uses the old name — expand/contract: add the new "
              "column, deploy code that writes both, backfill, then drop the old one in a later "
              "release");
}
void ChangeType(Context& ctx, int line, const std::string& table, const std::string& column,
                const std::string& type) {
  ctx.Add(line, "change_type",
          "changes the type of " + table + "." + column + (type.empty() ? "" : " to " + type) +
              "; the release still running may write values the new type rejects, and the "
              "table is rewritten under a lock — expand/contract: add a column of the new type, "
              "deploy code that writes both, backfill, then drop the old one in a later release");
}
void AddNotNull(Context& ctx, int line, const std::string& table, const std::string& column,
                bool python_default) {
  ctx.Add(line, "add_not_null_without_default",
          "adds column " + table + "." + column +
              " NOT NULL without a default; inserts from the release still running leave it "
              "out and fail, and existing rows have no value for it" +
              (python_default ? " (default= is applied by SQLAlchemy only; the database needs "
                                "server_default=)"
                              : "") +
              " — add it with a DEFAULT (server_default= in Alembic) or nullable, deploy code "
              "that writes it, backfill, then set NOT NULL in a later release");
}
void SetNotNull(Context& ctx, int line, const std::string& table, const std::string& column) {
  ctx.Add(line, "set_not_null",
          "sets " + table + "." + column +
              " NOT NULL; the release still running may write NULLs into it (this reverses an "
              "earlier DROP NOT NULL) — deploy code that always writes it and backfill first, "
              "then set NOT NULL in a later release");
}
void IndexNotConcurrently(Context& ctx, int line, const std::string& index,
                          const std::string& table) {
  ctx.Add(line, "index_not_concurrently",
          "creates index " + (index.empty() ? std::string() : index + " ") + "on " + table +
              " without CONCURRENTLY; on Postgres this blocks writes to " + table +
              " until the index is built — use CREATE INDEX CONCURRENTLY (Alembic: "
              "postgresql_concurrently=True inside op.get_context().autocommit_block())");
}

// ---------------------------------------------------------------------------------------------
// SQL

enum class SqlKind { kWord, kQuoted, kString, kDollar, kPunct };

struct SqlToken {
  SqlKind kind;
  std::string text;  // as written; identifiers and strings without their quotes
  int line;          // where it starts; a dollar body's text starts on this line too
};

std::vector<SqlToken> TokenizeSql(std::string_view s, int first_line) {
  std::vector<SqlToken> out;
  int line = first_line;
  std::size_t i = 0;
  const std::size_t n = s.size();
  auto skip_to = [&](std::size_t j) {
    for (; i < j && i < n; ++i) {
      if (s[i] == '\n') ++line;
    }
  };
  // A '...' or "..." body from s[i] (the opening quote), doubled quotes escaping themselves.
  auto quoted = [&](char q, bool backslash) {
    std::string text;
    std::size_t j = i + 1;
    while (j < n) {
      if (backslash && s[j] == '\\' && j + 1 < n) {
        text += s[j + 1];
        j += 2;
        continue;
      }
      if (s[j] == q) {
        if (j + 1 < n && s[j + 1] == q) {
          text += q;
          j += 2;
          continue;
        }
        ++j;
        break;
      }
      text += s[j++];
    }
    int start = line;
    skip_to(j);
    return SqlToken{q == '"' ? SqlKind::kQuoted : SqlKind::kString, std::move(text), start};
  };
  while (i < n) {
    const char c = s[i];
    const char next = i + 1 < n ? s[i + 1] : '\0';
    if (c == '\n') {
      ++line;
      ++i;
    } else if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == '-' && next == '-') {
      std::size_t j = s.find('\n', i);
      skip_to(j == std::string_view::npos ? n : j);
    } else if (c == '/' && next == '*') {
      // Postgres nests block comments.
      int depth = 0;
      std::size_t j = i;
      while (j < n) {
        if (s[j] == '/' && j + 1 < n && s[j + 1] == '*') {
          ++depth;
          j += 2;
        } else if (s[j] == '*' && j + 1 < n && s[j + 1] == '/') {
          j += 2;
          if (--depth == 0) break;
        } else {
          ++j;
        }
      }
      skip_to(j);
    } else if (c == '\'' || c == '"') {
      out.push_back(quoted(c, false));
    } else if ((c == 'E' || c == 'e') && next == '\'') {
      ++i;
      out.push_back(quoted('\'', true));
    } else if (c == '$') {
      std::size_t j = i + 1;
      while (j < n && IsIdentChar(s[j]) && s[j] != '$') ++j;
      bool tag = j < n && s[j] == '$' &&
                 (j == i + 1 || !std::isdigit(static_cast<unsigned char>(s[i + 1])));
      if (!tag) {  // $1, a parameter
        std::size_t k = i + 1;
        while (k < n && std::isdigit(static_cast<unsigned char>(s[k]))) ++k;
        out.push_back({SqlKind::kWord, std::string(s.substr(i, k - i)), line});
        skip_to(k);
        continue;
      }
      std::string_view delim = s.substr(i, j + 1 - i);
      std::size_t body = j + 1;
      std::size_t close = s.find(delim, body);
      if (close == std::string_view::npos) close = n;
      out.push_back({SqlKind::kDollar, std::string(s.substr(body, close - body)), line});
      skip_to(close == n ? n : close + delim.size());
    } else if (IsIdentStart(c) || std::isdigit(static_cast<unsigned char>(c))) {
      std::size_t j = i;
      while (j < n && (IsIdentChar(s[j]) || s[j] == '$')) ++j;
      out.push_back({SqlKind::kWord, std::string(s.substr(i, j - i)), line});
      skip_to(j);
    } else if (c == '{') {
      // A Python f-string placeholder in op.execute(f"..."): one name, as written.
      std::size_t j = i + 1;
      while (j < n && s[j] != '}' && s[j] != '\n') ++j;
      if (j < n && s[j] == '}') ++j;
      out.push_back({SqlKind::kWord, std::string(s.substr(i, j - i)), line});
      skip_to(j);
    } else {
      out.push_back({SqlKind::kPunct, std::string(1, c), line});
      ++i;
    }
  }
  return out;
}

bool IsPunct(const SqlToken& t, char c) {
  return t.kind == SqlKind::kPunct && t.text.size() == 1 && t.text[0] == c;
}

// A read position inside one statement or one ALTER TABLE action.
class SqlCursor {
 public:
  SqlCursor(const std::vector<SqlToken>& t, std::size_t begin, std::size_t end)
      : t_(t), i_(begin), end_(end) {}
  // The same statement's tokens [begin, end).
  SqlCursor(const SqlCursor& other, std::size_t begin, std::size_t end)
      : t_(other.t_), i_(begin), end_(end) {}

  bool AtEnd() const { return i_ >= end_; }
  std::size_t pos() const { return i_; }
  std::size_t end() const { return end_; }
  const SqlToken& Get(std::size_t k) const { return t_[k]; }
  int Line() const { return AtEnd() ? (end_ > 0 ? t_[end_ - 1].line : 1) : t_[i_].line; }

  bool Is(std::string_view kw, std::size_t ahead = 0) const {
    return i_ + ahead < end_ && t_[i_ + ahead].kind == SqlKind::kWord &&
           IEquals(t_[i_ + ahead].text, kw);
  }
  bool IsAny(std::initializer_list<std::string_view> kws) const {
    for (std::string_view kw : kws) {
      if (Is(kw)) return true;
    }
    return false;
  }
  bool Accept(std::string_view kw) {
    if (!Is(kw)) return false;
    ++i_;
    return true;
  }
  // Consumes all of kws in order, or nothing.
  bool AcceptAll(std::initializer_list<std::string_view> kws) {
    std::size_t k = 0;
    for (std::string_view kw : kws) {
      if (!Is(kw, k++)) return false;
    }
    i_ += kws.size();
    return true;
  }
  bool AcceptPunct(char c) {
    if (AtEnd() || !IsPunct(t_[i_], c)) return false;
    ++i_;
    return true;
  }
  // A possibly schema-qualified name, its parts joined with '.' and quoted identifiers quoted
  // as written; "?" when there is none.
  std::string Name() {
    std::string name;
    while (!AtEnd() && (t_[i_].kind == SqlKind::kWord || t_[i_].kind == SqlKind::kQuoted)) {
      const SqlToken& t = t_[i_++];
      name += t.kind == SqlKind::kQuoted ? Requote(t.text) : t.text;
      if (i_ + 1 < end_ && IsPunct(t_[i_], '.') &&
          (t_[i_ + 1].kind == SqlKind::kWord || t_[i_ + 1].kind == SqlKind::kQuoted)) {
        name += '.';
        ++i_;
        continue;
      }
      break;
    }
    return name.empty() ? "?" : name;
  }
  // The rest, as SQL text, up to (not including) the first of stop at parenthesis depth 0.
  std::string Rest(std::initializer_list<std::string_view> stop = {}) const {
    std::string out;
    int depth = 0;
    const SqlToken* prev = nullptr;
    for (std::size_t k = i_; k < end_; ++k) {
      const SqlToken& t = t_[k];
      if (depth == 0 && t.kind == SqlKind::kWord) {
        bool stopped = false;
        for (std::string_view kw : stop) stopped = stopped || IEquals(t.text, kw);
        if (stopped) break;
      }
      if (IsPunct(t, '(')) ++depth;
      if (IsPunct(t, ')')) --depth;
      if (prev && prev->kind != SqlKind::kPunct && t.kind != SqlKind::kPunct) out += ' ';
      if (prev && IsPunct(*prev, ',')) out += ' ';
      out += t.kind == SqlKind::kString ? "'" + t.text + "'" : t.text;
      prev = &t;
    }
    return Shorten(out);
  }

 private:
  const std::vector<SqlToken>& t_;
  std::size_t i_;
  std::size_t end_;
};

void LintSql(std::string_view text, int first_line, Context& ctx, int do_depth);

// One action of ALTER TABLE table ...; its line is where the action starts.
void LintAlterAction(SqlCursor c, const std::string& table, Context& ctx) {
  const int line = c.Line();
  if (c.Accept("ADD")) {
    if (c.IsAny({"CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN", "EXCLUDE", "INDEX", "KEY",
                 "FULLTEXT", "SPATIAL"})) {
      return;
    }
    c.Accept("COLUMN");
    c.AcceptAll({"IF", "NOT", "EXISTS"});
    std::string column = c.Name();
    bool not_null = false;
    bool has_default = false;
    int depth = 0;
    for (std::size_t k = c.pos(); k < c.end(); ++k) {
      const SqlToken& t = c.Get(k);
      if (IsPunct(t, '(')) ++depth;
      if (IsPunct(t, ')')) --depth;
      if (depth != 0 || t.kind != SqlKind::kWord) continue;
      const bool followed = k + 1 < c.end() && c.Get(k + 1).kind == SqlKind::kWord;
      if (IEquals(t.text, "NOT") && followed && IEquals(c.Get(k + 1).text, "NULL")) {
        not_null = true;
      } else if (IEquals(t.text, "PRIMARY") && followed && IEquals(c.Get(k + 1).text, "KEY")) {
        not_null = true;
      } else {
        // Serial types and identity or generated columns fill themselves in.
        for (std::string_view kw : {"DEFAULT", "GENERATED", "AUTO_INCREMENT", "SERIAL", "BIGSERIAL",
                                    "SMALLSERIAL", "SERIAL2", "SERIAL4", "SERIAL8"}) {
          has_default = has_default || IEquals(t.text, kw);
        }
      }
    }
    if (not_null && !has_default && !ctx.IsNew(table)) AddNotNull(ctx, line, table, column, false);
  } else if (c.Accept("DROP")) {
    if (c.IsAny({"CONSTRAINT", "PRIMARY", "INDEX", "KEY", "FOREIGN", "CHECK"})) return;
    c.Accept("COLUMN");
    c.AcceptAll({"IF", "EXISTS"});
    DropColumn(ctx, line, table, c.Name());
  } else if (c.Accept("RENAME")) {
    if (c.Accept("TO") || c.Accept("AS")) {
      RenameTable(ctx, line, table, c.Name());
      return;
    }
    if (c.IsAny({"CONSTRAINT", "INDEX", "KEY"})) return;
    c.Accept("COLUMN");
    std::string from = c.Name();
    c.Accept("TO");
    RenameColumn(ctx, line, table, from, c.Name());
  } else if (c.Accept("ALTER")) {
    if (c.Is("CONSTRAINT")) return;
    c.Accept("COLUMN");
    std::string column = c.Name();
    if (c.Accept("TYPE") || c.AcceptAll({"SET", "DATA", "TYPE"})) {
      ChangeType(ctx, line, table, column, c.Rest({"USING", "COLLATE"}));
    } else if (c.AcceptAll({"SET", "NOT", "NULL"})) {
      SetNotNull(ctx, line, table, column);
    }
  } else if (c.AcceptAll({"SET", "SCHEMA"})) {
    RenameTable(ctx, line, table, c.Name() + "." + table.substr(table.rfind('.') + 1));
  } else if (c.Accept("MODIFY")) {  // MySQL
    c.Accept("COLUMN");
    std::string column = c.Name();
    ChangeType(ctx, line, table, column, c.Rest({"NOT", "NULL", "DEFAULT", "FIRST", "AFTER"}));
  } else if (c.Accept("CHANGE")) {  // MySQL: CHANGE old new definition
    c.Accept("COLUMN");
    std::string from = c.Name();
    std::string to = c.Name();
    if (IEquals(from, to)) {
      ChangeType(ctx, line, table, from, c.Rest({"NOT", "NULL", "DEFAULT", "FIRST", "AFTER"}));
    } else {
      RenameColumn(ctx, line, table, from, to);
    }
  }
}

void LintStatement(SqlCursor c, Context& ctx, int do_depth) {
  if (do_depth > 0) {  // the first statement of a PL/pgSQL block starts after its BEGIN
    while (c.Accept("BEGIN")) {
    }
  }
  const int line = c.Line();
  if (c.AcceptAll({"ALTER", "TABLE"})) {
    c.AcceptAll({"IF", "EXISTS"});
    c.Accept("ONLY");
    if (c.Is("ALL")) return;  // ALTER TABLE ALL IN TABLESPACE
    std::string table = c.Name();
    c.AcceptPunct('*');
    // Each comma-separated action on its own; commas inside parentheses belong to a type or
    // a constraint.
    std::size_t begin = c.pos();
    int depth = 0;
    for (std::size_t k = c.pos(); k <= c.end(); ++k) {
      if (k < c.end()) {
        const SqlToken& t = c.Get(k);
        if (IsPunct(t, '(')) ++depth;
        if (IsPunct(t, ')')) --depth;
        if (depth != 0 || !IsPunct(t, ',')) continue;
      }
      if (k > begin) LintAlterAction(SqlCursor(c, begin, k), table, ctx);
      begin = k + 1;
    }
  } else if (c.AcceptAll({"DROP", "TABLE"})) {
    c.AcceptAll({"IF", "EXISTS"});
    do {
      DropTable(ctx, line, c.Name());
    } while (c.AcceptPunct(','));
  } else if (c.AcceptAll({"RENAME", "TABLE"})) {  // MySQL: RENAME TABLE a TO b, c TO d
    do {
      std::string from = c.Name();
      c.Accept("TO");
      RenameTable(ctx, line, from, c.Name());
    } while (c.AcceptPunct(','));
  } else if (c.Accept("CREATE")) {
    c.Accept("UNIQUE");
    if (c.Accept("INDEX")) {
      const bool concurrently = c.Accept("CONCURRENTLY");
      c.AcceptAll({"IF", "NOT", "EXISTS"});
      std::string index = c.Is("ON") ? "" : c.Name();
      if (!c.Accept("ON")) return;
      c.Accept("ONLY");
      std::string table = c.Name();
      if (!concurrently && !ctx.IsNew(table)) IndexNotConcurrently(ctx, line, index, table);
      return;
    }
    c.AcceptAll({"OR", "REPLACE"});
    if (!c.Accept("GLOBAL")) c.Accept("LOCAL");
    if (!c.Accept("TEMPORARY") && !c.Accept("TEMP")) c.Accept("UNLOGGED");
    if (c.Accept("TABLE")) {
      c.AcceptAll({"IF", "NOT", "EXISTS"});
      ctx.Created(c.Name());
    }
  } else if (c.Accept("DO") && do_depth < kMaxDoDepth) {
    // DO runs its body now; CREATE FUNCTION bodies run later, if ever, and are not read.
    for (std::size_t k = c.pos(); k < c.end(); ++k) {
      const SqlToken& t = c.Get(k);
      if (t.kind == SqlKind::kDollar || t.kind == SqlKind::kString) {
        LintSql(t.text, t.line, ctx, do_depth + 1);
        break;
      }
    }
  }
}

void LintSql(std::string_view text, int first_line, Context& ctx, int do_depth) {
  std::vector<SqlToken> tokens = TokenizeSql(text, first_line);
  std::size_t begin = 0;
  for (std::size_t k = 0; k <= tokens.size(); ++k) {
    if (k < tokens.size() && !IsPunct(tokens[k], ';')) continue;
    if (k > begin) LintStatement(SqlCursor(tokens, begin, k), ctx, do_depth);
    begin = k + 1;
  }
}

// ---------------------------------------------------------------------------------------------
// Alembic (Python)

enum class PyKind { kName, kString, kOp, kOther };

struct PyToken {
  PyKind kind;
  std::string text;  // a name, one operator character, or a string's value
  int line;          // where it starts
  int end_line;      // where it ends (strings span lines)
  bool line_start;   // first token of a logical line (not inside brackets, not continued)
  int indent;        // its column, when line_start
};

// A string literal's value. Escapes that would add a line (\n) become a space, so that line k
// of the value is line k of the file counted from the opening quote.
std::size_t ScanPyString(std::string_view s, std::size_t j, bool raw, std::string& value) {
  const std::size_t n = s.size();
  const char q = s[j];
  const bool triple = j + 2 < n && s[j + 1] == q && s[j + 2] == q;
  std::size_t k = j + (triple ? 3 : 1);
  while (k < n) {
    const char c = s[k];
    if (!triple && c == '\n') break;  // unterminated: Python refuses it; stop at the line's end
    if (c == '\\' && k + 1 < n) {
      const char e = s[k + 1];
      if (raw) {
        value += c;
        value += e;
      } else if (e == 'n' || e == 't' || e == 'r') {
        value += ' ';
      } else if (e == '\\' || e == '\'' || e == '"' || e == '\n') {
        value += e;
      } else {
        value += c;
        value += e;
      }
      k += 2;
      continue;
    }
    if (triple && c == q && k + 2 < n && s[k + 1] == q && s[k + 2] == q) return k + 3;
    if (!triple && c == q) return k + 1;
    value += c;
    ++k;
  }
  return k;
}

std::vector<PyToken> TokenizePython(std::string_view s) {
  std::vector<PyToken> out;
  const std::size_t n = s.size();
  std::size_t i = 0;
  std::size_t line_begin = 0;
  int line = 1;
  int depth = 0;
  bool at_line_start = true;
  auto push = [&](PyKind kind, std::string text, int start_line) {
    out.push_back(
        {kind, std::move(text), start_line, line, at_line_start, static_cast<int>(i - line_begin)});
    at_line_start = false;
  };
  auto skip_to = [&](std::size_t j) {
    for (; i < j && i < n; ++i) {
      if (s[i] == '\n') {
        ++line;
        line_begin = i + 1;
      }
    }
  };
  while (i < n) {
    const char c = s[i];
    if (c == '\n') {
      ++line;
      line_begin = ++i;
      if (depth == 0) at_line_start = true;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\r' || c == '\f') {
      ++i;
      continue;
    }
    if (c == '#') {
      std::size_t j = s.find('\n', i);
      i = j == std::string_view::npos ? n : j;
      continue;
    }
    if (c == '\\' && i + 1 < n && s[i + 1] == '\n') {  // explicit line joining
      i += 2;
      ++line;
      line_begin = i;
      continue;
    }
    // A string, with an optional prefix of up to two of r, b, u, f.
    std::size_t j = i;
    bool raw = false;
    while (j < n && j - i < 2 && s[j] != '\0' && std::strchr("rRbBuUfF", s[j]) != nullptr) {
      raw = raw || s[j] == 'r' || s[j] == 'R';
      ++j;
    }
    if (j < n && (s[j] == '\'' || s[j] == '"')) {
      std::string value;
      std::size_t end = ScanPyString(s, j, raw, value);
      const int start = line;
      const bool first = at_line_start;
      const int indent = static_cast<int>(i - line_begin);
      skip_to(end);
      out.push_back({PyKind::kString, std::move(value), start, line, first, indent});
      at_line_start = false;
      continue;
    }
    if (IsIdentStart(c)) {
      j = i;
      while (j < n && IsIdentChar(s[j])) ++j;
      push(PyKind::kName, std::string(s.substr(i, j - i)), line);
      i = j;
      continue;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) {
      j = i;
      while (j < n && (IsIdentChar(s[j]) || s[j] == '.')) ++j;
      push(PyKind::kOther, std::string(s.substr(i, j - i)), line);
      i = j;
      continue;
    }
    if (c == '(' || c == '[' || c == '{') ++depth;
    if ((c == ')' || c == ']' || c == '}') && depth > 0) --depth;
    push(PyKind::kOp, std::string(1, c), line);
    ++i;
  }
  return out;
}

bool IsOp(const PyToken& t, char c) {
  return t.kind == PyKind::kOp && t.text.size() == 1 && t.text[0] == c;
}
bool IsName(const PyToken& t, std::string_view name) {
  return t.kind == PyKind::kName && t.text == name;
}

// One argument of a call: `keyword=value` or a positional value, tokens [begin, end).
struct PyArg {
  std::string keyword;
  std::size_t begin;
  std::size_t end;
  int line;  // where the argument (its keyword, if any) starts
};

class AlembicReader {
 public:
  AlembicReader(const std::vector<PyToken>& t, Context& ctx) : t_(t), ctx_(ctx) {}

  // The tokens [begin, end) of one upgrade function's body.
  void Body(std::size_t begin, std::size_t end) {
    std::map<std::string, std::string> batches;  // batch_op alias -> its table
    for (std::size_t k = begin; k + 3 < end; ++k) {
      if (t_[k].kind != PyKind::kName || !IsOp(t_[k + 1], '.') || t_[k + 2].kind != PyKind::kName ||
          !IsOp(t_[k + 3], '(')) {
        continue;
      }
      const std::string& receiver = t_[k].text;
      const std::string& method = t_[k + 2].text;
      const std::size_t open = k + 3;
      const std::size_t close = Close(open, end);
      std::vector<PyArg> args = Args(open, close);
      if (receiver == "op" && method == "batch_alter_table") {
        if (close + 2 < end && IsName(t_[close + 1], "as") && t_[close + 2].kind == PyKind::kName) {
          batches[t_[close + 2].text] = Table(args, 0, "table_name");
        }
      } else if (receiver == "op") {
        Call(t_[k].line, method, args, nullptr);
      } else if (auto b = batches.find(receiver); b != batches.end()) {
        Call(t_[k].line, method, args, &b->second);
      }
      k = open;  // arguments may hold further calls (op.f, sa.Column), none of them flagged
    }
  }

 private:
  // The index of the bracket closing the one at open, or end.
  std::size_t Close(std::size_t open, std::size_t end) const {
    int depth = 0;
    for (std::size_t k = open; k < end; ++k) {
      const PyToken& t = t_[k];
      if (IsOp(t, '(') || IsOp(t, '[') || IsOp(t, '{')) ++depth;
      if (IsOp(t, ')') || IsOp(t, ']') || IsOp(t, '}')) {
        if (--depth == 0) return k;
      }
    }
    return end;
  }

  std::vector<PyArg> Args(std::size_t open, std::size_t close) const {
    std::vector<PyArg> args;
    std::size_t begin = open + 1;
    int depth = 0;
    for (std::size_t k = open + 1; k <= close && k < t_.size() + 1; ++k) {
      if (k < close) {
        const PyToken& t = t_[k];
        if (IsOp(t, '(') || IsOp(t, '[') || IsOp(t, '{')) ++depth;
        if (IsOp(t, ')') || IsOp(t, ']') || IsOp(t, '}')) --depth;
        if (depth != 0 || !IsOp(t, ',')) continue;
      }
      if (k > begin) {
        PyArg a{"", begin, k, t_[begin].line};
        if (k - begin >= 3 && t_[begin].kind == PyKind::kName && IsOp(t_[begin + 1], '=') &&
            !IsOp(t_[begin + 2], '=')) {
          a.keyword = t_[begin].text;
          a.begin = begin + 2;
        }
        args.push_back(std::move(a));
      }
      begin = k + 1;
    }
    return args;
  }

  static const PyArg* Keyword(const std::vector<PyArg>& args, std::string_view name) {
    for (const PyArg& a : args) {
      if (a.keyword == name) return &a;
    }
    return nullptr;
  }
  // The n-th positional argument, or the keyword argument of that name.
  static const PyArg* Arg(const std::vector<PyArg>& args, std::size_t n, std::string_view name) {
    std::size_t seen = 0;
    for (const PyArg& a : args) {
      if (!a.keyword.empty()) continue;
      if (seen++ == n) return &a;
    }
    return Keyword(args, name);
  }
  bool IsValue(const PyArg* a, std::string_view name) const {
    return a && a->end == a->begin + 1 && IsName(t_[a->begin], name);
  }

  struct PyText {
    std::string text;
    int line = 0;
  };
  // A string value: adjacent literals joined (with the lines between them kept), or the first
  // argument of a call such as sa.text("...") or op.f("...").
  std::optional<PyText> String(std::size_t begin, std::size_t end) const {
    if (begin >= end) return std::nullopt;
    if (t_[begin].kind == PyKind::kString) {
      PyText out{"", t_[begin].line};
      int at = t_[begin].line;
      for (std::size_t k = begin; k < end; ++k) {
        if (t_[k].kind != PyKind::kString) return std::nullopt;
        out.text += t_[k].line > at ? std::string(t_[k].line - at, '\n') : std::string(" ");
        out.text += t_[k].text;
        at = t_[k].end_line;
      }
      out.text.erase(0, 1);
      return out;
    }
    std::size_t k = begin;
    while (k + 1 < end && t_[k].kind == PyKind::kName && IsOp(t_[k + 1], '.')) k += 2;
    if (k + 1 < end && t_[k].kind == PyKind::kName && IsOp(t_[k + 1], '(')) {
      std::vector<PyArg> inner = Args(k + 1, Close(k + 1, end));
      if (const PyArg* a = Arg(inner, 0, "text")) return String(a->begin, a->end);
    }
    return std::nullopt;
  }
  // An argument as a name for a message: a string's value, or the expression as written.
  std::string Text(const PyArg* a) const {
    if (!a) return "?";
    if (auto s = String(a->begin, a->end)) return s->text;
    std::string out;
    for (std::size_t k = a->begin; k < a->end; ++k) {
      if (t_[k].kind == PyKind::kString) {
        out += "\"" + t_[k].text + "\"";
      } else {
        if (k > a->begin && IsOp(t_[k - 1], ',')) out += ' ';
        out += t_[k].text;
      }
    }
    return Shorten(out);
  }
  std::string Table(const std::vector<PyArg>& args, std::size_t n, std::string_view name) const {
    std::string table = Text(Arg(args, n, name));
    if (const PyArg* schema = Keyword(args, "schema"); schema && !IsValue(schema, "None")) {
      table = Text(schema) + "." + table;
    }
    return table;
  }

  // op.METHOD(args) at line, or batch_op.METHOD(args) on the batch's table.
  void Call(int line, const std::string& method, const std::vector<PyArg>& args,
            const std::string* batch) {
    // In a batch the table is implied and every other argument moves one place forward.
    const std::size_t first = batch ? 0 : 1;
    auto table = [&] { return batch ? *batch : Table(args, 0, "table_name"); };
    if (method == "drop_table" && !batch) {
      DropTable(ctx_, line, table());
    } else if (method == "drop_column") {
      DropColumn(ctx_, line, table(), Text(Arg(args, first, "column_name")));
    } else if (method == "rename_table" && !batch) {
      RenameTable(ctx_, line, Table(args, 0, "old_table_name"),
                  Text(Arg(args, 1, "new_table_name")));
    } else if (method == "alter_column") {
      std::string column = Text(Arg(args, first, "column_name"));
      if (const PyArg* a = Keyword(args, "new_column_name")) {
        RenameColumn(ctx_, a->line, table(), column, Text(a));
      }
      if (const PyArg* a = Keyword(args, "type_")) {
        ChangeType(ctx_, a->line, table(), column, Text(a));
      }
      if (const PyArg* a = Keyword(args, "nullable"); IsValue(a, "False")) {
        SetNotNull(ctx_, a->line, table(), column);
      }
    } else if (method == "add_column") {
      const PyArg* column = Arg(args, first, "column");
      if (column) AddColumn(line, table(), *column);
    } else if (method == "create_index") {
      std::string on = batch ? *batch : Table(args, 1, "table_name");
      if (!IsValue(Keyword(args, "postgresql_concurrently"), "True") && !ctx_.IsNew(on)) {
        IndexNotConcurrently(ctx_, line, Text(Arg(args, 0, "index_name")), on);
      }
    } else if (method == "create_table" && !batch) {
      ctx_.Created(Text(Arg(args, 0, "table_name")));
    } else if (method == "execute") {
      if (const PyArg* a = Arg(args, 0, "sqltext")) {
        if (auto sql = String(a->begin, a->end)) LintSql(sql->text, sql->line, ctx_, 0);
      }
    }
  }

  // add_column(table, sa.Column(name, type, ..., nullable=False, server_default=...)).
  void AddColumn(int line, const std::string& table, const PyArg& column) {
    std::size_t k = column.begin;
    while (k + 1 < column.end && t_[k].kind == PyKind::kName && IsOp(t_[k + 1], '.')) k += 2;
    if (k + 1 >= column.end || !IsName(t_[k], "Column") || !IsOp(t_[k + 1], '(')) return;
    std::vector<PyArg> args = Args(k + 1, Close(k + 1, column.end));
    const PyArg* nullable = Keyword(args, "nullable");
    const bool required =
        IsValue(nullable, "False") || (!nullable && IsValue(Keyword(args, "primary_key"), "True"));
    if (!required || ctx_.IsNew(table)) return;
    const PyArg* server_default = Keyword(args, "server_default");
    if (server_default && !IsValue(server_default, "None")) return;
    // sa.Identity() and sa.Computed(...) give the database a value for every row.
    for (const PyArg& a : args) {
      if (!a.keyword.empty()) continue;
      for (std::size_t j = a.begin; j < a.end; ++j) {
        if (IsName(t_[j], "Identity") || IsName(t_[j], "Computed")) return;
      }
    }
    AddNotNull(ctx_, line, table, Text(Arg(args, 0, "name")), Keyword(args, "default") != nullptr);
  }

  const std::vector<PyToken>& t_;
  Context& ctx_;
};

void LintAlembic(std::string_view text, Context& ctx) {
  std::vector<PyToken> t = TokenizePython(text);
  AlembicReader reader(t, ctx);
  // downgrade() drops what upgrade() added, by design; only upgrade() and upgrade_<engine>()
  // (Alembic's multi-database template) run on the way forward.
  for (std::size_t k = 0; k + 1 < t.size(); ++k) {
    if (!IsName(t[k], "def") || t[k + 1].kind != PyKind::kName) continue;
    if (t[k + 1].text != "upgrade" && t[k + 1].text.rfind("upgrade_", 0) != 0) continue;
    // The header line of def may itself be indented (a method); the body is what is indented
    // deeper, plus anything on the def's own logical line after the colon.
    std::size_t head = k;
    if (k > 0 && !t[k].line_start && IsName(t[k - 1], "async")) head = k - 1;
    const int indent = t[head].line_start ? t[head].indent : 0;
    std::size_t end = k + 2;
    while (end < t.size() && !(t[end].line_start && t[end].indent <= indent)) ++end;
    reader.Body(k + 2, end);
    k = end - 1;
  }
}

}  // namespace

std::vector<MigrationFinding> LintMigration(std::string_view text, std::string_view file,
                                            MigrationKind kind) {
  Context ctx;
  ctx.file = file;
  if (kind == MigrationKind::kSql) {
    LintSql(text, 1, ctx, 0);
  } else {
    LintAlembic(text, ctx);
  }
  std::stable_sort(
      ctx.findings.begin(), ctx.findings.end(),
      [](const MigrationFinding& a, const MigrationFinding& b) { return a.line < b.line; });
  return std::move(ctx.findings);
}

core::Result<std::vector<MigrationFinding>> LintMigrationPaths(
    const std::vector<std::string>& paths) {
  namespace fs = std::filesystem;
  auto kind_of = [](const fs::path& p) -> std::optional<MigrationKind> {
    std::string ext = Lower(p.extension().string());
    if (ext == ".sql") return MigrationKind::kSql;
    if (ext == ".py") return MigrationKind::kAlembic;
    return std::nullopt;
  };
  auto cannot = [](const std::string& path, const std::string& why) {
    return core::Error{"cannot read " + path + ": " + why +
                       "; name migration files (.sql, .py) or directories holding them"};
  };
  std::vector<std::string> files;
  for (const std::string& path : paths) {
    std::error_code ec;
    fs::file_status st = fs::status(path, ec);
    if (ec || !fs::exists(st)) return cannot(path, "no such file or directory");
    if (fs::is_directory(st)) {
      fs::recursive_directory_iterator it(path, ec), done;
      for (; !ec && it != done; it.increment(ec)) {
        if (it->is_regular_file(ec) && kind_of(it->path())) files.push_back(it->path().string());
      }
      if (ec) return cannot(path, ec.message());
    } else if (kind_of(path)) {
      files.push_back(path);
    }
  }
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());

  std::vector<MigrationFinding> all;
  for (const std::string& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in.is_open()) return cannot(file, "the file cannot be opened");
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) return cannot(file, "reading it failed");
    std::vector<MigrationFinding> found = LintMigration(text.str(), file, *kind_of(file));
    all.insert(all.end(), std::make_move_iterator(found.begin()),
               std::make_move_iterator(found.end()));
  }
  return all;
}

}  // namespace obsgate::deploy
