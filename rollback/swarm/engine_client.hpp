#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/config.hpp"
#include "core/result.hpp"

namespace obsgate::rollback::swarm {

// One answer from the Docker Engine, or why there is none.
struct EngineReply {
  enum class Failure {
    kNone,      // an answer arrived (any status)
    kNotSent,   // the request never reached the engine (no socket, refused, TLS): safe to repeat
    kNoAnswer,  // sent, but no whole answer in time: the engine may have acted on it
  };
  Failure failure = Failure::kNone;
  std::string error;  // for people: what failed and where
  int status = 0;
  std::string body;
};

// The Docker Engine API at `host`: a unix socket (unix:///var/run/docker.sock), or tcp://host:port,
// over TLS when a CA, certificate or key file is given. One connection per request on unix
// sockets. Owned by one thread at a time.
class EngineClient {
 public:
  virtual ~EngineClient() = default;
  // Fails on a host that is neither unix:// nor tcp://, or TLS files that cannot be read.
  static core::Result<std::unique_ptr<EngineClient>> Create(
      const core::SwarmOrchestratorConfig& config);
  // `target` is the path with its query ("/v1.44/services/x"); `body` is JSON, empty for none.
  virtual EngineReply Send(std::string_view method, const std::string& target,
                           const std::string& body) = 0;
  // For messages: "the Docker Engine at unix:///var/run/docker.sock".
  virtual const std::string& where() const = 0;
};

}  // namespace obsgate::rollback::swarm
