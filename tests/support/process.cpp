#include "tests/support/process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

extern char** environ;

namespace obsgate::testing {

std::unique_ptr<Process> Process::Start(const std::vector<std::string>& argv,
                                        const std::vector<std::string>& env,
                                        std::string_view stdin_text, const std::string& cwd) {
  int out[2], in[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(in, O_CLOEXEC) != 0) return nullptr;
  std::vector<std::string> envs;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view kv = *e;
    bool replaced = false;
    for (const std::string& add : env) {
      auto eq = add.find('=');
      if (kv.substr(0, kv.find('=')) == std::string_view(add).substr(0, eq)) replaced = true;
    }
    if (!replaced) envs.emplace_back(kv);
  }
  envs.insert(envs.end(), env.begin(), env.end());
  std::vector<char*> cargv, cenv;
  for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (const std::string& e : envs) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);

  pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(out[1], 2);
    setpgid(0, 0);
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(126);
    execvpe(cargv[0], cargv.data(), cenv.data());
    _exit(127);
  }
  close(out[1]);
  close(in[0]);
  std::string input(stdin_text);
  std::thread([fd = in[1], input] {
    std::size_t off = 0;
    while (off < input.size()) {
      ssize_t n = write(fd, input.data() + off, input.size() - off);
      if (n <= 0) break;
      off += static_cast<std::size_t>(n);
    }
    close(fd);
  }).detach();
  std::unique_ptr<Process> p(new Process());
  p->pid_ = pid;
  p->out_fd_ = out[0];
  p->reader_ = std::thread([raw = p.get()] {
    char buf[8192];
    for (;;) {
      ssize_t n = read(raw->out_fd_, buf, sizeof buf);
      if (n <= 0) break;
      std::lock_guard lock(raw->mu_);
      raw->output_.append(buf, static_cast<std::size_t>(n));
    }
  });
  return p;
}

Process::~Process() {
  if (!exit_code_) {
    kill(-pid_, SIGKILL);
    kill(pid_, SIGKILL);
    Wait(std::chrono::seconds(10));
  }
  if (reader_.joinable()) reader_.join();
  if (out_fd_ >= 0) close(out_fd_);
}

bool Process::WaitForOutput(std::string_view needle, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard lock(mu_);
      if (output_.find(needle) != std::string::npos) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::string Process::Output() const {
  std::lock_guard lock(mu_);
  return output_;
}

void Process::Signal(int sig) { kill(pid_, sig); }

std::optional<int> Process::Wait(std::chrono::milliseconds timeout) {
  if (exit_code_) return exit_code_;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      if (reader_.joinable()) reader_.join();
      return exit_code_;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

RunResult RunCommand(const std::vector<std::string>& argv, std::string_view stdin_text,
                     const std::vector<std::string>& env, std::chrono::milliseconds timeout) {
  auto p = Process::Start(argv, env, stdin_text);
  RunResult r;
  if (!p) return r;
  auto code = p->Wait(timeout);
  r.exit_code = code.value_or(-1);
  if (!code) {
    p->Signal(SIGKILL);
    p->Wait(std::chrono::seconds(5));
  }
  r.output = p->Output();
  return r;
}

bool HaveProgram(const std::string& name) {
  return RunCommand({"sh", "-c", "command -v " + name + " >/dev/null"}).exit_code == 0;
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/obsgate-test-XXXXXX";
  path_ = mkdtemp(tmpl);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::Write(const std::string& name, std::string_view content) const {
  std::string p = path_ + "/" + name;
  std::filesystem::create_directories(std::filesystem::path(p).parent_path());
  std::ofstream(p, std::ios::binary) << content;
  return p;
}

}  // namespace obsgate::testing
