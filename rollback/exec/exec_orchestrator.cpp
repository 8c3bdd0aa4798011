#include "rollback/exec/exec_orchestrator.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "core/units.hpp"

extern char** environ;

namespace obsgate::rollback::exec {
namespace {

// Closes a file descriptor when it goes.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

// How a person would type the command: arguments with spaces or quotes shown in single quotes.
std::string CommandLine(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& a : argv) {
    if (!out.empty()) out += ' ';
    bool plain = !a.empty() && a.find_first_of(" \t\n'\"\\$`;&|<>(){}*?!#~") == std::string::npos;
    if (plain) {
      out += a;
      continue;
    }
    out += '\'';
    for (char c : a) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += '\'';
  }
  return out;
}

void Append(CommandRun& run, const char* data, std::size_t n, std::size_t max_output) {
  run.output.append(data, n);
  // Trimmed in batches so a chatty command costs no quadratic copying.
  if (run.output.size() > 2 * max_output) {
    std::size_t cut = run.output.size() - max_output;
    run.output.erase(0, cut);
    run.cut_bytes += cut;
  }
}

}  // namespace

std::string Expand(std::string_view argument, const Placeholders& values) {
  const std::pair<std::string_view, const std::string*> names[] = {
      {"{namespace}", &values.ns},
      {"{deployment}", &values.deployment},
      {"{from_version}", &values.from_version},
      {"{to_version}", &values.to_version},
      {"{image}", &values.image},
  };
  std::string out;
  std::size_t i = 0;
  while (i < argument.size()) {
    bool replaced = false;
    if (argument[i] == '{') {
      for (const auto& [name, value] : names) {
        if (argument.substr(i, name.size()) == name) {
          out += *value;
          i += name.size();
          replaced = true;
          break;
        }
      }
    }
    if (!replaced) out += argument[i++];
  }
  return out;
}

CommandRun RunCommand(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                      std::size_t max_output) {
  return RunCommand(argv, timeout, max_output, CommandOptions{});
}

