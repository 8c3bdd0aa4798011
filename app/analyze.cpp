#include "app/analyze.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <thread>
#include <unordered_map>

#include "core/json.hpp"
#include "core/result.hpp"
#include "core/time.hpp"
#include "core/units.hpp"
#include "ingest/line_cutter.hpp"
#include "ingest/pipeline.hpp"
#include "ingest/tail/unique_fd.hpp"

namespace obsgate::app {

const char* const kAnalyzeHelp =
    "usage: obsgate analyze [--format docker|cri|raw|auto] [--window 5m] [--threads N] [--json]\n"
    "                       FILE...\n\n"
    "Runs obsgate's log pipeline (parse, classify, attribute, count) over log files offline and\n"
    "prints, per series (namespace, deployment, version): requests, errors and their rate over\n"
    "the whole file and over the last --window before the newest timestamp, log lines, error\n"
    "lines, and the first and last timestamps. FILE - reads standard input. Kubernetes log paths\n"
    "(/var/log/containers/..., /var/log/pods/...) give the series; so do JSON fields.\n\n"
    "  --format F   docker (json-file), cri, raw (application lines), auto (default: per line)\n"
    "  --window W   the recent window, default 5m\n"
    "  --threads N  threads reading files (large ones in pieces), default one per core; the\n"
    "               counts are the same for any N\n"
    "  --json       one JSON document instead of a table\n";

namespace {

struct SeriesReport {
  core::Counts total;
  std::unordered_map<std::int64_t, core::Counts> by_second;  // log time, whole seconds
  std::optional<core::TimePoint> first, last;

  void Saw(core::TimePoint t) {
    first = first ? std::min(*first, t) : t;
    last = last ? std::max(*last, t) : t;
  }
};

std::string Rate(std::uint64_t errors, std::uint64_t requests) {
  if (requests == 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%",
                100.0 * static_cast<double>(errors) / static_cast<double>(requests));
  return buf;
}

std::string JsonRate(std::uint64_t errors, std::uint64_t requests) {
  if (requests == 0) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g",
                static_cast<double>(errors) / static_cast<double>(requests));
  return buf;
}

// Where one stream of a file stands: its cutting into lines, framing and joining, and the time of
// the message it counted last. Owned by the thread reading the stream.
struct StreamState {
  StreamState(ingest::Format format, const std::string& name)
      : lines(ingest::MaxLineBytes(format, kMaxMessageBytes), kMaxMessageBytes),
        stream(format, name, {}, kMaxMessageBytes) {}
  // As the gateway's tail reads files by default: a message of up to 1 MiB.
  static constexpr std::size_t kMaxMessageBytes = 1 << 20;
  ingest::LineCutter lines;
  ingest::LogStream stream;
  std::optional<core::TimePoint> time;
};

// The counts of the messages one thread read, per series and per second of log time, until they
// are added to the report. Owned by one thread.
class Tally {
 public:
  Tally(std::unique_ptr<ingest::LineCounter> counter, std::int64_t window_seconds)
      : counter_(std::move(counter)), window_seconds_(window_seconds) {}

  // Reads what `read(buffer, room)` gives, block by block into `buffer` (the reading thread's),
  // until it gives nothing, and counts every line of it; the last needs no "\n".
  template <typename ReadFn>
  void Read(StreamState& s, std::string& buffer, ReadFn&& read) {
    if (buffer.size() < kBlock) buffer.resize(kBlock);
    auto feed = [&](std::string_view line) { Feed(s, line); };
    while (const std::size_t got = read(buffer.data(), buffer.size())) {
      s.lines.Consume(std::string_view(buffer.data(), got), counter_->stats(), feed);
    }
    s.lines.Finish(feed);
  }

  // Messages cut off by the end of the stream count at the time of the last one read.
  void Finish(StreamState& s) {
    while (s.stream.FinishOne(*counter_)) Track(s.time);
  }

  // Adds everything counted to `series`, keyed by series, and the newest second to `newest`.
  void AddTo(std::unordered_map<core::SeriesKey, SeriesReport, core::SeriesKeyHash>& series,
             std::optional<std::int64_t>& newest, ingest::IngestStats& stats) {
    counter_->counts().Drain([&](const core::SeriesKey& key, const core::Counts& c) {
      SeriesReport& r = series[key];
      r.total += c;
      auto it = tracks_.find(&c);
      if (it == tracks_.end()) return;
      for (const auto& [second, counts] : it->second.by_second) r.by_second[second] += counts;
      for (const std::optional<core::TimePoint>& t : {it->second.first, it->second.last}) {
        if (t) r.Saw(*t);
      }
    });
    tracks_.clear();
    tracked_ = nullptr;
    if (newest_ && (!newest || *newest_ > *newest)) newest = newest_;
    stats += counter_->stats();
    counter_->stats() = {};
  }

