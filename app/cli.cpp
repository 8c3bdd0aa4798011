#include "app/cli.hpp"

#include <signal.h>

#include <cstdlib>
#include <functional>
#include <iostream>
#include <optional>
#include <string_view>

#include "app/analyze.hpp"
#include "app/default_config.hpp"
#include "app/demo.hpp"
#include "app/deploy_cli.hpp"
#include "app/gateway.hpp"
#include "app/lint_cli.hpp"
#include "app/metrics_dump.hpp"
#include "app/rollback_cli.hpp"
#include "app/rules_setup.hpp"
#include "core/config.hpp"
#include "core/log.hpp"
#include "core/version.hpp"

namespace obsgate::app {
namespace {

struct Command {
  std::string_view name;
  std::string_view summary;
  std::string_view help;  // the text of `obsgate NAME --help`
  std::function<int(const std::vector<std::string>&)> run;
};

// Finds `--name VALUE` or `--name=VALUE`; removes it from args. Sets `missing` when the value is.
std::optional<std::string> TakeOption(std::vector<std::string>& args, std::string_view name,
                                      bool& missing) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view a = args[i];
    if (a == name) {
      if (i + 1 >= args.size()) {
        missing = true;
        args.erase(args.begin() + static_cast<long>(i));
        return std::nullopt;
      }
      std::string v = args[i + 1];
      args.erase(args.begin() + static_cast<long>(i), args.begin() + static_cast<long>(i) + 2);
      return v;
    }
    if (a.size() > name.size() && a.substr(0, name.size()) == name && a[name.size()] == '=') {
      std::string v(a.substr(name.size() + 1));
      args.erase(args.begin() + static_cast<long>(i));
      return v;
    }
  }
  return std::nullopt;
}

void PrintProblems(const std::vector<core::ConfigProblem>& problems) {
  for (const core::ConfigProblem& p : problems) std::cerr << p.ToString() << "\n";
  std::cerr << problems.size() << (problems.size() == 1 ? " problem" : " problems")
            << " found; nothing was started\n";
}

int RunGateway(std::vector<std::string> args) {
  bool missing = false;
  std::optional<std::string> path = TakeOption(args, "--config", missing);
  if (missing) {
    std::cerr << "obsgate run: --config needs a file name\n";
    return 2;
  }
  if (!args.empty()) {
    std::cerr << "obsgate run: unexpected argument \"" << args.front()
              << "\"; see obsgate run --help\n";
    return 2;
  }
  core::Env env = core::ProcessEnv();
  core::ConfigLoad load = path ? LoadChecked(*path, env)
                               : ParseChecked(kDefaultConfig, std::string(kDefaultConfigName), env);
  if (!load.config) {
    PrintProblems(load.problems);
    return 1;
  }
  // Signals are taken by this thread alone, with sigwait, so block them before threads start.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  Gateway gateway(std::move(*load.config), path, env);
  if (core::Status s = gateway.Start(); !s) {
    log::Error("cannot start", {{"error", s.error()}});
    return 1;
  }
  for (;;) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGHUP) {
      log::Info("SIGHUP received, reloading the configuration");
      gateway.Reload();
      continue;
    }
    log::Info("shutting down", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
    break;
  }
  gateway.Stop();
  return 0;
}

int CheckConfig(const std::vector<std::string>& args) {
  if (args.size() != 1) {
    std::cerr << "usage: obsgate check-config FILE\n";
    return 2;
  }
  core::ConfigLoad load = LoadChecked(args[0], core::ProcessEnv());
  if (!load.config) {
    for (const core::ConfigProblem& p : load.problems) std::cout << p.ToString() << "\n";
    std::cout << load.problems.size() << (load.problems.size() == 1 ? " problem" : " problems")
              << " in " << args[0] << "\n";
    return 1;
  }
  std::cout << args[0] << ": ok\n";
  return 0;
}

