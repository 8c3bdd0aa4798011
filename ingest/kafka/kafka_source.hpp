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

// A member of a Kafka consumer group that counts each message value as one log line. Offsets are
// committed only for messages whose counts the sink has taken (at-least-once). Fails when a
// librdkafka property is unknown or invalid (the error names it; secret values are never shown) or
// a classify pattern does not compile. Metrics are registered in `registry`, which must outlive
// the source.
//
// Several replicas in one group share the partitions, so each deployment (its records keyed by
// "namespace/deployment") is counted by one. When a partition leaves, the sink forgets the
// windows of the deployments counted from it; when one arrives, its deployments' windows start
// empty, or with rewind_on_assign are rebuilt by replaying the records since the window start
// the last owner committed with the partition's offset (`horizon` back).
core::Result<std::unique_ptr<Source>> MakeKafkaSource(std::string name,
                                                      const core::KafkaSourceConfig& config,
                                                      const ClassifyOptions& classify,
                                                      prometheus::Registry& registry,
                                                      core::Duration horizon);

}  // namespace obsgate::ingest
