#include "app/rollback_cli.hpp"

#include <prometheus/registry.h>

#include <iostream>
#include <thread>

#include "alerting/dispatcher.hpp"
#include "app/alerting.hpp"
#include "app/default_config.hpp"
#include "app/rollbacks.hpp"
#include "app/rules_setup.hpp"
#include "core/time.hpp"
#include "rollback/audit.hpp"
#include "rollback/controller.hpp"
#include "rules/window_store.hpp"

namespace obsgate::app {

const char* const kRollbackHelp =
    "usage: obsgate rollback NAMESPACE/DEPLOYMENT [--to-revision N] [--dry-run] [--force]\n"
    "                        [--config FILE]\n"
    "\n"
    "Rolls a deployment back to its previous revision (or revision N) through the configured\n"
    "orchestrator, as a person deciding: only_within and the healthy-baseline guard do not\n"
    "apply; a contract-phase migration, cooldown and max_per_hour still do. The decision is\n"
    "appended to data_dir/rollbacks.jsonl and announced through the configured receivers.\n"
    "Without an orchestrator in the configuration, Kubernetes is reached through $KUBECONFIG\n"
    "(or ~/.kube/config). No running gateway is needed.\n\n"
    "  --to-revision N  the revision to go back to (see obsgate revisions)\n"
    "  --dry-run        decide and say what would happen; change nothing\n"
    "  --force          roll back though this version was decided already or the deployment\n"
    "                   is within its cooldown; the audit records the rollback as forced\n"
    "  --config FILE    the gateway's configuration (orchestrator, rollback, receivers)\n\n"
    "Exit status: 0 rolled back, skipped (already there) or dry run; 1 refused or failed; 2 bad\n"
    "usage.\n";

const char* const kRevisionsHelp =
    "usage: obsgate revisions NAMESPACE/DEPLOYMENT [--config FILE]\n\n"
    "Lists the revisions the orchestrator keeps for a deployment, the current one first: the\n"
    "revision, the version (image tag), when it rolled out, and the image. Without an\n"
    "orchestrator in the configuration, Kubernetes is reached through $KUBECONFIG.\n";

namespace {

struct Parsed {
  rollback::Target target;
  std::string config;
  std::string to_revision;
  bool dry_run = false;
  bool force = false;
};

// NAMESPACE/DEPLOYMENT and the options; an error message when the arguments are wrong.
std::string Parse(const std::vector<std::string>& args, bool rollback_options, Parsed& out) {
  std::vector<std::string> positional;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const char* name) -> std::optional<std::string> {
      std::string prefix = std::string(name) + "=";
      if (a.rfind(prefix, 0) == 0) return a.substr(prefix.size());
      if (a == name && i + 1 < args.size()) return args[++i];
      return std::nullopt;
    };
    if (a.rfind("--config", 0) == 0) {
      auto v = value("--config");
      if (!v) return "--config needs a file name";
      out.config = *v;
    } else if (rollback_options && a.rfind("--to-revision", 0) == 0) {
      auto v = value("--to-revision");
      if (!v || v->empty()) return "--to-revision needs a revision, like 3";
      out.to_revision = *v;
    } else if (rollback_options && a == "--dry-run") {
      out.dry_run = true;
    } else if (rollback_options && a == "--force") {
      out.force = true;
    } else if (a.rfind("--", 0) == 0) {
      return "unknown option " + a;
    } else {
      positional.push_back(a);
    }
  }
  if (positional.size() != 1) return "name one NAMESPACE/DEPLOYMENT, like shop/auth";
  std::size_t slash = positional[0].find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == positional[0].size()) {
    return "\"" + positional[0] + "\" is not NAMESPACE/DEPLOYMENT, like shop/auth";
  }
  out.target = {positional[0].substr(0, slash), positional[0].substr(slash + 1)};
  return "";
}

