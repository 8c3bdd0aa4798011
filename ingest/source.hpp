#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/config.hpp"
#include "core/counts.hpp"
#include "core/result.hpp"
#include "ingest/classify.hpp"
#include "ingest/pipeline.hpp"

namespace obsgate::ingest {

// Where sources hand what they counted. Thread-safe: called by every ingest thread, once per
// batch (a push, a read of a file, a poll of Kafka), never once per line.
class RecordSink {
 public:
  virtual ~RecordSink() = default;
  // Takes the counts (leaving `counts` empty) and the stats since the last delivery (the caller
  // resets its copy). `source` is the source's configured name.
  virtual void Deliver(std::string_view source, core::LocalCounts& counts,
                       const IngestStats& stats) = 0;
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
