#include "ingest/tail/tail_source.hpp"

#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <poll.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <map>
#include <set>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/log.hpp"
#include "ingest/tail/checkpoint.hpp"
#include "ingest/tail/tailed_file.hpp"
#include "ingest/tail/unique_fd.hpp"

namespace obsgate::ingest {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr std::size_t kReadChunk = 64 * 1024;
// Per file and pass, so one busy file cannot starve the others; the pass repeats at once.
constexpr int kChunksPerPass = 16;
// A renamed or deleted file is still read until it has been idle this long, for writers that
// reopen their log a moment after the rename (Fluent Bit's rotate_wait).
constexpr std::chrono::seconds kRotateWait{5};
// The longest sleep between two read passes when inotify says nothing (inotify can overflow, and
// some file systems, such as NFS, never report changes).
constexpr std::chrono::milliseconds kMaxIdleWait{1000};
// Files read to their end and closed, remembered so that a rename seen late does not start one
// again from byte 0.
constexpr std::size_t kFinishedKept = 256;
constexpr std::chrono::milliseconds kMinInterval{10};

std::string ErrnoText(int err) { return std::strerror(err); }

bool StatsEmpty(const IngestStats& s) {
  return s.lines == 0 && s.bytes == 0 && s.docker_errors == 0 && s.cri_errors == 0 &&
         s.unattributed == 0 && s.truncated == 0;
}

FileId IdOf(const struct stat& st) {
  return FileId{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)};
}

