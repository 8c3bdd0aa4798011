#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace re2 {
class RE2;
}

namespace obsgate::ingest {

enum class Level : uint8_t { kNone, kTrace, kDebug, kInfo, kWarn, kError, kFatal };

// What one application line says.
struct LineFacts {
  int status = 0;  // HTTP status 100..599 found in the line, 0 when none
  Level level = Level::kNone;
  // level is error/fatal (error, err, fatal, critical, crit, panic, alert, emerg), or a
  // configured RE2 pattern matched
  bool error_line = false;
  // Attribution found in the JSON body; empty when absent. Views valid until the next Classify().
  std::string_view ns, deployment, version;
};

struct ClassifyOptions {
  // Dotted paths; "http.status_code" matches both a nested object {"http":{"status_code":..}} and
  // a flat key "http.status_code". Where several are present, the first in list order wins.
  std::vector<std::string> status_fields = {"status",           "status_code",
                                            "statusCode",       "http_status",
                                            "http.status_code", "http.response.status_code",
                                            "response.status",  "code"};
  std::vector<std::string> level_fields = {"level", "severity", "log.level",
                                           "lvl",   "loglevel", "severity_text"};
  std::vector<std::string> namespace_fields = {"kubernetes.namespace_name", "k8s.namespace.name",
                                               "namespace"};
  std::vector<std::string> deployment_fields = {"kubernetes.labels.app",
                                                "kubernetes.labels.app.kubernetes.io/name",
                                                "service.name", "resource.service.name", "app"};
  std::vector<std::string> version_fields = {
      "kubernetes.labels.version", "kubernetes.labels.app.kubernetes.io/version", "service.version",
      "resource.service.version", "version"};
  std::vector<int> extra_error_statuses;    // counted as errors besides >= 500, e.g. 429
  std::vector<std::string> error_patterns;  // RE2; a match makes error_line true
};

// Reads status, level and attribution from a JSON, logfmt, access-log or plain-text line.
class Classifier {  // owned by one ingest thread (holds the JSON walker's scratch)
 public:
  // Fails when a pattern does not compile (the error names the pattern and RE2's reason) or a
  // field name is empty.
  static core::Result<std::unique_ptr<Classifier>> Create(ClassifyOptions options);
  ~Classifier();
  Classifier(const Classifier&) = delete;
  Classifier& operator=(const Classifier&) = delete;

  // Never fails: JSON that does not parse (truncated, invalid UTF-8) is read as plain text.
  LineFacts Classify(std::string_view message);
  // For a stream whose format is found line by line: the facts of a JSON line that cannot be a
  // docker frame (none of its top-level keys is "log", "stream" or "time"), decided in the same
  // pass that reads it; nullopt when the line is not JSON or may be a docker frame, so it goes
  // through the framer as before.
  std::optional<LineFacts> ClassifyUnlessDocker(std::string_view message);
  // The facts of an application's JSON line still escaped inside a docker json-file "log" string
  // (from its '{'), read in place: what Classify would answer for the unescaped line, with `used`
  // set to the escaped bytes up to the end of its top object. nullopt when only unescaping can
  // tell: an escape other than \" \\ and \n \t \r between tokens, a line that may not be JSON,
  // error patterns to match.
  std::optional<LineFacts> ClassifyEscaped(std::string_view escaped, std::size_t& used);
  // >= 500 or in extra_error_statuses.
  bool IsErrorStatus(int status) const;

 private:
  struct Json;
  explicit Classifier(ClassifyOptions options);
  bool ClassifyJson(std::string_view message, LineFacts& facts);
  void MatchPatterns(std::string_view message, LineFacts& facts) const;
  void ClassifyText(std::string_view message, LineFacts& facts) const;

  ClassifyOptions options_;
  std::vector<std::unique_ptr<re2::RE2>> patterns_;
  std::unique_ptr<Json> json_;
};

// The building blocks of Classify(), exposed for tests and fuzzing. All are pure and never fail.

// A level word in any case: "error", "ERR", "Warning", "crit", ... kNone when it is none.
// Pino/bunyan numbers ("50", 50) are levels too: 10 trace ... 60 fatal.
Level ParseLevel(std::string_view word);
Level PinoLevel(long long number);
inline bool IsErrorLevel(Level l) { return l == Level::kError || l == Level::kFatal; }

// The status of a common/combined access-log line ("... [date] \"GET /x HTTP/1.1\" 503 ..."),
// also Envoy's "[date] \"GET /x HTTP/2\" 503 ..."; 0 when the line is not one.
int AccessLogStatus(std::string_view line);

// The level word at the start of a plain-text line, after an optional timestamp
// ("2024-01-01T00:00:00Z ERROR", "2024-01-01 00:00:00,123 [WARN]", "error: ...",
// "<time> - <logger> - ERROR - ..."), or a klog prefix ("E0305 10:00:13.000000 ...").
Level LeadingLevel(std::string_view line);

// A 3-digit HTTP status 100..599 spelt as digits; 0 otherwise.
int ParseStatusDigits(std::string_view s);

// key=value pairs of a logfmt line. Tokens without '=' are skipped, so it also finds the pairs in
// "ERROR failed status=503". A quoted value is returned raw, between its quotes, escapes kept.
class LogfmtReader {  // a cursor over one line; owned by its caller
 public:
  explicit LogfmtReader(std::string_view line) : s_(line) {}
  bool Next(std::string_view& key, std::string_view& value);

 private:
  std::string_view s_;
  std::size_t pos_ = 0;
};

}  // namespace obsgate::ingest