 private:
  static constexpr std::size_t kBlock = 1 << 20;

  void Feed(StreamState& s, std::string_view line) {
    std::optional<std::string_view> time = s.stream.Feed(line, *counter_);
    if (!time) return;
    s.time = time_reader_.Parse(*time);
    Track(s.time);
  }

  // What the message just counted added to its series goes to its second of log time. A series is
  // known by the address of its counts, which stays the same until AddTo.
  void Track(std::optional<core::TimePoint> time) {
    const core::Counts* counts = counter_->counts().last();
    if (counts != tracked_) {
      tracked_ = counts;
      track_ = &tracks_[counts];
    }
    SeriesReport& r = *track_;
    core::Counts added = *counts;
    added -= r.total;
    r.total = *counts;
    if (!time) return;
    r.Saw(*time);
    const std::int64_t second =
        std::chrono::duration_cast<std::chrono::seconds>(time->time_since_epoch()).count();
    if (!newest_ || second > *newest_) newest_ = second;
    r.by_second[second] += added;
    // Seconds at or before newest - window can never be in the window at the end: let them go
    // once they outnumber the window's, so a long file keeps a window's worth per series.
    if (r.by_second.size() > 2 * static_cast<std::size_t>(window_seconds_) + 64) {
      const std::int64_t from = *newest_ - window_seconds_;
      std::erase_if(r.by_second, [&](const auto& entry) { return entry.first <= from; });
    }
  }

  std::unique_ptr<ingest::LineCounter> counter_;
  std::int64_t window_seconds_;
  core::Rfc3339Reader time_reader_;
  std::unordered_map<const core::Counts*, SeriesReport> tracks_;
  const core::Counts* tracked_ = nullptr;
  SeriesReport* track_ = nullptr;
  std::optional<std::int64_t> newest_;
};

// One input, open. A regular file with bytes in it is read with pread, so that threads share it and
// a file cut short while it is read only ends early; anything else (standard input, a pipe) is read
// as a stream.
class LogFile {
 public:
  // null when `path` cannot be opened; "-" is standard input.
  static std::unique_ptr<LogFile> Open(const std::string& path) {
    ingest::UniqueFd fd(path == "-" ? ::dup(STDIN_FILENO)
                                    : ::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return nullptr;
    struct stat st {};
    const bool regular = ::fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
    return std::unique_ptr<LogFile>(
        new LogFile(std::move(fd), regular ? static_cast<std::uint64_t>(st.st_size) : 0));
  }
  // 0 for a stream, which is read in one piece with Read.
  std::uint64_t size() const { return size_; }

  // Up to `room` bytes from `offset`, stopping at `end`; 0 at the end or on an error.
  std::size_t ReadAt(char* buffer, std::size_t room, std::uint64_t offset,
                     std::uint64_t end) const {
    if (offset >= end) return 0;
    room = static_cast<std::size_t>(std::min<std::uint64_t>(room, end - offset));
    return Retried([&] { return ::pread(fd_.get(), buffer, room, static_cast<off_t>(offset)); });
  }
  // The next bytes of a stream; 0 at its end or on an error.
  std::size_t Read(char* buffer, std::size_t room) const {
    return Retried([&] { return ::read(fd_.get(), buffer, room); });
  }

  // The offset just after the first '\n' at or after `offset`; size() when there is none.
  std::uint64_t LineEndAfter(std::uint64_t offset) const {
    char window[64 * 1024];
    while (std::size_t got = ReadAt(window, sizeof window, offset, size_)) {
      if (const void* nl = std::memchr(window, '\n', got)) {
        return offset + static_cast<std::uint64_t>(static_cast<const char*>(nl) - window) + 1;
      }
      offset += got;
    }
    return size_;
  }

 private:
  LogFile(ingest::UniqueFd fd, std::uint64_t size) : fd_(std::move(fd)), size_(size) {}
  template <typename Call>
  static std::size_t Retried(Call&& call) {
    for (;;) {
      const ssize_t n = call();
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno != EINTR) return 0;
    }
  }
  ingest::UniqueFd fd_;
  std::uint64_t size_;
};

class Analysis {
 public:
  Analysis(ingest::Format format, core::Duration window, unsigned threads)
      : format_(format),
        window_(window),
        window_seconds_(std::chrono::duration_cast<std::chrono::seconds>(window).count()),
        threads_(threads) {}

