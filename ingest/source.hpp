#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/counts.hpp"
#include "core/result.hpp"
#include "ingest/classify.hpp"
#include "ingest/pipeline.hpp"

namespace obsgate::ingest {

// A deployment whose records a source began to receive from another replica's share (a Kafka
// partition assigned to it), and whether its windows were rebuilt from the retained log.
struct Handover {
  std::string share;     // "kafka-1 logs[2]": the source and the share it took
  core::TimePoint at;    // when the share was taken
  bool rebuilt = false;  // replayed from the log; otherwise its windows start at `at`
};
// By (namespace, deployment).
using Handovers = std::map<std::pair<std::string, std::string>, Handover>;

// Where sources hand what they counted. Thread-safe: called by every ingest thread, once per
// batch (a push, a read of a file, a poll of Kafka), never once per line.
class RecordSink {
 public:
  virtual ~RecordSink() = default;
  // Takes the counts (leaving `counts` empty) and the stats since the last delivery (the caller
  // resets its copy). `source` is the source's configured name.
  virtual void Deliver(std::string_view source, core::LocalCounts& counts,
                       const IngestStats& stats) = 0;
  // Counts of records replayed from a log that happened at `at` (a Kafka partition rewound on
  // assignment): windows reaching back to `at` include them. Replays are not counted as lines
  // read again. A sink that keeps no windows adds them as it adds any.
  virtual void DeliverReplayed(std::string_view source, core::LocalCounts& counts,
                               core::TimePoint at) {
    (void)at;
    Deliver(source, counts, IngestStats{});
  }
  // The records of these (namespace, deployment)s now go to another replica: their windows
  // here are forgotten, whole.
  virtual void Forget(std::string_view source,
                      const std::vector<std::pair<std::string, std::string>>& deployments) {
    (void)source;
    (void)deployments;
  }
  // Says where a deployment's records come from since a share moved to this replica, for
  // /api/v1/deployments.
  virtual void TookOver(const std::string& ns, const std::string& deployment,
                        const Handover& handover) {
    (void)ns;
    (void)deployment;
    (void)handover;
  }
};

// A way logs come in: file tail, Kafka consumer. (HTTP push is served by the gateway's server.)
class Source {
 public:
  virtual ~Source() = default;
  // Starts its own threads; an error says what could not be opened and why.
  virtual core::Status Start(RecordSink& sink) = 0;
  // Stops reading, delivers what was counted, writes checkpoints or commits offsets. Idempotent,
  // and harmless on a source that never started.
  virtual void Stop() = 0;
  virtual const std::string& name() const = 0;
};

// The classifier settings from the configuration, over the built-in defaults.
ClassifyOptions ClassifyOptionsFrom(const core::ClassifyConfig& config);
// "docker", "cri", "raw", "auto" as the configuration spells them.
Format FormatFrom(std::string_view name);

}  // namespace obsgate::ingest
