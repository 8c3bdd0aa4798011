#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace obsgate::testing {

// A child process with stdout and stderr captured together. Killed when destroyed.
class Process {
 public:
  // env adds or replaces variables of this process's environment ("NAME=value"); cwd, when
  // given, is the child's working directory.
  static std::unique_ptr<Process> Start(const std::vector<std::string>& argv,
                                        const std::vector<std::string>& env = {},
                                        std::string_view stdin_text = {},
                                        const std::string& cwd = {});
  ~Process();

  int pid() const { return pid_; }
  // True once `needle` appears in the output within timeout.
  bool WaitForOutput(std::string_view needle, std::chrono::milliseconds timeout);
  std::string Output() const;
  void Signal(int sig);
  // The exit code (128+signal when killed), or nullopt if still running after timeout.
  std::optional<int> Wait(std::chrono::milliseconds timeout);

 private:
  Process() = default;
  int pid_ = -1;
  int out_fd_ = -1;
  std::optional<int> exit_code_;
  mutable std::mutex mu_;
  std::string output_;
  std::thread reader_;
};

struct RunResult {
  int exit_code = -1;
  std::string output;
};

// Runs a command to its end (killing it after timeout) and returns its exit code and output.
RunResult RunCommand(const std::vector<std::string>& argv, std::string_view stdin_text = {},
                     const std::vector<std::string>& env = {},
                     std::chrono::milliseconds timeout = std::chrono::seconds(60));

// Whether an executable is on PATH.
bool HaveProgram(const std::string& name);

// A fresh directory under /tmp, removed with its contents when the object goes.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string Write(const std::string& name, std::string_view content) const;

 private:
  std::string path_;
};

}  // namespace obsgate::testing