  // A regular file is opened here to learn its size and again by each reader of a piece of it,
  // so that no more files are open at once than there are threads, however many are given; a
  // stream (standard input, a pipe) is kept open, as it can only be read once.
  core::Status Add(const std::string& path) {
    std::unique_ptr<LogFile> file = LogFile::Open(path);
    if (!file) return CannotRead(path);
    const std::uint64_t size = file->size();
    if (size > 0) file.reset();
    inputs_.push_back(Input{path, size, std::move(file)});
    return core::Ok{};
  }

  // Reads every input. Regular files are cut into pieces at line ends, read by `threads` threads
  // at once. A piece after the first starts with nothing half-joined, which holds unless the piece
  // before ends inside a message docker or the runtime split: then it is read again after the
  // piece before, so the counts are always those of one reader going through the file in order.
  core::Status Run() {
    std::vector<Piece> pieces;
    for (std::size_t i = 0; i < inputs_.size(); ++i) {
      const std::uint64_t size = inputs_[i].size;
      if (size == 0) continue;
      const std::uint64_t n = std::clamp<std::uint64_t>(size / kMinPiece, 1, threads_);
      std::unique_ptr<LogFile> file;
      if (n > 1 && !(file = LogFile::Open(inputs_[i].path))) return CannotRead(inputs_[i].path);
      std::uint64_t begin = 0;
      for (std::uint64_t k = 0; k < n && begin < size; ++k) {
        // Within the size Add saw, should the file have changed since.
        const std::uint64_t end =
            k + 1 == n
                ? size
                : std::clamp(file->LineEndAfter(begin + (size - begin) / (n - k)), begin, size);
        pieces.push_back(Piece{i, static_cast<std::size_t>(k), begin, end, nullptr, nullptr});
        begin = end;
      }
    }
    // The first piece of a file counts into its thread's tally; a later one into a tally of its
    // own, kept only if the piece before ended with nothing half-joined.
    const std::size_t workers = std::clamp<std::size_t>(pieces.size(), 1, threads_);
    std::vector<std::unique_ptr<Tally>> tallies;
    for (std::size_t t = 0; t < workers; ++t) {
      auto tally = NewTally();
      if (!tally) return core::Error{tally.error()};
      tallies.push_back(std::move(tally).value());
    }
    for (Piece& p : pieces) {
      if (p.index == 0) continue;
      auto tally = NewTally();
      if (!tally) return core::Error{tally.error()};
      p.own = std::move(tally).value();
    }
    std::atomic<std::size_t> next{0};
    std::vector<std::string> buffers(workers);  // one per thread
    std::atomic<bool> unread{false};
    auto work = [&](Tally& tally, std::string& buffer) {
      for (std::size_t i = next++; i < pieces.size(); i = next++) {
        Piece& p = pieces[i];
        p.state = std::make_unique<StreamState>(format_, inputs_[p.input].path);
        if (!Read(p.own ? *p.own : tally, *p.state, buffer, p)) unread = true;
      }
    };
    {
      std::vector<std::jthread> helpers;
      for (std::size_t t = 1; t < workers; ++t) {
        helpers.emplace_back([&, t] { work(*tallies[t], buffers[t]); });
      }
      work(*tallies[0], buffers[0]);
    }
    if (unread) {
      for (const Piece& p : pieces) {
        if (p.unread) return CannotRead(inputs_[p.input].path);
      }
    }
    Tally& main = *tallies[0];
    StreamState* current = nullptr;
    for (std::size_t i = 0; i < pieces.size(); ++i) {
      Piece& p = pieces[i];
      if (p.index > 0 && current->stream.HasPending()) {
        // Continues a split message: read again, in order.
        if (!Read(main, *current, buffers[0], p)) return CannotRead(inputs_[p.input].path);
      } else {
        if (p.own) p.own->AddTo(series_, newest_, stats_);
        current = p.state.get();
      }
      if (i + 1 == pieces.size() || pieces[i + 1].index == 0) main.Finish(*current);
    }
    for (const Input& in : inputs_) {
      if (!in.stream) continue;
      StreamState s(format_, in.path == "-" ? "" : in.path);
      main.Read(s, buffers[0],
                [&](char* buffer, std::size_t room) { return in.stream->Read(buffer, room); });
      main.Finish(s);
    }
    for (auto& t : tallies) t->AddTo(series_, newest_, stats_);
    return core::Ok{};
  }

  core::Counts Recent(const SeriesReport& r) const {
    core::Counts sum;
    if (!newest_) return sum;
    const std::int64_t from = *newest_ - window_seconds_;
    for (const auto& [second, counts] : r.by_second) {
      if (second > from) sum += counts;
    }
    return sum;
  }

