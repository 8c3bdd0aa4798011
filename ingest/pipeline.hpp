#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.hpp"
#include "core/counts.hpp"
#include "core/result.hpp"
#include "ingest/classify.hpp"
#include "ingest/container_line.hpp"

namespace obsgate::ingest {

// Labels a source supplies for its records: push labels, Kafka headers, scrape target labels.
struct SourceLabels {
  std::string ns;
  std::string deployment;
  std::string version;
};

// Counters of one ingest thread since its last publication; the owner adds them to metrics.
struct IngestStats {
  std::uint64_t lines = 0;  // whole messages counted
  std::uint64_t bytes = 0;  // raw bytes read, framing included
  std::uint64_t docker_errors = 0;
  std::uint64_t cri_errors = 0;
  std::uint64_t unattributed = 0;  // counted in the "unknown" deployment
  std::uint64_t truncated = 0;     // messages cut at the maximum line size

  IngestStats& operator+=(const IngestStats& o);
};

// Classifies whole messages and counts them per series. Owned by one ingest thread; its counts
// are merged into the window store by that thread.
class LineCounter {
 public:
  static core::Result<std::unique_ptr<LineCounter>> Create(ClassifyOptions options);

  // Counts one application message. Attribution, field by field: what the log path said, then
  // the message's own JSON fields, then the source's labels; no deployment at all -> "unknown".
  // Returns the facts, for callers that show them.
  LineFacts Count(std::string_view message, const SourceLabels& from_path,
                  const SourceLabels& from_source);
  // Counts a message whose facts and attribution the caller found (an OTLP record carries them
  // as fields). No deployment -> "unknown".
  void Count(const LineFacts& facts, std::string_view ns, std::string_view deployment,
             std::string_view version);
  // Counts a message whose facts the caller found, attributed as Count(message, ...) does.
  void Count(const LineFacts& facts, const SourceLabels& from_path,
             const SourceLabels& from_source);
  // The classifier Count uses, for callers that classify a message themselves.
  Classifier& classifier() { return *classifier_; }

  core::LocalCounts& counts() { return counts_; }
  IngestStats& stats() { return stats_; }

 private:
  explicit LineCounter(std::unique_ptr<Classifier> classifier)
      : classifier_(std::move(classifier)) {}
  std::unique_ptr<Classifier> classifier_;
  core::LocalCounts counts_;
  IngestStats stats_;
};

// One stream of runtime log lines, such as one file: framing, joining of split lines, and the
// attribution its path gives. Owned by the thread that reads the stream.
class LogStream {
 public:
  // `path` may be empty or any name; Kubernetes log paths give namespace, deployment, version.
  LogStream(Format format, std::string path, SourceLabels labels = {},
            std::size_t max_line_bytes = 1 << 20);

  // A whole application message and the runtime's time for it (empty for raw lines).
  struct Message {
    std::string_view text;
    std::string_view time;
  };
  // One line as the runtime wrote it, without its "\n": the message it completes, if any. Views
  // are valid until the next call. Framing problems are counted in `stats`.
  std::optional<Message> Frame(std::string_view line, IngestStats& stats);
  // Frame, then count the message if one completed: its runtime time (empty for raw lines, valid
  // until the next call), or nullopt when the line completed none.
  std::optional<std::string_view> Feed(std::string_view line, LineCounter& counter);
  void Count(const Message& m, LineCounter& counter) const {
    counter.Count(m.text, from_path_, from_source_);
  }
  // Counts the messages still half-joined at the end of the stream.
  void Finish(LineCounter& counter) {
    while (FinishOne(counter)) {
    }
  }
  // Counts one message still half-joined at the end of the stream; false when none is left.
  bool FinishOne(LineCounter& counter);

  const SourceLabels& path_labels() const { return from_path_; }
  // A message is half-joined: the next line may continue it.
  bool HasPending() const { return joiner_.HasPending(); }

 private:
  LineFramer framer_;
  PartialJoiner joiner_;
  std::size_t max_line_bytes_;
  SourceLabels from_path_;
  SourceLabels from_source_;
  std::uint64_t truncated_seen_ = 0;
};

// The labels a Kubernetes log path gives; all empty for other paths.
SourceLabels LabelsFromPath(std::string_view path);

}  // namespace obsgate::ingest
