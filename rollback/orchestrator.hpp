#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.hpp"
#include "core/result.hpp"

namespace obsgate::rollback {

// What obsgate acts on: one deployment (a Kubernetes Deployment, a Swarm service, whatever the
// exec command names).
struct Target {
  std::string ns;          // Kubernetes namespace; for Swarm, the stack (may be empty)
  std::string deployment;  // Deployment or service name

  bool operator==(const Target&) const = default;
};

// One revision of a deployment, as the orchestrator keeps it.
struct Revision {
  std::string id;             // Kubernetes: the deployment.kubernetes.io/revision number; Swarm:
                              // "current" or "previous"; exec: the version
  std::string version;        // the image tag ("v2"): what series are labelled with
  std::string image;          // the whole image reference of the first container
  std::string template_hash;  // Kubernetes pod-template-hash; empty elsewhere
  core::TimePoint rolled_out_at;  // when the revision was created (its ReplicaSet, its update)
  bool current = false;
};

// How a rollout is going, in the words `kubectl rollout status` uses.
struct RolloutStatus {
  enum class State { kProgressing, kComplete, kFailed };
  State state = State::kProgressing;
  std::string message;  // "Waiting for deployment \"auth\" rollout to finish: 1 of 3 updated ..."
  int desired = 0;
  int updated = 0;
  int available = 0;
};

// What came of one action. Every action is done at most once per call: an orchestrator retries
// conflicts and server errors inside the call, never repeats a change that may have been made.
struct ActionResult {
  enum class Outcome {
    kDone,     // the change was made
    kSkipped,  // nothing to do (already at that revision; the previous template equals this one)
    kRetry,    // not made; trying again later can help (API unreachable, 5xx, time-out)
    kFailed,   // not made and will not be (forbidden, paused, no previous revision)
  };
  Outcome outcome = Outcome::kFailed;
  std::string message;  // for people and the audit: what was done or why not, with a hint
  std::string from_version;
  std::string to_version;
  std::string detail;  // the request sent or the command's output, secrets removed
};

const char* OutcomeName(ActionResult::Outcome o);  // "done", "skipped", "retry", "failed"

// What a rollback undoes. Orchestrators that keep revisions (Kubernetes, Swarm) go to
// `to_revision` or the previous one and report the versions they found; a command (exec) is
// handed the versions obsgate judged.
struct RollbackRequest {
  std::string to_revision = {};   // a Revision::id; empty: the previous revision
  std::string from_version = {};  // the release judged bad ("v2"); empty when not known
  std::string to_version = {};    // the version it was judged against ("v1"); empty when not known
};

// The cluster obsgate undoes releases on. Implementations: kubernetes/, swarm/, exec/. Calls
// block (bounded by the implementation's time-outs); one call at a time per instance unless the
// implementation says it is thread-safe.
class Orchestrator {
 public:
  virtual ~Orchestrator() = default;
  virtual std::string_view kind() const = 0;  // "kubernetes", "swarm", "exec", "simulated"

  // The deployment's revisions, the current one first, then older ones newest first.
  virtual core::Result<std::vector<Revision>> Revisions(const Target& target) = 0;
  // Rolls back to the previous revision, or to `request.to_revision` when given.
  virtual ActionResult RollBack(const Target& target, const RollbackRequest& request = {}) = 0;
  // Sets the image of `container` (empty: the first container) — the deploy pipeline's rollout.
  virtual ActionResult SetImage(const Target& target, const std::string& container,
                                const std::string& image) = 0;
  // One look at the rollout's progress.
  virtual core::Result<RolloutStatus> Status(const Target& target) = 0;
};

// The tag of an image reference: "registry:5000/shop/auth:v2@sha256:..." -> "v2"; "" when the
// reference has none (then "latest" is implied, and the digest is the version).
std::string ImageTag(std::string_view image);

}  // namespace obsgate::rollback
