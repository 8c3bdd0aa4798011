#pragma once

#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "rollback/orchestrator.hpp"

namespace obsgate::rollback {

// One rollback decision and what came of it: the audit's unit.
struct RollbackEvent {
  std::string id;
  core::TimePoint at;
  Target target;
  std::string bad_version;
  std::string baseline_version;
  std::string origin;   // "rule ErrorRateAbove1Percent", "person", "pipeline auth-prod"
  bool forced = false;  // a person's --force skipped the duplicate and cooldown guards
  std::string verdict;  // VerdictName: act, dry_run, pause, refused, duplicate
  std::string guard;    // the guard that decided, when one did
  std::string reason;   // the guard's words
  // rolled_back, skipped, failed, refused, dry_run, paused, no_orchestrator
  std::string result;
  std::string message;  // the orchestrator's words, or the reason again
  std::string from_version;
  std::string to_version;
  std::string to_revision;
  std::vector<std::pair<std::string, double>> values;  // what the rule measured
  std::string detail;                                  // the request sent or the command's output
};

std::string RollbackEventJson(const RollbackEvent& e);

// Decisions appended one JSON object a line to a file (fsync'd), the recent ones kept in memory
// for GET /api/v1/rollbacks. Thread-safe.
class AuditLog {
 public:
  // An empty path keeps the log in memory only (the CLI without a data_dir).
  static core::Result<std::unique_ptr<AuditLog>> Open(std::string path, std::size_t keep = 500);
  ~AuditLog();
  core::Status Append(const RollbackEvent& e);
  std::string RecentJson() const;  // newest first
  std::vector<RollbackEvent> Recent() const;
  // The events read from the file at open (target, versions, result, time), oldest first.
  std::vector<RollbackEvent> Past() const;

 private:
  AuditLog(std::string path, std::size_t keep) : path_(std::move(path)), keep_(keep) {}
  std::string path_;
  std::size_t keep_;
  int fd_ = -1;
  mutable std::mutex mu_;
  std::deque<RollbackEvent> recent_;
  std::deque<std::string> recent_lines_;  // from the file at open, before this run's events
};

}  // namespace obsgate::rollback