CommandRun RunCommand(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                      std::size_t max_output, const CommandOptions& options) {
  CommandRun run;
  if (argv.empty() || argv[0].empty()) {
    run.error = "the command is empty";
    return run;
  }
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    run.error = std::string("cannot make a pipe: ") + std::strerror(errno);
    return run;
  }
  Fd read_end(pipe_fds[0]), write_end(pipe_fds[1]);

  // posix_spawnp rather than fork: safe in a threaded process, and it reports a program that
  // cannot be run (ENOENT, EACCES) as its return value.
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), 2);
  // A group of its own, so a time-out kills what the command started too; default signal
  // handling, whatever this process ignores.
  sigset_t defaults, none;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGHUP);
  sigemptyset(&none);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  if (!options.dir.empty()) posix_spawn_file_actions_addchdir_np(&actions, options.dir.c_str());
  // This process's environment with the command's own variables put over it.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view entry = *e;
    bool replaced = false;
    for (const auto& [name, value] : options.env) {
      replaced = replaced || (entry.size() > name.size() && entry.starts_with(name) &&
                              entry[name.size()] == '=');
    }
    if (!replaced) env_strings.emplace_back(entry);
  }
  for (const auto& [name, value] : options.env) env_strings.push_back(name + "=" + value);
  std::vector<char*> cenv;
  for (std::string& e : env_strings) cenv.push_back(e.data());
  cenv.push_back(nullptr);
  std::vector<char*> cargv;
  for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t pid = -1;
  int spawned = ::posix_spawnp(&pid, cargv[0], &actions, &attr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  write_end.reset();  // the child holds its copy; EOF comes when it and its children are done
  if (spawned != 0) {
    run.error = "cannot run \"" + argv[0] + "\": " + std::strerror(spawned);
    return run;
  }

  // The time-out as a timer descriptor, so waiting needs no reading of the clock.
  Fd timer(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC));
  itimerspec spec{};
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(timeout);
  spec.it_value.tv_sec = secs.count();
  spec.it_value.tv_nsec =
      std::chrono::duration_cast<std::chrono::nanoseconds>(timeout - secs).count();
  if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0) spec.it_value.tv_nsec = 1;
  ::timerfd_settime(timer.get(), 0, &spec, nullptr);
  // Tells when the child itself ends, even while something it left behind holds the pipe.
  Fd exited(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));

  bool timed_out = false, child_done = false, pipe_open = true;
  char buf[16 * 1024];
  for (;;) {
    // Without a pidfd (kernels before 5.3) the pipe's end is the best sign the command ended.
    if (!pipe_open && exited.get() < 0) break;
    pollfd fds[3] = {{pipe_open ? read_end.get() : -1, POLLIN, 0},
                     {timer.get(), POLLIN, 0},
                     {exited.get(), POLLIN, 0}};
    if (::poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t got = ::read(read_end.get(), buf, sizeof buf);
      if (got > 0) Append(run, buf, static_cast<std::size_t>(got), max_output);
      if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN)) pipe_open = false;
      continue;
    }
    if (fds[1].revents & POLLIN) {
      timed_out = true;
      ::kill(-pid, SIGKILL);
      break;
    }
    if (fds[2].revents & POLLIN) {
      child_done = true;
      break;
    }
  }
  if (child_done && pipe_open) {
    // Whatever is already in the pipe belongs to the output; later writers are not waited for.
    ::fcntl(read_end.get(), F_SETFL, O_NONBLOCK);
    ssize_t got;
    while ((got = ::read(read_end.get(), buf, sizeof buf)) > 0) {
      Append(run, buf, static_cast<std::size_t>(got), max_output);
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (run.output.size() > max_output) {
    run.cut_bytes += run.output.size() - max_output;
    run.output.erase(0, run.output.size() - max_output);
  }
  if (timed_out) {
    run.end = CommandRun::End::kTimedOut;
  } else if (WIFEXITED(status)) {
    run.end = CommandRun::End::kExited;
    run.exit_code = WEXITSTATUS(status);
  } else {
    run.end = CommandRun::End::kSignaled;
    run.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  }
  return run;
}

ExecOrchestrator::ExecOrchestrator(const core::ExecOrchestratorConfig& config,
                                   const core::Clock& clock)
    : config_(config), clock_(clock) {}

core::Result<std::unique_ptr<ExecOrchestrator>> ExecOrchestrator::Create(
    const core::ExecOrchestratorConfig& config, const core::Clock& clock) {
  if (config.rollback.empty() || config.rollback[0].empty()) {
    return core::Error{
        "orchestrator.exec.rollback names no command; give it as a list, e.g. "
        "[helm, rollback, \"{deployment}\", -n, \"{namespace}\"]"};
  }
  return std::unique_ptr<ExecOrchestrator>(new ExecOrchestrator(config, clock));
}

core::Result<std::vector<Revision>> ExecOrchestrator::Revisions(const Target& target) {
  return core::Error{"the exec orchestrator keeps no revisions of " +
                     (target.ns.empty() ? target.deployment : target.ns + "/" + target.deployment) +
                     ": the versions to roll back from and to come from the series obsgate "
                     "watches (RollBackFromTo)"};
}

ActionResult ExecOrchestrator::RollBack(const Target& target, const RollbackRequest& request) {
  // A revision, for a command, is a version: a person's --to-revision names the one to return to.
  return RollBackFromTo(target, request.from_version,
                        request.to_revision.empty() ? request.to_version : request.to_revision);
}

ActionResult ExecOrchestrator::RollBackFromTo(const Target& target, const std::string& from_version,
                                              const std::string& to_version) {
  Placeholders values{target.ns, target.deployment, from_version, to_version, ""};
  ActionResult r = Run("rollback", config_.rollback, values);
  r.from_version = from_version;
  r.to_version = to_version;
  return r;
}

ActionResult ExecOrchestrator::SetImage(const Target& target, const std::string& /*container*/,
                                        const std::string& image) {
  if (config_.set_image.empty()) {
    ActionResult r;
    r.message =
        "no set_image command is configured under orchestrator.exec; add one to let "
        "pipelines roll out " +
        image;
    return r;
  }
  Placeholders values{target.ns, target.deployment, "", ImageTag(image), image};
  ActionResult r = Run("set_image", config_.set_image, values);
  r.to_version = values.to_version;
  return r;
}

core::Result<RolloutStatus> ExecOrchestrator::Status(const Target& target) {
  RolloutStatus status;
  if (config_.status.empty()) {
    status.state = RolloutStatus::State::kComplete;
    status.message = "no status command is configured: the rollout counts as complete";
    return status;
  }
  Placeholders values{target.ns, target.deployment, "", "", ""};
  std::vector<std::string> argv;
  for (const std::string& a : config_.status) argv.push_back(Expand(a, values));
  CommandRun run = RunCommand(argv, config_.timeout, 4 * 1024);
  std::string line = CommandLine(argv);
  switch (run.end) {
    case CommandRun::End::kNotStarted:
      return core::Error{run.error + "; check orchestrator.exec.status and PATH"};
    case CommandRun::End::kTimedOut:
      return core::Error{line + " timed out after " + core::FormatDuration(config_.timeout)};
    case CommandRun::End::kSignaled:
      return core::Error{line + " was killed by signal " + std::to_string(run.signal)};
    case CommandRun::End::kExited:
      break;
  }
  status.state =
      run.exit_code == 0 ? RolloutStatus::State::kComplete : RolloutStatus::State::kProgressing;
  std::string output = run.output;
  while (!output.empty() && (output.back() == '\n' || output.back() == ' ')) output.pop_back();
  status.message = line + " exited with " + std::to_string(run.exit_code) +
                   (output.empty() ? "" : ": " + output.substr(output.rfind('\n') + 1));
  return status;
}

ActionResult ExecOrchestrator::Run(const char* what, const std::vector<std::string>& command,
                                   const Placeholders& values) {
  std::vector<std::string> argv;
  for (const std::string& a : command) argv.push_back(Expand(a, values));
  std::string line = CommandLine(argv);
  core::TimePoint start = clock_.Now();
  CommandRun run = RunCommand(argv, config_.timeout);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now() - start);

  ActionResult r;
  r.detail = run.cut_bytes > 0 ? "[" + std::to_string(run.cut_bytes) + " bytes cut]\n" + run.output
                               : run.output;
  std::string target = values.ns.empty() ? values.deployment : values.ns + "/" + values.deployment;
  switch (run.end) {
    case CommandRun::End::kNotStarted:
      r.outcome = ActionResult::Outcome::kFailed;
      r.message = run.error + "; check orchestrator.exec." + what + " and PATH";
      break;
    case CommandRun::End::kTimedOut:
      // Killed half-way: the command must be safe to run again, as helm rollback and kubectl are.
      r.outcome = ActionResult::Outcome::kRetry;
      r.message = line + " timed out after " + core::FormatDuration(config_.timeout) +
                  "; its process group was killed";
      break;
    case CommandRun::End::kSignaled:
      r.outcome = ActionResult::Outcome::kFailed;
      r.message = line + " was killed by signal " + std::to_string(run.signal);
      break;
    case CommandRun::End::kExited:
      r.outcome =
          run.exit_code == 0 ? ActionResult::Outcome::kDone : ActionResult::Outcome::kFailed;
      r.message = run.exit_code == 0 ? std::string(what) + " of " + target + " done: " + line +
                                           " exited with 0 " + "after " + core::FormatDuration(took)
                                     : line + " exited with " + std::to_string(run.exit_code) +
                                           "; its output is in the detail";
      break;
  }
  return r;
}

}  // namespace obsgate::rollback::exec
