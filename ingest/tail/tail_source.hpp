#pragma once

#include <memory>
#include <string>

#include "core/config.hpp"
#include "core/result.hpp"
#include "ingest/classify.hpp"
#include "ingest/source.hpp"

namespace prometheus {
class Registry;
}

namespace obsgate::ingest {

// Follows the files that `config.paths` match (glob(3)), like Fluent Bit's in_tail: inotify plus a
// rescan every rescan_interval, rotation by rename (the old file is read to its end) and by
// copytruncate, bounded lines, and checkpoints so that a restart resumes where it left off.
// Registers obsgate_tail_* metrics labelled {source=name} in `registry`, which must outlive it.
core::Result<std::unique_ptr<Source>> MakeTailSource(std::string name,
                                                     const core::TailSourceConfig& config,
                                                     const ClassifyOptions& classify,
                                                     prometheus::Registry& registry);

}  // namespace obsgate::ingest