std::optional<core::Config> LoadFor(const Parsed& p, const core::Env& env, const char* command) {
  core::ConfigLoad load = p.config.empty()
                              ? ParseChecked(kDefaultConfig, std::string(kDefaultConfigName), env)
                              : LoadChecked(p.config, env);
  if (!load.config) {
    for (const auto& problem : load.problems) std::cerr << problem.ToString() << "\n";
    std::cerr << "obsgate " << command << ": the configuration has problems; nothing was done\n";
    return std::nullopt;
  }
  // A person at a terminal: without an orchestrator, the cluster kubectl would talk to.
  if (std::holds_alternative<std::monostate>(load.config->orchestrator.spec)) {
    load.config->orchestrator.spec = core::KubernetesOrchestratorConfig{};
  }
  return load.config;
}

}  // namespace

int RevisionsCommand(const std::vector<std::string>& args) {
  Parsed p;
  if (std::string error = Parse(args, false, p); !error.empty()) {
    std::cerr << "obsgate revisions: " << error << "\n";
    return 2;
  }
  core::Env env = core::ProcessEnv();
  auto config = LoadFor(p, env, "revisions");
  if (!config) return 1;
  core::SystemClock clock;
  auto orchestrator = MakeOrchestrator(config->orchestrator, env, clock);
  if (!orchestrator) {
    std::cerr << "obsgate revisions: " << orchestrator.error() << "\n";
    return 1;
  }
  auto revisions = (*orchestrator)->Revisions(p.target);
  if (!revisions) {
    std::cerr << "obsgate revisions: " << revisions.error() << "\n";
    return 1;
  }
  std::printf("%-10s %-16s %-26s %s\n", "REVISION", "VERSION", "ROLLED OUT", "IMAGE");
  for (const rollback::Revision& r : *revisions) {
    std::string when =
        r.rolled_out_at == core::TimePoint{} ? "-" : core::FormatRfc3339(r.rolled_out_at);
    std::printf("%-10s %-16s %-26s %s%s\n", r.id.c_str(), r.version.c_str(), when.c_str(),
                r.image.c_str(), r.current ? "  (current)" : "");
  }
  return 0;
}

int RollbackCommand(const std::vector<std::string>& args) {
  Parsed p;
  if (std::string error = Parse(args, true, p); !error.empty()) {
    std::cerr << "obsgate rollback: " << error << "\n";
    return 2;
  }
  core::Env env = core::ProcessEnv();
  auto config = LoadFor(p, env, "rollback");
  if (!config) return 1;
  core::SystemClock clock;
  prometheus::Registry registry;
  rules::WindowStore store(rules::WindowOptions{}, clock);
  // Announcements go through the configured receivers, from an outbox of the command's own so
  // a running gateway's outbox is never touched.
  core::Config announcing = *config;
  announcing.data_dir = config->data_dir + "/cli";
  auto alerting = Alerting::Create(announcing, env, clock, registry);
  if (!alerting) {
    std::cerr << "obsgate rollback: " << alerting.error() << "\n";
    return 1;
  }
  (*alerting)->Start();
  auto rollbacks = Rollbacks::Create(*config, env, clock, store, &(*alerting)->router(), registry);
  if (!rollbacks) {
    std::cerr << "obsgate rollback: " << rollbacks.error() << "\n";
    return 1;
  }
  rollback::RollbackController& controller = (*rollbacks)->controller();
  std::string bad_version;
  if (auto revisions = controller.orchestrator()->Revisions(p.target);
      revisions && !revisions->empty()) {
    bad_version = revisions->front().version;
  }
  const char* user = std::getenv("USER");
  rollback::RollbackEvent e = controller.RollBackNow(
      p.target, bad_version, p.to_revision, rollback::Candidate::Origin::kPerson,
      std::string("person") + (user ? " " + std::string(user) : ""), p.dry_run, p.force);
  std::cout << e.target.ns << "/" << e.target.deployment << ": " << e.result << ": "
            << (e.message.empty() ? e.reason : e.message) << "\n";
  // Give the announcement a moment to be delivered; what is left stays in the outbox.
  for (int i = 0; i < 100 && (*alerting)->pending() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if ((*alerting)->pending() > 0) {
    std::cerr << "obsgate rollback: the announcement is not delivered yet; it stays in "
              << announcing.data_dir << " and is sent on the next obsgate rollback\n";
  }
  (*alerting)->Stop();
  bool ok = e.result == "rolled_back" || e.result == "skipped" || e.result == "dry_run";
  return ok ? 0 : 1;
}

}  // namespace obsgate::app