const std::vector<Command>& Commands() {
  static const std::vector<Command> commands = {
      {"run", "run the gateway (the default command)",
       "usage: obsgate run [--config FILE]\n\n"
       "Runs the gateway. Without --config it uses the embedded default: everything on\n"
       "127.0.0.1:9464 and nothing outside needed.\n\n"
       "  --config FILE   the YAML configuration; ${NAME} and ${NAME:-default} expand from\n"
       "                  the environment\n\n"
       "Environment: LOG_LEVEL (trace, debug, info, warn, error; default info).\n"
       "Signals: SIGHUP reloads the configuration (so does POST /-/reload); SIGTERM and\n"
       "SIGINT stop gracefully, letting requests in flight finish.\n",
       [](const std::vector<std::string>& a) { return RunGateway(a); }},
      {"demo", "watch obsgate roll a bad release back, on this machine alone", kDemoHelp,
       DemoCommand},
      {"check-config", "validate a configuration file and print every problem",
       "usage: obsgate check-config FILE\n\n"
       "Reads FILE as obsgate would at start, with ${NAME} expanded from the environment, and\n"
       "prints each problem as FILE:LINE:COLUMN: KEY: MESSAGE. Exits 0 when the file is good,\n"
       "1 when it has problems.\n",
       CheckConfig},
      {"analyze", "count requests, errors and error lines in log files, offline", kAnalyzeHelp,
       [](const std::vector<std::string>& a) { return Analyze(a); }},
      {"metrics-dump", "print the families and samples of one /metrics URL or file",
       kMetricsDumpHelp, [](const std::vector<std::string>& a) { return MetricsDump(a); }},
      {"rollback", "roll a deployment back now, through the orchestrator and the guards",
       kRollbackHelp, RollbackCommand},
      {"revisions", "list a deployment's revisions as the orchestrator keeps them", kRevisionsHelp,
       RevisionsCommand},
      {"lint-migrations", "flag destructive changes in SQL and Alembic migrations",
       kLintMigrationsHelp, LintMigrationsCommand},
      {"deploy", "start a deploy pipeline run for a tag on the running gateway", kDeployHelp,
       DeployCommand},
      {"approve", "let a pipeline run waiting for a person go on", kApproveHelp, ApproveCommand},
      {"abort", "stop an active pipeline run", kAbortHelp, AbortCommand},
      {"runs", "list pipeline runs, or show one with its steps", kRunsHelp, RunsCommand},
  };
  return commands;
}

void PrintHelp() {
  std::cout << "obsgate " << Version()
            << ": observability gateway and automatic-rollback monitor\n\n"
               "usage: obsgate [COMMAND] [ARGS...]\n\ncommands:\n";
  for (const Command& c : Commands()) {
    std::cout << "  " << c.name << std::string(16 - c.name.size(), ' ') << c.summary << "\n";
  }
  std::cout << "\n  --version       print the version and git revision\n"
               "  --help          this text; obsgate COMMAND --help for one command\n";
}

}  // namespace

int RunCli(const std::vector<std::string>& all) {
  // A person's one-off commands print their own result; the log says only what went wrong.
  bool one_off = !all.empty() && (all[0] == "rollback" || all[0] == "revisions" ||
                                  all[0] == "deploy" || all[0] == "approve" || all[0] == "abort" ||
                                  all[0] == "runs" || all[0] == "lint-migrations");
  if (const char* level = std::getenv("LOG_LEVEL")) {
    log::Init(level);
  } else {
    log::Init(one_off ? "warn" : "");
  }
  std::vector<std::string> args = all;
  if (!args.empty() && (args[0] == "--version" || args[0] == "version")) {
    std::cout << "obsgate " << Version() << " (revision " << Revision() << ")\n";
    return 0;
  }
  if (!args.empty() && (args[0] == "--help" || args[0] == "-h" || args[0] == "help")) {
    if (args.size() > 1) {
      for (const Command& c : Commands()) {
        if (c.name == args[1]) {
          std::cout << c.help;
          return 0;
        }
      }
    }
    PrintHelp();
    return 0;
  }
  std::string name = "run";
  if (!args.empty() && args[0].rfind("--", 0) != 0) {
    name = args[0];
    args.erase(args.begin());
  }
  for (const Command& c : Commands()) {
    if (c.name != name) continue;
    for (const std::string& a : args) {
      if (a == "--help" || a == "-h") {
        std::cout << c.help;
        return 0;
      }
    }
    return c.run(args);
  }
  std::cerr << "obsgate: unknown command \"" << name << "\"; see obsgate --help\n";
  return 2;
}

}  // namespace obsgate::app