std::string_view BaseName(std::string_view path) {
  auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// The directory a pattern's matches live under, up to its first wildcard component.
std::string LiteralDir(const std::string& pattern) {
  std::size_t wild = pattern.find_first_of("*?[");
  std::string head = pattern.substr(0, wild);
  auto slash = head.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : head.substr(0, slash);
}

std::string DirOf(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// The path an open file has now (after renames); empty once it is deleted.
std::string CurrentPath(int fd) {
  std::array<char, 4096> buf;
  std::string link = "/proc/self/fd/" + std::to_string(fd);
  ssize_t n = ::readlink(link.c_str(), buf.data(), buf.size());
  if (n <= 0 || static_cast<std::size_t>(n) >= buf.size()) return {};
  std::string path(buf.data(), static_cast<std::size_t>(n));
  if (path.ends_with(" (deleted)")) return {};
  return path;
}

// Owns a glob_t's allocations.
struct GlobResult {
  glob_t g{};
  ~GlobResult() { globfree(&g); }
};

// Follows files; Start and Stop come from the owner's thread, everything else runs on the one
// reader thread, which owns the files, the counter and the checkpoint file.
class TailSource final : public Source {
 public:
  TailSource(std::string name, core::TailSourceConfig config, std::unique_ptr<LineCounter> counter,
             prometheus::Registry& registry)
      : name_(std::move(name)),
        config_(std::move(config)),
        format_(FormatFrom(config_.format)),
        labels_{config_.labels.ns, config_.labels.deployment, config_.labels.version},
        counter_(std::move(counter)),
        buffer_(kReadChunk) {
    max_message_bytes_ =
        static_cast<std::size_t>(std::max<std::uint64_t>(config_.max_line_size, 1));
    max_line_bytes_ = MaxLineBytes(format_, max_message_bytes_);
    // Registering an existing name again returns the same family, so a reload that builds a new
    // source with the same name keeps the same series. They are not removed on destruction: the
    // replacement may already hold them.
    auto& files = prometheus::BuildGauge()
                      .Name("obsgate_tail_files")
                      .Help(
                          "Files the tail source is following, rotated ones still being read "
                          "included.")
                      .Register(registry);
    auto& age = prometheus::BuildGauge()
                    .Name("obsgate_tail_checkpoint_age_seconds")
                    .Help(
                        "Seconds since the tail source last wrote its checkpoint file "
                        "successfully; 0 without checkpoints.")
                    .Register(registry);
    auto& rotations = prometheus::BuildCounter()
                          .Name("obsgate_tail_rotations_total")
                          .Help(
                              "File rotations seen by the tail source: rename (a new file at "
                              "the path) or truncate (copytruncate).")
                          .Register(registry);
    auto& errors = prometheus::BuildCounter()
                       .Name("obsgate_tail_read_errors_total")
                       .Help("Files the tail source could not open, stat or read.")
                       .Register(registry);
    files_gauge_ = &files.Add({{"source", name_}});
    checkpoint_age_ = &age.Add({{"source", name_}});
    renames_ = &rotations.Add({{"source", name_}, {"kind", "rename"}});
    truncations_ = &rotations.Add({{"source", name_}, {"kind", "truncate"}});
    read_errors_ = &errors.Add({{"source", name_}});
  }

  ~TailSource() override { Stop(); }

  core::Status Start(RecordSink& sink) override {
    if (started_) return core::Error{"tail source " + name_ + " was started already"};
    started_ = true;
    sink_ = &sink;
    wake_fd_.Reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!wake_fd_.valid()) {
      return core::Error{"tail source " + name_ +
                         ": cannot create an eventfd: " + ErrnoText(errno)};
    }
    inotify_fd_.Reset(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
    if (!inotify_fd_.valid()) {
      // Still correct without it, only slower to notice: files are polled every rescan.
      log::Warn("inotify unavailable; tail polls files instead",
                {{"source", name_},
                 {"error", ErrnoText(errno)},
                 {"hint", "raise fs.inotify.max_user_instances"}});
    }
    if (!config_.checkpoint_file.empty()) {
      auto restored = LoadCheckpoint(config_.checkpoint_file);
      if (!restored) return core::Error{"tail source " + name_ + ": " + restored.error()};
      restored_ = std::move(restored).value();
    }
    // The files this first scan finds are the ones "present at start".
    Rescan(/*initial=*/true);
    ResumeRotated();
    restored_.clear();  // entries of files gone while obsgate was stopped
    if (!config_.checkpoint_file.empty()) {
      core::Status written = WriteCheckpoint();
      if (!written) return core::Error{"tail source " + name_ + ": " + written.error()};
    }
    UpdateGauges();
    log::Info("tail source started", {{"source", name_},
                                      {"files", files_.size()},
                                      {"checkpoint_file", config_.checkpoint_file}});
    thread_ = std::thread([this] { Run(); });
    return core::Ok{};
  }

  void Stop() override {
    if (!thread_.joinable()) return;
    stop_.store(true);
    std::uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd_.get(), &one, sizeof one);
    thread_.join();
  }

  const std::string& name() const override { return name_; }

 private:
  void Run() {
    auto now = SteadyClock::now();
    // Zero intervals would spin; the configuration should not allow them, this makes sure.
    const auto rescan_interval = std::max(config_.rescan_interval, kMinInterval);
    const auto checkpoint_interval = std::max(config_.checkpoint_interval, kMinInterval);
    auto next_rescan = now + rescan_interval;
    auto next_checkpoint = now + checkpoint_interval;
    bool busy = true;
    while (!stop_.load()) {
      now = SteadyClock::now();
      auto until = std::min(next_rescan, now + kMaxIdleWait);
      if (!config_.checkpoint_file.empty()) until = std::min(until, next_checkpoint);
      int timeout_ms =
          busy ? 0
               : static_cast<int>(std::max<std::int64_t>(
                     0, std::chrono::ceil<std::chrono::milliseconds>(until - now).count()));
      std::array<pollfd, 2> fds{pollfd{wake_fd_.get(), POLLIN, 0},
                                pollfd{inotify_fd_.get(), POLLIN, 0}};
      ::poll(fds.data(), inotify_fd_.valid() ? 2 : 1, timeout_ms);
      if (stop_.load()) break;
      bool rescan = DrainEvents();
      now = SteadyClock::now();
      if (rescan || now >= next_rescan) {
        Rescan(/*initial=*/false);
        next_rescan = now + rescan_interval;
      }
      busy = ReadAll();
      if (!config_.checkpoint_file.empty() && SteadyClock::now() >= next_checkpoint) {
        core::Status s = WriteCheckpoint();
        if (!s && !checkpoint_failing_) {
          log::Warn("checkpoint not written; retrying every interval",
                    {{"source", name_}, {"error", s.error()}});
        } else if (s && checkpoint_failing_) {
          log::Info("checkpoint written again", {{"source", name_}});
        }
        checkpoint_failing_ = !s;
        next_checkpoint = SteadyClock::now() + checkpoint_interval;
      }
      UpdateGauges();
    }
    // Lines read but not yet ended stay for the next start; everything counted was delivered.
    if (!config_.checkpoint_file.empty()) {
      if (auto s = WriteCheckpoint(); !s) {
        log::Error("checkpoint not written at stop", {{"source", name_}, {"error", s.error()}});
      }
    }
    UpdateGauges();
  }

  bool Matches(std::string_view path) const {
    std::string p(path);
    bool matched = std::any_of(config_.paths.begin(), config_.paths.end(), [&](const auto& pat) {
      return ::fnmatch(pat.c_str(), p.c_str(), FNM_PATHNAME) == 0;
    });
    return matched && !Excluded(p);
  }

  bool Excluded(const std::string& path) const {
    std::string base(BaseName(path));
    return std::any_of(config_.exclude.begin(), config_.exclude.end(), [&](const auto& pat) {
      if (::fnmatch(pat.c_str(), base.c_str(), 0) == 0) return true;
      return pat.find('/') != std::string::npos &&
             ::fnmatch(pat.c_str(), path.c_str(), FNM_PATHNAME) == 0;
    });
  }

  // Reads what inotify has queued. True when a followed path may have been created, renamed or
  // removed, so the files must be matched again.
  bool DrainEvents() {
    std::uint64_t wakes;
    // EAGAIN when a timeout or inotify woke the thread, not Stop: nothing to do then.
    [[maybe_unused]] ssize_t n = ::read(wake_fd_.get(), &wakes, sizeof wakes);
    if (!inotify_fd_.valid()) return false;
    bool rescan = false;
    alignas(inotify_event) std::array<char, 16 * 1024> buf;
    for (;;) {
      n = ::read(inotify_fd_.get(), buf.data(), buf.size());
      if (n <= 0) break;
      for (std::size_t at = 0; at < static_cast<std::size_t>(n);) {
        const auto* ev = reinterpret_cast<const inotify_event*>(buf.data() + at);
        at += sizeof(inotify_event) + ev->len;
        if (ev->mask & IN_Q_OVERFLOW) {
          rescan = true;
          continue;
        }
        if (ev->mask & IN_IGNORED) {
          if (auto it = watches_.find(ev->wd); it != watches_.end()) {
            watched_dirs_.erase(it->second);
            watches_.erase(it);
          }
          continue;
        }
        auto dir = watches_.find(ev->wd);
        if (dir == watches_.end() || ev->len == 0) continue;
        std::string path = dir->second == "/" ? "/" : dir->second + "/";
        path += ev->name;  // NUL-padded; the string stops at the first NUL
        path.resize(std::strlen(path.c_str()));
        if (ev->mask & IN_MOVED_FROM) {
          if (Matches(path)) {
            if (moved_from_.size() > 1024) moved_from_.clear();  // pairs never completed
            moved_from_[ev->cookie] = path;
          }
        } else if (ev->mask & IN_MOVED_TO) {
          if (auto from = moved_from_.find(ev->cookie); from != moved_from_.end()) {
            moved_from_.erase(from);
            FollowRenamed(path);
          }
        }
        // In a directory the patterns name, only matching names matter; the others are where
        // symlinks point, and a rename or create there is the target's rotation.
        if ((ev->mask & (IN_CREATE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE)) &&
            (Matches(path) || !pattern_dirs_.contains(dir->second))) {
          rescan = true;
        }
      }
    }
    return rescan;
  }

  // A followed path was renamed to `path`. When that happened twice before this thread looked (a
  // file created and rotated away between two passes), the file now there was never opened: read
  // it as a rotated file from its start.
  void FollowRenamed(const std::string& path) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return;
    if (files_.contains(IdOf(st))) return;
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid() || ::fstat(fd.get(), &st) != 0) return;
    FileId id = IdOf(st);
    if (files_.contains(id) || WasFinished(id, fd.get())) return;
    TailedFile* f = Add(std::move(fd), id, path, /*initial=*/false, st);
    if (f == nullptr) return;
    f->rotated = true;
    renames_->Increment();
    log::Info("tail file rotated", {{"source", name_}, {"path", path}, {"kind", "rename"}});
  }

  bool WasFinished(const FileId& id, int fd) const {
    for (const auto& [fid, fp] : finished_) {
      if (fid != id) continue;
      auto check = ReadFingerprint(fd, &fp);
      return check && check->prefix_matches;
    }
    return false;
  }

  void Watch(const std::string& dir) {
    if (!inotify_fd_.valid() || watched_dirs_.contains(dir)) return;
    int wd = ::inotify_add_watch(
        inotify_fd_.get(), dir.c_str(),
        IN_CREATE | IN_MODIFY | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE | IN_ONLYDIR);
    if (wd < 0) return;  // not there yet: the next rescan tries again
    watched_dirs_[dir] = wd;
    watches_[wd] = dir;
  }

  void Rescan(bool initial) {
    auto now = SteadyClock::now();
    // Followed paths that now name another file, or nothing: the file was rotated or deleted.
    for (auto& [id, f] : files_) {
      if (f->rotated) continue;
      struct stat st;
      if (::stat(f->path().c_str(), &st) == 0 && IdOf(st) == id) {
        CheckRewritten(*f);
        continue;
      }
      f->rotated = true;
      f->last_data = now;
      struct stat own;
      bool renamed = ::fstat(f->fd(), &own) == 0 && own.st_nlink > 0;
      if (renamed) renames_->Increment();
      log::Info(renamed ? "tail file rotated" : "tail file deleted",
                {{"source", name_}, {"path", f->path()}, {"kind", renamed ? "rename" : "delete"}});
    }
    std::set<std::string> paths;
    for (const std::string& pattern : config_.paths) {
      pattern_dirs_.insert(LiteralDir(pattern));
      Watch(LiteralDir(pattern));
      GlobResult g;
      if (::glob(pattern.c_str(), GLOB_NOSORT, nullptr, &g.g) != 0) continue;
      for (std::size_t i = 0; i < g.g.gl_pathc; ++i) {
        std::string path = g.g.gl_pathv[i];
        if (!Excluded(path)) paths.insert(std::move(path));
      }
    }
    for (const std::string& path : paths) {
      struct stat st;
      if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      if (auto it = files_.find(IdOf(st)); it != files_.end()) {
        if (it->second->rotated) {
          // Renamed to a name that matches too: follow it there as a live file.
          it->second->rotated = false;
          it->second->set_path(path);
        }
        continue;
      }
      UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd.valid() || ::fstat(fd.get(), &st) != 0) {
        if (errno != ENOENT) ReportError(path, "open", errno);
        continue;
      }
      if (files_.contains(IdOf(st))) continue;
      Add(std::move(fd), IdOf(st), path, initial, st);
    }
  }

  // Files that were rotated away and still being read when obsgate stopped: their new names
  // need not match the patterns, so they are looked up where the checkpoint saw them last.
  void ResumeRotated() {
    std::vector<CheckpointEntry> left = restored_;
    for (const CheckpointEntry& e : left) {
      struct stat st;
      if (::stat(e.path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      FileId id = IdOf(st);
      if (id.device != e.device || id.inode != e.inode || files_.contains(id)) continue;
      if (static_cast<std::uint64_t>(st.st_size) <= e.offset) continue;  // nothing left to read
      UniqueFd fd(::open(e.path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd.valid() || ::fstat(fd.get(), &st) != 0 || IdOf(st) != id) continue;
      Fingerprint fp{e.fingerprint, e.fingerprint_bytes};
      auto check = ReadFingerprint(fd.get(), &fp);
      if (!check || !check->prefix_matches) continue;  // another file took the inode
      if (TailedFile* f = Add(std::move(fd), id, e.path, /*initial=*/true, st)) f->rotated = true;
    }
  }

  // Where a newly found file is read from.
  std::uint64_t StartOffset(const FileId& id, int fd, const std::string& path, std::uint64_t size,
                            bool initial) {
    for (auto it = restored_.begin(); it != restored_.end(); ++it) {
      if (it->device != id.device || it->inode != id.inode) continue;
      CheckpointEntry e = *it;
      restored_.erase(it);
      Fingerprint fp{e.fingerprint, e.fingerprint_bytes};
      auto check = ReadFingerprint(fd, &fp);
      if (check && check->prefix_matches && e.offset <= size) return e.offset;
      log::Info(check && !check->prefix_matches
                    ? "tail file has the inode of a checkpointed file but other first bytes; "
                      "reading it from the start"
                    : "tail file is shorter than its checkpoint; reading it from the start",
                {{"source", name_}, {"path", path}, {"checkpoint_offset", e.offset}});
      return 0;
    }
    // This path was followed before, by another file: the one here now came while obsgate was
    // stopped, and all of it is new.
    bool followed_before = std::any_of(restored_.begin(), restored_.end(),
                                       [&](const CheckpointEntry& e) { return e.path == path; });
    if (followed_before || !initial || config_.read_from_head) return 0;
    return size;
  }

  TailedFile* Add(UniqueFd fd, FileId id, const std::string& path, bool initial,
                  const struct stat& st) {
    auto size = static_cast<std::uint64_t>(st.st_size);
    std::uint64_t offset = StartOffset(id, fd.get(), path, size, initial);
    auto fp = ReadFingerprint(fd.get());
    if (!fp) {
      ReportError(path, "read", errno);
      return nullptr;
    }
    auto file = std::make_unique<TailedFile>(std::move(fd), id, path, offset, format_, labels_,
                                             max_message_bytes_, max_line_bytes_);
    file->set_fingerprint(fp->now);
    TailedFile* raw = file.get();
    files_.emplace(id, std::move(file));
    // Kubernetes' /var/log/containers/*.log are symlinks: writes show up as events in the
    // directory of the file they point to, not in the one the pattern names.
    Watch(DirOf(path));
    if (std::string real = CurrentPath(raw->fd()); !real.empty()) Watch(DirOf(real));
    log::Info("tail file followed", {{"source", name_}, {"path", path}, {"offset", offset}});
    return raw;
  }

  // A file truncated and written again past our offset between two looks keeps its size
  // growing; its first bytes tell.
  void CheckRewritten(TailedFile& f) {
    Fingerprint fp = f.fingerprint();
    auto check = ReadFingerprint(f.fd(), &fp);
    if (!check) return;
    if (!check->prefix_matches) {
      Truncated(f);
      return;
    }
    f.set_fingerprint(check->now);
  }

  void Truncated(TailedFile& f) {
    truncations_->Increment();
    log::Info(
        "tail file rotated",
        {{"source", name_}, {"path", f.path()}, {"kind", "truncate"}, {"offset", f.read_offset()}});
    f.Restart(*counter_);
    Deliver();
    if (auto check = ReadFingerprint(f.fd())) f.set_fingerprint(check->now);
  }

  // One pass over every file. True when some file has more to read right away.
  bool ReadAll() {
    bool more = false;
    auto now = SteadyClock::now();
    for (auto it = files_.begin(); it != files_.end();) {
      TailedFile& f = *it->second;
      bool at_end = false;
      bool got = false;
      int chunks = 0;
      for (; chunks < kChunksPerPass; ++chunks) {
        auto r = f.Read(*counter_, buffer_);
        if (r == TailedFile::ReadResult::kData) {
          got = true;
          continue;
        }
        if (r == TailedFile::ReadResult::kError) ReportError(f.path(), "read", errno);
        at_end = r == TailedFile::ReadResult::kEnd;
        break;
      }
      if (chunks == kChunksPerPass) more = true;
      if (got) {
        Deliver();
        f.MarkDelivered();
        if (f.fingerprint().bytes < kFingerprintBytes) CheckRewritten(f);
      }
      if (at_end) {
        struct stat st;
        if (::fstat(f.fd(), &st) == 0 && static_cast<std::uint64_t>(st.st_size) < f.read_offset()) {
          Truncated(f);
          more = true;
        } else if (f.rotated && now - f.last_data >= kRotateWait) {
          f.Finish(*counter_);
          Deliver();
          log::Info("tail file closed", {{"source", name_}, {"path", f.path()}});
          if (finished_.size() >= kFinishedKept) finished_.pop_front();
          finished_.emplace_back(f.id(), f.fingerprint());
          it = files_.erase(it);
          continue;
        }
      }
      ++it;
    }
    return more;
  }

  void Deliver() {
    IngestStats& stats = counter_->stats();
    if (counter_->counts().empty() && StatsEmpty(stats)) return;
    sink_->Deliver(name_, counter_->counts(), stats);
    stats = IngestStats{};
  }

  core::Status WriteCheckpoint() {
    std::vector<CheckpointEntry> entries;
    entries.reserve(files_.size());
    for (const auto& [id, f] : files_) {
      // A rotated file is found again after a restart only if its new name matches.
      std::string path = f->rotated ? CurrentPath(f->fd()) : f->path();
      if (path.empty()) continue;
      entries.push_back(CheckpointEntry{path, id.device, id.inode, f->fingerprint().hash,
                                        f->fingerprint().bytes, f->delivered()});
    }
    core::Status s = SaveCheckpoint(config_.checkpoint_file, entries);
    if (s) last_checkpoint_ = SteadyClock::now();
    return s;
  }

  void UpdateGauges() {
    files_gauge_->Set(static_cast<double>(files_.size()));
    if (!config_.checkpoint_file.empty() && last_checkpoint_) {
      checkpoint_age_->Set(
          std::chrono::duration<double>(SteadyClock::now() - *last_checkpoint_).count());
    }
  }

  // Counted every time; logged once per path, so a file that stays unreadable is not a flood.
  void ReportError(const std::string& path, std::string_view what, int err) {
    read_errors_->Increment();
    if (reported_.size() > 4096) reported_.clear();
    if (!reported_.insert(path).second) return;
    log::Warn("tail cannot read a file", {{"source", name_},
                                          {"path", path},
                                          {"operation", what},
                                          {"error", ErrnoText(err)},
                                          {"hint", "check the file's permissions"}});
  }

  std::string name_;
  core::TailSourceConfig config_;
  Format format_;
  SourceLabels labels_;
  std::size_t max_message_bytes_ = 0;
  std::size_t max_line_bytes_ = 0;
  std::unique_ptr<LineCounter> counter_;
  std::vector<char> buffer_;
  RecordSink* sink_ = nullptr;

  bool started_ = false;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  UniqueFd wake_fd_;
  UniqueFd inotify_fd_;
  std::unordered_map<int, std::string> watches_;  // watch descriptor -> directory
  std::map<std::string, int> watched_dirs_;
  std::set<std::string> pattern_dirs_;  // the directories the patterns name before a wildcard
  std::unordered_map<std::uint32_t, std::string> moved_from_;  // rename cookie -> old path

  std::map<FileId, std::unique_ptr<TailedFile>> files_;
  std::vector<CheckpointEntry> restored_;  // the checkpoint read at start, until matched
  std::deque<std::pair<FileId, Fingerprint>> finished_;
  std::set<std::string> reported_;
  std::optional<SteadyClock::time_point> last_checkpoint_;
  bool checkpoint_failing_ = false;

  prometheus::Gauge* files_gauge_ = nullptr;
  prometheus::Gauge* checkpoint_age_ = nullptr;
  prometheus::Counter* renames_ = nullptr;
  prometheus::Counter* truncations_ = nullptr;
  prometheus::Counter* read_errors_ = nullptr;
};

}  // namespace

core::Result<std::unique_ptr<Source>> MakeTailSource(std::string name,
                                                     const core::TailSourceConfig& config,
                                                     const ClassifyOptions& classify,
                                                     prometheus::Registry& registry) {
  if (config.paths.empty()) {
    return core::Error{"tail source " + name + ": no paths to follow; give paths: [\"DIR/*.log\"]"};
  }
  auto counter = LineCounter::Create(classify);
  if (!counter) return core::Error{"tail source " + name + ": " + counter.error()};
  return std::unique_ptr<Source>(
      new TailSource(std::move(name), config, std::move(counter).value(), registry));
}

}  // namespace obsgate::ingest
