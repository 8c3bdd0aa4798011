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
core::Result<std::unique_ptr<Source>> MakeKafkaSource(std::string name,
                                                      const core::KafkaSourceConfig& config,
                                                      const ClassifyOptions& classify,
                                                      prometheus::Registry& registry);

}  // namespace obsgate::ingest
