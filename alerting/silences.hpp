#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "alerting/matcher.hpp"
#include "alerting/notification.hpp"
#include "core/clock.hpp"
#include "core/result.hpp"

namespace obsgate::alerting {

// A silence as Alertmanager's API v2 has it: matchers, a time range, who and why.
struct Silence {
  std::string id;
  std::vector<core::LabelMatcherConfig> matchers;
  core::TimePoint starts_at;
  core::TimePoint ends_at;
  core::TimePoint updated_at;
  std::string created_by;
  std::string comment;

  // "pending" before starts_at, "active" until ends_at, then "expired".
  const char* State(core::TimePoint now) const;
};

// Silences, kept in a JSON file (written whole, atomically) so they survive restarts; expired
// ones are kept for `retention` to be listed, then dropped. Thread-safe.
class Silences {
 public:
  // Reads `path` when it exists; an unreadable or malformed file is an error that names it.
  static core::Result<std::unique_ptr<Silences>> Open(std::string path, const core::Clock& clock);

  // Creates a silence from Alertmanager's postableSilence JSON (or replaces the one whose id it
  // names); returns its id. The error says what is wrong with the body.
  core::Result<std::string> Post(std::string_view json);
  // Sets ends_at to now; an unknown or already expired id is an error.
  core::Status Expire(const std::string& id);
  // Alertmanager's gettableSilences: every silence with its status.
  std::string ListJson() const;
  // The id of an active silence whose matchers all match, or empty.
  std::string SilencedBy(const LabelSet& labels) const;
  std::size_t active() const;

 private:
  Silences(std::string path, const core::Clock& clock) : path_(std::move(path)), clock_(clock) {}
  core::Status SaveLocked() const;
  void Prune(core::TimePoint now);

  std::string path_;
  const core::Clock& clock_;
  mutable std::mutex mu_;
  std::vector<Silence> silences_;
  std::vector<Matchers> compiled_;  // parallel to silences_
};

}  // namespace obsgate::alerting
