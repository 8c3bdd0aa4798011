#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "alerting/notification.hpp"
#include "core/result.hpp"

namespace obsgate::alerting {

// Notifications not yet delivered, in an append-only file: an "add" line is written and
// fsync'd before the first attempt, a "done" line after success or a final failure. On open,
// the adds without a done are pending again, and the file is rewritten with only those.
// Thread-safe.
class Outbox {
 public:
  // Creates the file when missing. A torn last line (a crash mid-write) is skipped and counted;
  // an unreadable file is an error that names it.
  static core::Result<std::unique_ptr<Outbox>> Open(std::string path);
  ~Outbox();

  core::Status Add(const Notification& n);
  core::Status Done(const std::string& id, std::string_view result);
  // What was pending when the file was opened, oldest first; handed out once.
  std::vector<Notification> TakeReplay();
  std::size_t depth() const;
  int skipped_lines() const { return skipped_; }

 private:
  explicit Outbox(std::string path) : path_(std::move(path)) {}
  core::Status AppendLocked(const std::string& line);
  core::Status CompactLocked();

  std::string path_;
  int fd_ = -1;
  mutable std::mutex mu_;
  std::map<std::string, std::string> pending_;  // id -> its add line, for compaction
  std::vector<std::string> order_;              // ids in the order they were added
  std::vector<Notification> replay_;
  std::size_t done_since_compaction_ = 0;
  int skipped_ = 0;
};

}  // namespace obsgate::alerting
