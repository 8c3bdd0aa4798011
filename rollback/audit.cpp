#include "rollback/audit.hpp"

#include <fcntl.h>
#include <simdjson.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "core/atomic_file.hpp"
#include "core/json.hpp"
#include "core/time.hpp"

namespace obsgate::rollback {

std::string RollbackEventJson(const RollbackEvent& e) {
  std::string values = "{";
  for (std::size_t i = 0; i < e.values.size(); ++i) {
    values += (i ? "," : "") + core::JsonQuote(e.values[i].first) + ":" +
              core::JsonNumber(e.values[i].second);
  }
  values += "}";
  auto q = [](const std::string& s) { return core::JsonQuote(s); };
  return "{\"id\":" + q(e.id) + ",\"at\":\"" + core::FormatRfc3339(e.at) +
         "\",\"namespace\":" + q(e.target.ns) + ",\"deployment\":" + q(e.target.deployment) +
         ",\"badVersion\":" + q(e.bad_version) + ",\"baselineVersion\":" + q(e.baseline_version) +
         ",\"origin\":" + q(e.origin) + ",\"forced\":" + (e.forced ? "true" : "false") +
         ",\"verdict\":" + q(e.verdict) + ",\"guard\":" + q(e.guard) +
         ",\"reason\":" + q(e.reason) + ",\"result\":" + q(e.result) +
         ",\"message\":" + q(e.message) + ",\"fromVersion\":" + q(e.from_version) +
         ",\"toVersion\":" + q(e.to_version) + ",\"toRevision\":" + q(e.to_revision) +
         ",\"values\":" + values + ",\"detail\":" + q(e.detail) + "}";
}

core::Result<std::unique_ptr<AuditLog>> AuditLog::Open(std::string path, std::size_t keep) {
  std::unique_ptr<AuditLog> log(new AuditLog(std::move(path), keep));
  if (log->path_.empty()) return log;
  if (std::filesystem::exists(log->path_)) {
    auto text = core::ReadWholeFile(log->path_);
    if (!text) return core::Error{text.error()};
    std::istringstream lines(*text);
    std::string line;
    while (std::getline(lines, line)) {
      // A torn last line (a crash mid-write) is not valid JSON: leave it out of the API.
      if (line.empty() || line.front() != '{' || line.back() != '}') continue;
      log->recent_lines_.push_back(line);
      if (log->recent_lines_.size() > keep) log->recent_lines_.pop_front();
    }
  }
  log->fd_ = ::open(log->path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (log->fd_ < 0) {
    return core::Error{"cannot open the rollback audit log " + log->path_ + ": " +
                       std::strerror(errno)};
  }
  return log;
}

AuditLog::~AuditLog() {
  if (fd_ >= 0) ::close(fd_);
}

core::Status AuditLog::Append(const RollbackEvent& e) {
  std::string line = RollbackEventJson(e) + "\n";
  std::lock_guard lock(mu_);
  recent_.push_front(e);
  while (recent_.size() + recent_lines_.size() > keep_ && !recent_lines_.empty()) {
    recent_lines_.pop_front();
  }
  while (recent_.size() > keep_) recent_.pop_back();
  if (fd_ < 0) return core::Ok{};
  std::size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      return core::Error{"cannot write the audit log " + path_ + ": " + std::strerror(errno)};
    done += static_cast<std::size_t>(n);
  }
  if (::fdatasync(fd_) != 0) {
    return core::Error{"cannot sync the audit log " + path_ + ": " + std::strerror(errno)};
  }
  return core::Ok{};
}

std::string AuditLog::RecentJson() const {
  std::lock_guard lock(mu_);
  std::string out = "[";
  bool first = true;
  for (const RollbackEvent& e : recent_) {
    out += (first ? "" : ",") + RollbackEventJson(e);
    first = false;
  }
  for (auto it = recent_lines_.rbegin(); it != recent_lines_.rend(); ++it) {
    out += (first ? "" : ",") + *it;
    first = false;
  }
  return out + "]";
}

std::vector<RollbackEvent> AuditLog::Past() const {
  std::lock_guard lock(mu_);
  std::vector<RollbackEvent> out;
  simdjson::dom::parser parser;
  for (const std::string& line : recent_lines_) {
    simdjson::dom::object o;
    if (parser.parse(line).get_object().get(o)) continue;
    RollbackEvent e;
    auto text = [&](const char* key) {
      std::string_view v;
      return o[key].get_string().get(v) ? std::string() : std::string(v);
    };
    auto at = core::ParseRfc3339(text("at"));
    if (!at) continue;
    e.at = *at;
    e.target = {text("namespace"), text("deployment")};
    e.bad_version = text("badVersion");
    e.result = text("result");
    e.origin = text("origin");
    e.to_version = text("toVersion");
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<RollbackEvent> AuditLog::Recent() const {
  std::lock_guard lock(mu_);
  return {recent_.begin(), recent_.end()};
}

}  // namespace obsgate::rollback