  void PrintTable() const {
    std::string w = core::FormatDuration(window_);
    int ns_w = 9, dep_w = 10, ver_w = 7;  // at least as wide as the headings
    for (const auto& [key, r] : series_) {
      ns_w = std::max(ns_w, static_cast<int>(key.ns.size()));
      dep_w = std::max(dep_w, static_cast<int>(key.deployment.size()));
      ver_w = std::max(ver_w, static_cast<int>(key.version.size()));
    }
    std::printf("%-*s %-*s %-*s %10s %8s %8s %10s %8s %10s %9s  %-24s %s\n", ns_w, "NAMESPACE",
                dep_w, "DEPLOYMENT", ver_w, "VERSION", "REQUESTS", "ERRORS", "RATE",
                ("REQ_" + w).c_str(), ("RATE_" + w).c_str(), "LINES", "ERR_LINES", "FIRST", "LAST");
    for (const auto& [key, r] : Sorted()) {
      core::Counts recent = Recent(*r);
      std::printf("%-*s %-*s %-*s %10llu %8llu %8s %10llu %8s %10llu %9llu  %-24s %s\n", ns_w,
                  key->ns.empty() ? "-" : key->ns.c_str(), dep_w, key->deployment.c_str(), ver_w,
                  key->version.empty() ? "-" : key->version.c_str(),
                  static_cast<unsigned long long>(r->total.requests),
                  static_cast<unsigned long long>(r->total.errors),
                  Rate(r->total.errors, r->total.requests).c_str(),
                  static_cast<unsigned long long>(recent.requests),
                  Rate(recent.errors, recent.requests).c_str(),
                  static_cast<unsigned long long>(r->total.log_lines),
                  static_cast<unsigned long long>(r->total.error_lines),
                  r->first ? core::FormatRfc3339(*r->first).c_str() : "-",
                  r->last ? core::FormatRfc3339(*r->last).c_str() : "-");
    }
    const ingest::IngestStats& s = stats_;
    std::printf(
        "\n%llu lines in %zu series; %llu docker and %llu CRI lines rejected; "
        "%llu unattributed; %llu cut at the maximum line size\n",
        static_cast<unsigned long long>(s.lines), series_.size(),
        static_cast<unsigned long long>(s.docker_errors),
        static_cast<unsigned long long>(s.cri_errors),
        static_cast<unsigned long long>(s.unattributed),
        static_cast<unsigned long long>(s.truncated));
  }

  void PrintJson() const {
    std::string out = "{\"window\":\"" + core::FormatDuration(window_) + "\",\"series\":[";
    bool first = true;
    for (const auto& [key, r] : Sorted()) {
      core::Counts recent = Recent(*r);
      out += first ? "" : ",";
      first = false;
      out += "{\"namespace\":" + core::JsonQuote(key->ns) +
             ",\"deployment\":" + core::JsonQuote(key->deployment) +
             ",\"version\":" + core::JsonQuote(key->version) +
             ",\"requests\":" + std::to_string(r->total.requests) +
             ",\"errors\":" + std::to_string(r->total.errors) +
             ",\"error_rate\":" + JsonRate(r->total.errors, r->total.requests) +
             ",\"window_requests\":" + std::to_string(recent.requests) +
             ",\"window_errors\":" + std::to_string(recent.errors) +
             ",\"window_error_rate\":" + JsonRate(recent.errors, recent.requests) +
             ",\"log_lines\":" + std::to_string(r->total.log_lines) +
             ",\"log_error_lines\":" + std::to_string(r->total.error_lines) +
             ",\"first\":" + (r->first ? "\"" + core::FormatRfc3339(*r->first) + "\"" : "null") +
             ",\"last\":" + (r->last ? "\"" + core::FormatRfc3339(*r->last) + "\"" : "null") + "}";
    }
    const ingest::IngestStats& s = stats_;
    out += "],\"lines\":" + std::to_string(s.lines) +
           ",\"rejected\":{\"docker\":" + std::to_string(s.docker_errors) +
           ",\"cri\":" + std::to_string(s.cri_errors) +
           "},\"unattributed\":" + std::to_string(s.unattributed) +
           ",\"truncated\":" + std::to_string(s.truncated) + "}\n";
    std::fputs(out.c_str(), stdout);
  }

