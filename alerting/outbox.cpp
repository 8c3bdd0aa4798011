#include "alerting/outbox.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "core/atomic_file.hpp"
#include "core/log.hpp"

namespace obsgate::alerting {
namespace {

// Rewrite the file once this many notifications have finished since the last rewrite.
constexpr std::size_t kCompactAfter = 1000;

}  // namespace

core::Result<std::unique_ptr<Outbox>> Outbox::Open(std::string path) {
  std::unique_ptr<Outbox> out(new Outbox(std::move(path)));
  if (std::filesystem::exists(out->path_)) {
    auto text = core::ReadWholeFile(out->path_);
    if (!text) return core::Error{text.error()};
    std::istringstream lines(*text);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.starts_with("A ")) {
        auto n = NotificationFromJson(std::string_view(line).substr(2));
        if (!n) {
          ++out->skipped_;
          continue;
        }
        if (!out->pending_.contains(n->id)) out->order_.push_back(n->id);
        out->pending_[n->id] = line;
        out->replay_.push_back(std::move(n).value());
      } else if (line.starts_with("D ")) {
        std::string id = line.substr(2, line.find(' ', 2) - 2);
        out->pending_.erase(id);
      } else if (!line.empty()) {
        ++out->skipped_;
      }
    }
    std::erase_if(out->replay_,
                  [&](const Notification& n) { return !out->pending_.contains(n.id); });
    if (out->skipped_ > 0) {
      log::Warn("outbox lines could not be read and were skipped (a crash mid-write leaves one)",
                {{"file", out->path_}, {"lines", out->skipped_}});
    }
  }
  std::lock_guard lock(out->mu_);
  if (core::Status s = out->CompactLocked(); !s) return core::Error{s.error()};
  return out;
}

Outbox::~Outbox() {
  if (fd_ >= 0) ::close(fd_);
}

core::Status Outbox::CompactLocked() {
  std::erase_if(order_, [&](const std::string& id) { return !pending_.contains(id); });
  std::string content;
  for (const std::string& id : order_) content += pending_.at(id) + "\n";
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (core::Status s = core::WriteFileAtomically(path_, content); !s) return s;
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd_ < 0) return core::Error{"cannot open the outbox " + path_ + ": " + std::strerror(errno)};
  done_since_compaction_ = 0;
  return core::Ok{};
}

core::Status Outbox::AppendLocked(const std::string& line) {
  std::string data = line + "\n";
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return core::Error{"cannot write the outbox " + path_ + ": " + std::strerror(errno)};
    done += static_cast<std::size_t>(n);
  }
  if (::fdatasync(fd_) != 0) {
    return core::Error{"cannot sync the outbox " + path_ + ": " + std::strerror(errno)};
  }
  return core::Ok{};
}

core::Status Outbox::Add(const Notification& n) {
  std::string line = "A " + NotificationToJson(n);
  std::lock_guard lock(mu_);
  if (core::Status s = AppendLocked(line); !s) return s;
  if (!pending_.contains(n.id)) order_.push_back(n.id);
  pending_[n.id] = std::move(line);
  return core::Ok{};
}

core::Status Outbox::Done(const std::string& id, std::string_view result) {
  std::lock_guard lock(mu_);
  if (pending_.erase(id) == 0) return core::Ok{};
  if (core::Status s = AppendLocked("D " + id + " " + std::string(result)); !s) return s;
  if (++done_since_compaction_ >= kCompactAfter) return CompactLocked();
  return core::Ok{};
}

std::vector<Notification> Outbox::TakeReplay() {
  std::lock_guard lock(mu_);
  std::vector<Notification> out;
  for (Notification& n : replay_) {
    if (pending_.contains(n.id)) out.push_back(std::move(n));
  }
  replay_.clear();
  return out;
}

std::size_t Outbox::depth() const {
  std::lock_guard lock(mu_);
  return pending_.size();
}

}  // namespace obsgate::alerting
