#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/result.hpp"
#include "rollback/orchestrator.hpp"

namespace obsgate::rollback::exec {

// What the placeholders of a command stand for.
struct Placeholders {
  std::string ns;            // {namespace}
  std::string deployment;    // {deployment}
  std::string from_version;  // {from_version}
  std::string to_version;    // {to_version}
  std::string image;         // {image}
};

// `argument` with every {namespace}, {deployment}, {from_version}, {to_version} and {image}
// replaced by its value, verbatim and in one pass (a value is never expanded again). Other
// braces are left as they are.
std::string Expand(std::string_view argument, const Placeholders& values);

// How one command ended.
struct CommandRun {
  enum class End { kExited, kSignaled, kTimedOut, kNotStarted };
  End end = End::kNotStarted;
  int exit_code = -1;         // kExited
  int signal = 0;             // kSignaled
  std::string output;         // stdout and stderr interleaved; the last `max_output` bytes
  std::size_t cut_bytes = 0;  // output bytes dropped from the front
  std::string error;          // kNotStarted: why
};

// Runs `argv` (argv[0] looked up on PATH, never through a shell) in a process group of its own,
// stdin from /dev/null, stdout and stderr captured. At `timeout` the whole group is killed.
CommandRun RunCommand(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                      std::size_t max_output = 64 * 1024);

// What else a command may be given: variables added to (or replacing in) this process's
// environment, and a working directory (empty: this process's).
struct CommandOptions {
  std::vector<std::pair<std::string, std::string>> env;
  std::string dir;
};
CommandRun RunCommand(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                      std::size_t max_output, const CommandOptions& options);

// Rolls back by running a command the operator configures (helm rollback, a deploy script, a
// Nomad job revert), with the target and versions put into its arguments. It keeps no revisions:
// the caller says which version is bad and which one to go back to. One call at a time per
// instance; each call blocks until its command ends or times out.
class ExecOrchestrator final : public Orchestrator {
 public:
  // Fails when no rollback command is configured.
  static core::Result<std::unique_ptr<ExecOrchestrator>> Create(
      const core::ExecOrchestratorConfig& config, const core::Clock& clock);

  std::string_view kind() const override { return "exec"; }
  // Always an error: a command has no revisions to list. Callers take the versions from the
  // series they watch and call RollBackFromTo.
  core::Result<std::vector<Revision>> Revisions(const Target& target) override;
  // RollBackFromTo(from_version, to_revision or else to_version): for exec a revision is a
  // version.
  ActionResult RollBack(const Target& target, const RollbackRequest& request = {}) override;
  // Runs the rollback command with {from_version} (the bad release) and {to_version} (the one to
  // return to; empty: the command's own "previous"). Exit 0: done; non-zero: failed with the
  // output in `detail`; time-out: retry.
  ActionResult RollBackFromTo(const Target& target, const std::string& from_version,
                              const std::string& to_version);
  // Runs the set_image command with {image} and {to_version} (the image's tag).
  ActionResult SetImage(const Target& target, const std::string& container,
                        const std::string& image) override;
  // Runs the status command: exit 0 is complete, any other exit is progressing. Without a status
  // command the rollout counts as complete once the command that made it has returned.
  core::Result<RolloutStatus> Status(const Target& target) override;

 private:
  ExecOrchestrator(const core::ExecOrchestratorConfig& config, const core::Clock& clock);
  ActionResult Run(const char* what, const std::vector<std::string>& command,
                   const Placeholders& values);

  core::ExecOrchestratorConfig config_;
  const core::Clock& clock_;
};

}  // namespace obsgate::rollback::exec