 private:
  std::vector<std::pair<const core::SeriesKey*, const SeriesReport*>> Sorted() const {
    std::vector<std::pair<const core::SeriesKey*, const SeriesReport*>> v;
    for (const auto& [k, r] : series_) v.emplace_back(&k, &r);
    std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
      return std::tie(a.first->ns, a.first->deployment, a.first->version) <
             std::tie(b.first->ns, b.first->deployment, b.first->version);
    });
    return v;
  }

  // Pieces of a file smaller than this are not worth a thread.
  static constexpr std::size_t kMinPiece = 4 << 20;

  struct Input {
    std::string path;
    std::uint64_t size;               // of a regular file; 0 for a stream
    std::unique_ptr<LogFile> stream;  // a stream's, open since Add
  };
  struct Piece {
    std::size_t input;
    std::size_t index;  // within its file
    std::uint64_t begin, end;
    std::unique_ptr<Tally> own;  // for index > 0
    std::unique_ptr<StreamState> state;
    bool unread = false;  // the file could not be opened again
  };

  static core::Error CannotRead(const std::string& path) {
    return core::Error{"cannot read " + path + "; check the path and permissions"};
  }

  // Reads piece `p` of a regular file, opened for it; false when it cannot be opened again.
  bool Read(Tally& tally, StreamState& state, std::string& buffer, Piece& p) const {
    const std::unique_ptr<LogFile> file = LogFile::Open(inputs_[p.input].path);
    if (!file) {
      p.unread = true;
      return false;
    }
    std::uint64_t offset = p.begin;
    tally.Read(state, buffer, [&](char* into, std::size_t room) {
      const std::size_t got = file->ReadAt(into, room, offset, p.end);
      offset += got;
      return got;
    });
    return true;
  }

  core::Result<std::unique_ptr<Tally>> NewTally() const {
    auto counter = ingest::LineCounter::Create(ingest::ClassifyOptions{});
    if (!counter) return core::Error{counter.error()};
    return std::make_unique<Tally>(std::move(counter).value(), window_seconds_);
  }

  ingest::Format format_;
  core::Duration window_;
  std::int64_t window_seconds_;
  unsigned threads_;
  std::vector<Input> inputs_;
  std::unordered_map<core::SeriesKey, SeriesReport, core::SeriesKeyHash> series_;
  std::optional<std::int64_t> newest_;
  ingest::IngestStats stats_;
};

}  // namespace

int Analyze(std::vector<std::string> args) {
  ingest::Format format = ingest::Format::kAuto;
  core::Duration window = std::chrono::minutes(5);
  bool json = false;
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::string> files;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const char* flag) -> std::optional<std::string> {
      if (i + 1 >= args.size()) {
        std::cerr << "obsgate analyze: " << flag << " needs a value\n";
        return std::nullopt;
      }
      return args[++i];
    };
    if (a == "--json") {
      json = true;
    } else if (a == "--format") {
      auto v = value("--format");
      if (!v) return 2;
      if (*v == "docker") {
        format = ingest::Format::kDocker;
      } else if (*v == "cri") {
        format = ingest::Format::kCri;
      } else if (*v == "raw") {
        format = ingest::Format::kRaw;
      } else if (*v == "auto") {
        format = ingest::Format::kAuto;
      } else {
        std::cerr << "obsgate analyze: unknown format \"" << *v
                  << "\"; use docker, cri, raw or auto\n";
        return 2;
      }
    } else if (a == "--threads") {
      auto v = value("--threads");
      if (!v) return 2;
      unsigned n = 0;
      auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
      if (ec != std::errc() || end != v->data() + v->size() || n < 1 || n > 256) {
        std::cerr << "obsgate analyze: --threads: \"" << *v << "\" is no number from 1 to 256\n";
        return 2;
      }
      threads = n;
    } else if (a == "--window") {
      auto v = value("--window");
      if (!v) return 2;
      auto d = core::ParseDuration(*v);
      if (!d || d->count() <= 0) {
        std::cerr << "obsgate analyze: --window: " << (d ? "must be longer than 0s" : d.error())
                  << "\n";
        return 2;
      }
      window = *d;
    } else if (a.size() > 1 && a[0] == '-' && a != "-") {
      std::cerr << "obsgate analyze: unknown option " << a << "; see obsgate analyze --help\n";
      return 2;
    } else {
      files.push_back(a);
    }
  }
  if (files.empty()) {
    std::cerr << "obsgate analyze: name at least one file, or - for standard input\n";
    return 2;
  }
  Analysis analysis(format, window, threads);
  for (const std::string& f : files) {
    if (auto added = analysis.Add(f); !added) {
      std::cerr << "obsgate analyze: " << added.error() << "\n";
      return 1;
    }
  }
  if (auto ran = analysis.Run(); !ran) {
    std::cerr << "obsgate analyze: " << ran.error() << "\n";
    return 1;
  }
  if (json) {
    analysis.PrintJson();
  } else {
    analysis.PrintTable();
  }
  return 0;
}

}  // namespace obsgate::app
