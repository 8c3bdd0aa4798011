#include "app/analyze.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <unordered_map>

#include "core/json.hpp"
#include "core/time.hpp"
#include "core/units.hpp"
#include "ingest/pipeline.hpp"

namespace obsgate::app {

const char* const kAnalyzeHelp =
    "usage: obsgate analyze [--format docker|cri|raw|auto] [--window 5m] [--json] FILE...\n\n"
    "Runs obsgate's log pipeline (parse, classify, attribute, count) over log files offline and\n"
    "prints, per series (namespace, deployment, version): requests, errors and their rate over\n"
    "the whole file and over the last --window before the newest timestamp, log lines, error\n"
    "lines, and the first and last timestamps. FILE - reads standard input. Kubernetes log paths\n"
    "(/var/log/containers/..., /var/log/pods/...) give the series; so do JSON fields.\n\n"
    "  --format F   docker (json-file), cri, raw (application lines), auto (default: per line)\n"
    "  --window W   the recent window, default 5m\n"
    "  --json       one JSON document instead of a table\n";

namespace {

struct SeriesReport {
  core::Counts total;
  std::unordered_map<std::int64_t, core::Counts> by_second;  // log time, whole seconds
  std::optional<core::TimePoint> first, last;
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

class Analysis {
 public:
  Analysis(std::unique_ptr<ingest::LineCounter> counter, core::Duration window)
      : counter_(std::move(counter)), window_seconds_(window.count() / 1000) {}

  // Reads `in` in large blocks and counts each message at its runtime's time.
  void Read(std::istream& in, ingest::Format format, const std::string& name) {
    ingest::LogStream stream(format, name);
    last_time_.reset();
    last_second_.reset();
    std::size_t kept = 0;  // bytes of a line begun in the block before
    for (;;) {
      if (buffer_.size() - kept < kBlock) buffer_.resize(kept + kBlock);
      in.read(buffer_.data() + kept, static_cast<std::streamsize>(buffer_.size() - kept));
      const std::size_t got = static_cast<std::size_t>(in.gcount());
      if (got == 0) break;
      std::string_view rest(buffer_.data(), kept + got);
      while (const char* nl =
                 static_cast<const char*>(std::memchr(rest.data(), '\n', rest.size()))) {
        const std::size_t len = static_cast<std::size_t>(nl - rest.data());
        Feed(stream, rest.substr(0, len));
        rest.remove_prefix(len + 1);
      }
      std::memmove(buffer_.data(), rest.data(), rest.size());
      kept = rest.size();
    }
    if (kept > 0) Feed(stream, std::string_view(buffer_.data(), kept));  // no final "\n"
    // Messages cut off by the end of the file count at the time of the last one read.
    while (stream.FinishOne(*counter_)) Track(last_second_, last_time_);
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

  // Every series counted, with what Track kept of it; call once, after the last Read.
  void Finish() {
    counter_->counts().Drain([&](const core::SeriesKey& key, const core::Counts& c) {
      SeriesReport& r = series_[key];
      if (auto it = tracks_.find(&c); it != tracks_.end()) r = std::move(it->second);
      r.total = c;
    });
    tracks_.clear();
  }

  void PrintTable() const {
    std::string w = core::FormatDuration(std::chrono::seconds(window_seconds_));
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
    const ingest::IngestStats& s = counter_->stats();
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
    std::string out = "{\"window\":\"" +
                      core::FormatDuration(std::chrono::seconds(window_seconds_)) +
                      "\",\"series\":[";
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
    const ingest::IngestStats& s = counter_->stats();
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

  static constexpr std::size_t kBlock = 1 << 20;

  void Feed(ingest::LogStream& stream, std::string_view line) {
    std::optional<std::string_view> time = stream.Feed(line, *counter_);
    if (!time) return;
    last_time_ = time_reader_.Parse(*time);
    last_second_.reset();
    if (last_time_) {
      last_second_ =
          std::chrono::duration_cast<std::chrono::seconds>(last_time_->time_since_epoch()).count();
    }
    Track(last_second_, last_time_);
  }

  // What the message just counted added to its series goes to its second of log time. A series is
  // known by the address of its counts, which stays the same until Finish.
  void Track(std::optional<std::int64_t> second, std::optional<core::TimePoint> time) {
    const core::Counts* counts = counter_->counts().last();
    if (counts != tracked_) {
      tracked_ = counts;
      track_ = &tracks_[counts];
    }
    SeriesReport& r = *track_;
    core::Counts added = *counts;
    added.requests -= r.total.requests;
    added.errors -= r.total.errors;
    added.log_lines -= r.total.log_lines;
    added.error_lines -= r.total.error_lines;
    r.total = *counts;
    if (time) {
      r.first = r.first ? std::min(*r.first, *time) : *time;
      r.last = r.last ? std::max(*r.last, *time) : *time;
    }
    if (!second) return;
    if (!newest_ || *second > *newest_) newest_ = *second;
    r.by_second[*second] += added;
    // Seconds at or before newest - window can never be in the window at the end: let them go
    // once they outnumber the window's, so a long file keeps a window's worth per series.
    if (r.by_second.size() > 2 * static_cast<std::size_t>(window_seconds_) + 64) {
      const std::int64_t from = *newest_ - window_seconds_;
      std::erase_if(r.by_second, [&](const auto& entry) { return entry.first <= from; });
    }
  }

  std::unique_ptr<ingest::LineCounter> counter_;
  std::int64_t window_seconds_;
  std::string buffer_;
  core::Rfc3339Reader time_reader_;
  std::optional<core::TimePoint> last_time_;
  std::optional<std::int64_t> last_second_;
  std::unordered_map<const core::Counts*, SeriesReport> tracks_;
  const core::Counts* tracked_ = nullptr;
  SeriesReport* track_ = nullptr;
  std::unordered_map<core::SeriesKey, SeriesReport, core::SeriesKeyHash> series_;
  std::optional<std::int64_t> newest_;
};

}  // namespace

int Analyze(std::vector<std::string> args) {
  ingest::Format format = ingest::Format::kAuto;
  core::Duration window = std::chrono::minutes(5);
  bool json = false;
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
  auto counter = ingest::LineCounter::Create(ingest::ClassifyOptions{});
  if (!counter) {
    std::cerr << "obsgate analyze: " << counter.error() << "\n";
    return 1;
  }
  Analysis analysis(std::move(counter).value(), window);
  for (const std::string& f : files) {
    if (f == "-") {
      analysis.Read(std::cin, format, "");
      continue;
    }
    std::ifstream in(f, std::ios::binary);
    if (!in) {
      std::cerr << "obsgate analyze: cannot read " << f << "; check the path and permissions\n";
      return 1;
    }
    analysis.Read(in, format, f);
  }
  analysis.Finish();
  if (json) {
    analysis.PrintJson();
  } else {
    analysis.PrintTable();
  }
  return 0;
}

}  // namespace obsgate::app
