// The files that run obsgate elsewhere: the container image, the compose tier, the Kubernetes
// manifests and the CI workflows. Docker and a cluster cannot run here, so these check the
// files themselves: they parse, render, name what the binary links, and hold configurations
// obsgate, promtool and amtool accept.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "tests/integration/gateway_process.hpp"

namespace obsgate::testing {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

const std::string kSource = OBSGATE_SOURCE_DIR;

// Values a receiver accepts, to stand in for the secrets the manifests read from a Secret.
const std::vector<std::string> kFakeSecrets = {
    "SLACK_WEBHOOK_URL=https://hooks.slack.com/services/T00000000/B00000000/placeholder",
    "PAGERDUTY_ROUTING_KEY=0123456789abcdef0123456789abcdef", "POD_NAME=obsgate-1",
    "OBSGATE_API_TOKEN=3f1c0d2e9b8a7f6e5d4c3b2a1f0e9d8c"};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> Split(const std::string& text) {
  std::vector<std::string> words;
  std::istringstream in(text);
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

std::vector<std::string> YamlFiles() {
  std::vector<std::string> files;
  for (const char* dir : {"deploy", "dashboards", ".github/workflows"}) {
    for (const auto& e : fs::recursive_directory_iterator(kSource + "/" + dir)) {
      auto ext = e.path().extension();
      if (ext == ".yaml" || ext == ".yml") files.push_back(e.path().string());
    }
  }
  return files;
}

TEST(Files, EveryYamlFileParses) {
  std::vector<std::string> files = YamlFiles();
  EXPECT_GE(files.size(), 20u);
  for (const std::string& f : files) {
    try {
      std::vector<YAML::Node> docs = YAML::LoadAllFromFile(f);
      EXPECT_FALSE(docs.empty()) << f;
      for (const YAML::Node& d : docs) EXPECT_TRUE(d.IsMap()) << f;
    } catch (const YAML::Exception& e) {
      ADD_FAILURE() << f << ": " << e.what();
    }
  }
}

// ---- Kubernetes

struct Rendered {
  std::vector<YAML::Node> objects;
  std::string error;

  YAML::Node Get(const std::string& kind, const std::string& name = "") const {
    for (const YAML::Node& o : objects) {
      if (o["kind"].as<std::string>() == kind &&
          (name.empty() || o["metadata"]["name"].as<std::string>() == name)) {
        return o;
      }
    }
    return YAML::Node();
  }
};

Rendered Kustomize(const std::string& dir) {
  Rendered r;
  RunResult run = RunCommand({"kubectl", "kustomize", kSource + "/" + dir});
  if (run.exit_code != 0) {
    r.error = run.output;
    return r;
  }
  for (const YAML::Node& d : YAML::LoadAll(run.output)) {
    if (d.IsMap()) r.objects.push_back(d);
  }
  return r;
}

#define SKIP_WITHOUT_KUBECTL()                                                               \
  if (!HaveProgram("kubectl")) {                                                             \
    GTEST_SKIP() << "kubectl is not installed (it is no Debian package): the manifests are " \
                    "not rendered here";                                                     \
  }

std::set<std::string> Kinds(const Rendered& r) {
  std::set<std::string> kinds;
  for (const YAML::Node& o : r.objects) kinds.insert(o["kind"].as<std::string>());
  return kinds;
}

std::map<std::string, std::string> Labels(const YAML::Node& map) {
  std::map<std::string, std::string> out;
  for (const auto& kv : map) out[kv.first.as<std::string>()] = kv.second.as<std::string>();
  return out;
}

bool Selects(const YAML::Node& selector, const YAML::Node& labels) {
  std::map<std::string, std::string> have = Labels(labels);
  for (const auto& [k, v] : Labels(selector)) {
    if (!have.count(k) || have[k] != v) return false;
  }
  return !Labels(selector).empty();
}

// What every obsgate pod must hold, whichever variant runs it.
void ExpectLeastPrivilegePod(const YAML::Node& workload) {
  std::string name = workload["metadata"]["name"].as<std::string>();
  YAML::Node pod = workload["spec"]["template"]["spec"];
  EXPECT_EQ(pod["serviceAccountName"].as<std::string>(), "obsgate") << name;
  EXPECT_TRUE(pod["securityContext"]["runAsNonRoot"].as<bool>()) << name;
  EXPECT_NE(pod["securityContext"]["runAsUser"].as<int>(), 0) << name;
  EXPECT_EQ(pod["securityContext"]["seccompProfile"]["type"].as<std::string>(), "RuntimeDefault");
  ASSERT_EQ(pod["containers"].size(), 1u) << name;
  YAML::Node c = pod["containers"][0];
  EXPECT_THAT(c["image"].as<std::string>(), HasSubstr("/obsgate:")) << "the image is rewritten";
  YAML::Node sc = c["securityContext"];
  EXPECT_FALSE(sc["allowPrivilegeEscalation"].as<bool>()) << name;
  EXPECT_TRUE(sc["readOnlyRootFilesystem"].as<bool>()) << name;
  EXPECT_FALSE(sc["privileged"].as<bool>()) << name;
  EXPECT_EQ(sc["capabilities"]["drop"][0].as<std::string>(), "ALL") << name;
  EXPECT_FALSE(sc["capabilities"]["add"]) << name;
  EXPECT_TRUE(c["resources"]["requests"]["cpu"] && c["resources"]["requests"]["memory"]) << name;
  EXPECT_TRUE(c["resources"]["limits"]["memory"]) << name;
  EXPECT_EQ(c["livenessProbe"]["httpGet"]["path"].as<std::string>(), "/health") << name;
  EXPECT_EQ(c["readinessProbe"]["httpGet"]["path"].as<std::string>(), "/ready") << name;
  EXPECT_EQ(c["ports"][0]["containerPort"].as<int>(), 9464) << name;

  // Secrets arrive from a Secret by reference; no value is written in the manifest.
  std::map<std::string, std::string> secret_refs;
  for (const YAML::Node& e : c["env"]) {
    std::string var = e["name"].as<std::string>();
    if (e["valueFrom"] && e["valueFrom"]["secretKeyRef"]) {
      secret_refs[var] = e["valueFrom"]["secretKeyRef"]["name"].as<std::string>();
    } else {
      EXPECT_THAT(var, ::testing::Not(::testing::ContainsRegex("URL|KEY|TOKEN|PASSWORD")))
          << name << " writes a secret's value into the manifest";
    }
  }
  EXPECT_EQ(secret_refs.count("SLACK_WEBHOOK_URL") + secret_refs.count("PAGERDUTY_ROUTING_KEY"), 2u)
      << name;
  for (const auto& [var, secret] : secret_refs) {
    EXPECT_EQ(secret, "obsgate-receivers") << name << " reads " << var << " from another Secret";
  }

  // The config file comes from the ConfigMap, read-only; what obsgate writes has a volume.
  std::map<std::string, bool> mounts;
  for (const YAML::Node& m : c["volumeMounts"]) {
    mounts[m["mountPath"].as<std::string>()] = m["readOnly"] && m["readOnly"].as<bool>();
  }
  EXPECT_TRUE(mounts.count("/etc/obsgate") && mounts["/etc/obsgate"]) << name;
  EXPECT_TRUE(mounts.count("/var/lib/obsgate") && !mounts["/var/lib/obsgate"]) << name;
}

// The obsgate.yaml a ConfigMap holds passes `obsgate check-config`.
void ExpectValidConfig(const std::string& configmap_file) {
  YAML::Node cm = YAML::LoadFile(kSource + "/" + configmap_file);
  TempDir dir;
  std::string path = dir.Write("obsgate.yaml", cm["data"]["obsgate.yaml"].as<std::string>());
  RunResult r = RunCommand({OBSGATE_BINARY, "check-config", path}, {}, kFakeSecrets);
  EXPECT_EQ(r.exit_code, 0) << configmap_file << ":\n" << r.output;
}

TEST(Kubernetes, TheStatefulSetVariantRendersWithLeastPrivilege) {
  SKIP_WITHOUT_KUBECTL();
  Rendered r = Kustomize("deploy/k8s");
  ASSERT_TRUE(r.error.empty()) << r.error;
  EXPECT_EQ(Kinds(r), (std::set<std::string>{"Namespace", "ServiceAccount", "ClusterRole",
                                             "ClusterRoleBinding", "Role", "RoleBinding",
                                             "ConfigMap", "Service", "StatefulSet",
                                             "PodDisruptionBudget", "ServiceMonitor"}));
  for (const YAML::Node& o : r.objects) {
    std::string kind = o["kind"].as<std::string>();
    if (kind == "Namespace" || kind.starts_with("Cluster")) continue;
    EXPECT_EQ(o["metadata"]["namespace"].as<std::string>(), "obsgate") << kind;
  }
  ASSERT_TRUE(Kinds(r).count("StatefulSet"));
  YAML::Node deployment = r.Get("StatefulSet", "obsgate");
  ExpectLeastPrivilegePod(deployment);
  YAML::Node pod_labels = deployment["spec"]["template"]["metadata"]["labels"];
  EXPECT_GE(deployment["spec"]["replicas"].as<int>(), 2) << "a PDB needs a second replica";
  EXPECT_TRUE(Selects(r.Get("PodDisruptionBudget")["spec"]["selector"]["matchLabels"], pod_labels));
  EXPECT_TRUE(Selects(r.Get("Service", "obsgate")["spec"]["selector"], pod_labels));
  // The peers reach each other by the stable names the headless Service gives the pods.
  YAML::Node peers = r.Get("Service", deployment["spec"]["serviceName"].as<std::string>());
  ASSERT_TRUE(peers) << "the StatefulSet's serviceName names no Service";
  EXPECT_EQ(peers["spec"]["clusterIP"].as<std::string>(), "None");
  EXPECT_TRUE(Selects(peers["spec"]["selector"], pod_labels));
  YAML::Node cluster = YAML::Load(
      r.Get("ConfigMap", "obsgate-config")["data"]["obsgate.yaml"].as<std::string>())["cluster"];
  ASSERT_EQ(cluster["peers"].size(),
            static_cast<std::size_t>(deployment["spec"]["replicas"].as<int>()))
      << "every replica is a peer";
  for (int i = 0; i < deployment["spec"]["replicas"].as<int>(); ++i) {
    EXPECT_EQ(cluster["peers"][i].as<std::string>(),
              "http://obsgate-" + std::to_string(i) + "." +
                  peers["metadata"]["name"].as<std::string>() + ":9464");
  }
  EXPECT_EQ(
      deployment["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"].as<std::string>(),
      r.Get("ConfigMap")["metadata"]["name"].as<std::string>());
  EXPECT_EQ(r.Get("Namespace")["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
                .as<std::string>(),
            "restricted");
  // The ServiceMonitor finds the Service (not the peers' too: each pod scraped once) and scrapes
  // its named port.
  YAML::Node monitor = r.Get("ServiceMonitor");
  EXPECT_TRUE(Selects(monitor["spec"]["selector"]["matchLabels"],
                      r.Get("Service", "obsgate")["metadata"]["labels"]));
  EXPECT_FALSE(Selects(monitor["spec"]["selector"]["matchLabels"], peers["metadata"]["labels"]));
  EXPECT_EQ(monitor["spec"]["endpoints"][0]["port"].as<std::string>(),
            r.Get("Service", "obsgate")["spec"]["ports"][0]["name"].as<std::string>());
  EXPECT_FALSE(Kinds(r).count("Secret"))
      << "secrets are created apart, never kept in the repository";
}

TEST(Kubernetes, RollbackMayOnlyReadAndPatchDeployments) {
  SKIP_WITHOUT_KUBECTL();
  Rendered r = Kustomize("deploy/k8s");
  ASSERT_TRUE(r.error.empty()) << r.error;
  std::map<std::string, std::set<std::string>> granted;  // "group/resource" -> verbs
  for (const YAML::Node& rule : r.Get("ClusterRole")["rules"]) {
    for (const YAML::Node& group : rule["apiGroups"]) {
      for (const YAML::Node& resource : rule["resources"]) {
        for (const YAML::Node& verb : rule["verbs"]) {
          granted[group.as<std::string>() + "/" + resource.as<std::string>()].insert(
              verb.as<std::string>());
        }
      }
    }
  }
  EXPECT_EQ(granted, (std::map<std::string, std::set<std::string>>{
                         {"apps/deployments", {"get", "list", "watch", "patch"}},
                         {"apps/replicasets", {"get", "list", "watch"}}}));
  YAML::Node binding = r.Get("ClusterRoleBinding");
  EXPECT_EQ(binding["roleRef"]["name"].as<std::string>(),
            r.Get("ClusterRole")["metadata"]["name"].as<std::string>());
  EXPECT_EQ(binding["subjects"][0]["name"].as<std::string>(), "obsgate");
  EXPECT_EQ(binding["subjects"][0]["namespace"].as<std::string>(), "obsgate");
}

TEST(Kubernetes, LeaderElectionMayOnlyUseLeasesInItsOwnNamespace) {
  SKIP_WITHOUT_KUBECTL();
  Rendered r = Kustomize("deploy/k8s");
  ASSERT_TRUE(r.error.empty()) << r.error;
  YAML::Node role = r.Get("Role", "obsgate-leader-election");
  EXPECT_EQ(role["metadata"]["namespace"].as<std::string>(), "obsgate");
  ASSERT_EQ(role["rules"].size(), 1u);
  YAML::Node rule = role["rules"][0];
  EXPECT_EQ(rule["apiGroups"][0].as<std::string>(), "coordination.k8s.io");
  EXPECT_EQ(rule["resources"][0].as<std::string>(), "leases");
  std::set<std::string> verbs;
  for (const YAML::Node& v : rule["verbs"]) verbs.insert(v.as<std::string>());
  EXPECT_EQ(verbs, (std::set<std::string>{"get", "create", "update"}));
  YAML::Node binding = r.Get("RoleBinding", "obsgate-leader-election");
  EXPECT_EQ(binding["roleRef"]["kind"].as<std::string>(), "Role");
  EXPECT_EQ(binding["subjects"][0]["name"].as<std::string>(), "obsgate");
  // The replicas name themselves in the Lease by their pod names; the budget keeps one serving.
  YAML::Node deployment = r.Get("StatefulSet", "obsgate");
  bool pod_name = false;
  for (const YAML::Node& e : deployment["spec"]["template"]["spec"]["containers"][0]["env"]) {
    pod_name =
        pod_name || (e["name"].as<std::string>() == "POD_NAME" &&
                     e["valueFrom"]["fieldRef"]["fieldPath"].as<std::string>() == "metadata.name");
  }
  EXPECT_TRUE(pod_name);
  EXPECT_EQ(r.Get("PodDisruptionBudget")["spec"]["minAvailable"].as<int>(), 1);
  YAML::Node config =
      YAML::Load(r.Get("ConfigMap", "obsgate-config")["data"]["obsgate.yaml"].as<std::string>());
  EXPECT_EQ(config["leader_election"]["lease"]["name"].as<std::string>(), "obsgate");
}

TEST(Kubernetes, TheDaemonSetVariantTailsTheNodesLogsReadOnly) {
  SKIP_WITHOUT_KUBECTL();
  Rendered r = Kustomize("deploy/k8s/daemonset");
  ASSERT_TRUE(r.error.empty()) << r.error;
  EXPECT_TRUE(Kinds(r).count("DaemonSet"));
  EXPECT_FALSE(Kinds(r).count("StatefulSet")) << "a variant, not an addition";
  YAML::Node ds = r.Get("DaemonSet");
  ExpectLeastPrivilegePod(ds);
  YAML::Node pod = ds["spec"]["template"]["spec"];
  std::map<std::string, std::string> host_paths;
  for (const YAML::Node& v : pod["volumes"]) {
    if (v["hostPath"])
      host_paths[v["name"].as<std::string>()] = v["hostPath"]["path"].as<std::string>();
  }
  bool var_log_read_only = false;
  for (const YAML::Node& m : pod["containers"][0]["volumeMounts"]) {
    std::string volume = m["name"].as<std::string>();
    if (host_paths[volume] == "/var/log") {
      var_log_read_only = m["mountPath"].as<std::string>() == "/var/log" && m["readOnly"] &&
                          m["readOnly"].as<bool>();
    }
  }
  EXPECT_TRUE(var_log_read_only) << "/var/log must be mounted read-only at /var/log";
  // The one step that runs as root may only change the checkpoint directory's owner.
  ASSERT_EQ(pod["initContainers"].size(), 1u);
  YAML::Node init = pod["initContainers"][0];
  EXPECT_EQ(init["securityContext"]["capabilities"]["drop"][0].as<std::string>(), "ALL");
  EXPECT_EQ(init["securityContext"]["capabilities"]["add"].size(), 1u);
  EXPECT_EQ(init["securityContext"]["capabilities"]["add"][0].as<std::string>(), "CHOWN");
  EXPECT_FALSE(init["securityContext"]["allowPrivilegeEscalation"].as<bool>());

  // The node's obsgate tails what it mounts.
  YAML::Node config = YAML::Load(
      r.Get("ConfigMap",
            pod["volumes"][0]["configMap"]["name"].as<std::string>())["data"]["obsgate.yaml"]
          .as<std::string>());
  EXPECT_THAT(config["sources"][0]["tail"]["paths"][0].as<std::string>(),
              ::testing::StartsWith("/var/log/"));
}

TEST(Kubernetes, TheConfigMapsAreConfigurationsObsgateAccepts) {
  ExpectValidConfig("deploy/k8s/configmap.yaml");
  ExpectValidConfig("deploy/k8s/daemonset/configmap.yaml");
}

TEST(Kubernetes, EveryManifestFileIsInAKustomization) {
  std::set<std::string> listed;
  for (const char* dir : {"deploy/k8s", "deploy/k8s/base", "deploy/k8s/daemonset"}) {
    YAML::Node k = YAML::LoadFile(kSource + "/" + dir + "/kustomization.yaml");
    for (const YAML::Node& r : k["resources"]) {
      listed.insert(fs::weakly_canonical(kSource + "/" + dir + "/" + r.as<std::string>()).string());
    }
  }
  for (const auto& e : fs::recursive_directory_iterator(kSource + "/deploy/k8s")) {
    if (e.path().extension() != ".yaml" || e.path().filename() == "kustomization.yaml") continue;
    EXPECT_TRUE(listed.count(fs::weakly_canonical(e.path()).string()))
        << e.path() << " is in no kustomization, so it is never applied";
  }
}

// ---- Container image

// The words of the `apt-get install` in one stage of the Dockerfile, options left out.
std::set<std::string> AptInstall(const std::string& stage) {
  std::set<std::string> packages;
  std::string joined = std::regex_replace(stage, std::regex("\\\\\n"), " ");
  std::istringstream lines(joined);
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with("RUN ")) continue;
    std::vector<std::string> words = Split(line);
    for (std::size_t i = 1; i + 1 < words.size(); ++i) {
      if (words[i] != "install" || words[i - 1] != "apt-get") continue;
      for (std::size_t j = i + 1; j < words.size() && words[j] != "&&"; ++j) {
        if (!words[j].starts_with("-")) packages.insert(words[j]);
      }
    }
  }
  return packages;
}

struct Dockerfile {
  std::string build;    // the first stage
  std::string runtime;  // the last stage
};

Dockerfile ReadDockerfile() {
  std::string text = ReadFile(kSource + "/deploy/docker/Dockerfile");
  Dockerfile d;
  std::size_t first = text.find("\nFROM ");
  std::size_t last = text.rfind("\nFROM ");
  if (first != std::string::npos && last != first) {
    d.build = text.substr(first + 1, last - first);
    d.runtime = text.substr(last + 1);
  }
  return d;
}

// Debian packages owning the shared libraries the binary loads, resolved by ldd.
std::set<std::string> LinkedPackages(std::string* problems) {
  RunResult ldd = RunCommand({"ldd", OBSGATE_BINARY});
  std::set<std::string> packages;
  std::regex lib("=> (/\\S+)|^\\s*(/\\S+) \\(");
  std::istringstream lines(ldd.output);
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (!std::regex_search(line, m, lib)) continue;  // linux-vdso has no file
    std::string path = m[1].matched ? m[1].str() : m[2].str();
    std::string real = fs::canonical(path).string();
    std::string owner;
    // Debian 12 merged /lib into /usr/lib: dpkg knows a file under one of the two names.
    for (const std::string& candidate :
         {path, real, "/usr" + path, real.starts_with("/usr/") ? real.substr(4) : real}) {
      RunResult dpkg = RunCommand({"dpkg", "-S", candidate});
      if (dpkg.exit_code == 0) {
        owner = dpkg.output.substr(0, dpkg.output.find(':'));
        break;
      }
    }
    if (owner.empty()) {
      *problems += "no package owns " + path + "\n";
    } else {
      packages.insert(owner);
    }
  }
  return packages;
}

TEST(DockerImage, RuntimeLibrariesAreExactlyThePackagesTheBinaryLinks) {
  if (!HaveProgram("ldd") || !HaveProgram("dpkg")) GTEST_SKIP() << "needs ldd and dpkg";
  std::string problems;
  std::set<std::string> linked = LinkedPackages(&problems);
  EXPECT_EQ(problems, "");
  ASSERT_THAT(linked, Contains("libc6")) << "ldd found nothing: is the binary built?";
  for (const char* in_slim : {"libc6", "libstdc++6", "libgcc-s1"}) linked.erase(in_slim);

  Dockerfile d = ReadDockerfile();
  ASSERT_THAT(d.runtime, HasSubstr("FROM debian:bookworm-slim"));
  std::set<std::string> installed = AptInstall(d.runtime);
  EXPECT_THAT(installed, Contains("ca-certificates")) << "HTTPS receivers need the CA bundle";
  installed.erase("ca-certificates");
  EXPECT_EQ(installed, linked)
      << "the runtime stage's apt-get install must name exactly the libraries obsgate links";
}

TEST(DockerImage, BuildStageHasEveryBuildDependencyOfDevSh) {
  Dockerfile d = ReadDockerfile();
  ASSERT_THAT(d.build, HasSubstr("FROM debian:bookworm AS build"));
  std::set<std::string> installed = AptInstall(d.build);
  std::string dev = ReadFile(kSource + "/dev.sh");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(dev, m, std::regex("PACKAGES=\\(([^)]*)\\)")));
  const std::set<std::string> test_only = {"libgtest-dev", "libgmock-dev", "libbenchmark-dev"};
  for (const std::string& p : Split(m[1].str())) {
    bool build_dependency = p.ends_with("-dev") || p == "protobuf-compiler" || p == "cmake" ||
                            p == "g++" || p == "pkg-config";
    if (build_dependency && !test_only.count(p)) {
      EXPECT_THAT(installed, Contains(p)) << "dev.sh builds with " << p << ", the image does not";
    }
  }
}

TEST(DockerImage, RunsAsANonRootUserWithItsConfigFromAFile) {
  Dockerfile d = ReadDockerfile();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(d.runtime, m, std::regex("\nUSER ([0-9]+):([0-9]+)")))
      << "USER must be numeric for Kubernetes' runAsNonRoot";
  EXPECT_NE(m[1].str(), "0");
  EXPECT_THAT(d.runtime, HasSubstr("CMD [\"run\", \"--config\", \"/etc/obsgate/obsgate.yaml\"]"));
  EXPECT_THAT(d.runtime, HasSubstr("COPY deploy/docker/obsgate.yaml /etc/obsgate/obsgate.yaml"));
  RunResult check =
      RunCommand({OBSGATE_BINARY, "check-config", kSource + "/deploy/docker/obsgate.yaml"});
  EXPECT_EQ(check.exit_code, 0) << check.output;
  // Build tree and local data stay out of the build context.
  std::string ignore = ReadFile(kSource + "/deploy/docker/Dockerfile.dockerignore");
  EXPECT_THAT(ignore, HasSubstr("build*/"));
}

// The HEALTHCHECK's command, as the exec-form JSON array it is written in.
std::vector<std::string> HealthcheckCommand() {
  std::string text = std::regex_replace(ReadFile(kSource + "/deploy/docker/Dockerfile"),
                                        std::regex("\\\\\n"), " ");
  std::smatch m;
  if (!std::regex_search(text, m, std::regex("HEALTHCHECK [^\n]*CMD (\\[[^\n]*\\])"))) return {};
  simdjson::dom::parser parser;
  simdjson::dom::array array;
  std::string json = m[1].str();
  if (parser.parse(json).get(array) != simdjson::SUCCESS) return {};
  std::vector<std::string> argv;
  for (simdjson::dom::element e : array) argv.emplace_back(std::string_view(e));
  return argv;
}

TEST(DockerImage, HealthcheckPassesOnAHealthyObsgateAndFailsWithoutOne) {
  std::vector<std::string> argv = HealthcheckCommand();
  ASSERT_FALSE(argv.empty()) << "HEALTHCHECK CMD must be an exec-form JSON array";
  TempDir dir;
  GatewayProcess g = GatewayProcess::Start(dir.Write("obsgate.yaml", "listen: 127.0.0.1:0\n"));
  RunResult ok = RunCommand(argv, {}, {"OBSGATE_PORT=" + std::to_string(g.port)});
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  RunResult nobody = RunCommand(argv, {}, {"OBSGATE_PORT=" + std::to_string(FreePort())});
  EXPECT_NE(nobody.exit_code, 0) << "the health check passes with nothing listening";
}

// ---- Compose

TEST(Compose, RunsTheDevelopmentTierFromFilesInTheRepository) {
  const std::string dir = kSource + "/deploy/compose";
  YAML::Node compose = YAML::LoadFile(dir + "/compose.yaml");
  std::set<std::string> services;
  for (const auto& kv : compose["services"]) services.insert(kv.first.as<std::string>());
  EXPECT_EQ(services, (std::set<std::string>{"obsgate", "prometheus", "alertmanager", "grafana",
                                             "demo-v1", "demo-v2"}));
  EXPECT_EQ(compose["services"]["obsgate"]["build"]["dockerfile"].as<std::string>(),
            "deploy/docker/Dockerfile");
  EXPECT_TRUE(fs::exists(dir + "/" +
                         compose["services"]["obsgate"]["build"]["context"].as<std::string>() +
                         "/deploy/docker/Dockerfile"));
  // Every file or folder a service mounts from the repository is there.
  std::map<std::string, std::string> mounted;  // container path -> repository path
  for (const std::string& s : services) {
    for (const YAML::Node& v : compose["services"][s]["volumes"]) {
      std::string spec = v.as<std::string>();
      if (!spec.starts_with(".")) continue;  // a named volume
      std::string host = spec.substr(0, spec.find(':'));
      std::string rest = spec.substr(spec.find(':') + 1);
      std::string target = rest.substr(0, rest.find(':'));
      EXPECT_TRUE(fs::exists(dir + "/" + host)) << s << " mounts " << host << ", which is missing";
      mounted[s + ":" + target] = fs::weakly_canonical(dir + "/" + host).string();
    }
  }
  // Grafana finds the dashboards where its provisioning file says they are.
  YAML::Node providers =
      YAML::LoadFile(kSource + "/dashboards/provisioning/dashboards/obsgate.yaml");
  EXPECT_EQ(mounted["grafana:" + providers["providers"][0]["options"]["path"].as<std::string>()],
            fs::weakly_canonical(kSource + "/dashboards/grafana").string());
  EXPECT_EQ(mounted["prometheus:/etc/prometheus/obsgate.rules.yml"],
            fs::weakly_canonical(kSource + "/dashboards/prometheus/obsgate.rules.yml").string());
  EXPECT_EQ(compose["services"]["obsgate"]["read_only"].as<bool>(), true);
}

TEST(Compose, ObsgatePrometheusAndAlertmanagerAcceptTheirConfigurations) {
  const std::string dir = kSource + "/deploy/compose";
  RunResult obsgate = RunCommand({OBSGATE_BINARY, "check-config", dir + "/obsgate.yaml"});
  EXPECT_EQ(obsgate.exit_code, 0) << obsgate.output;
  if (!HaveProgram("promtool") || !HaveProgram("amtool")) {
    GTEST_SKIP() << "install the prometheus and prometheus-alertmanager packages";
  }
  // Laid out as the compose file mounts them: the rules beside prometheus.yml.
  TempDir etc;
  etc.Write("prometheus.yml", ReadFile(dir + "/prometheus.yml"));
  etc.Write("obsgate.rules.yml", ReadFile(kSource + "/dashboards/prometheus/obsgate.rules.yml"));
  RunResult prom = RunCommand({"promtool", "check", "config", etc.path() + "/prometheus.yml"});
  EXPECT_EQ(prom.exit_code, 0) << prom.output;
  EXPECT_THAT(prom.output, HasSubstr("SUCCESS: 11 rules found"));
  RunResult am = RunCommand({"amtool", "check-config", dir + "/alertmanager.yml"});
  EXPECT_EQ(am.exit_code, 0) << am.output;
  // obsgate's receiver and Prometheus's alerting block both reach the compose Alertmanager.
  YAML::Node config = YAML::LoadFile(dir + "/obsgate.yaml");
  EXPECT_EQ(config["receivers"][0]["alertmanager"]["urls"][0].as<std::string>(),
            "http://alertmanager:9093");
}

TEST(Compose, TheDemoServiceWritesLogsObsgateAttributesAndCounts) {
  const std::string dir = kSource + "/deploy/compose";
  TempDir logs;
  // Two seconds of the bad release, at a rate a test can count.
  RunResult demo = RunCommand({"timeout", "2.5", "sh", dir + "/demo/demo.sh"}, {},
                              {"APP=web", "VERSION=v2", "ERROR_PERCENT=50", "LINES_PER_SECOND=100",
                               "LOG_DIR=" + logs.path()});
  std::string file = logs.path() + "/web-v2.log";
  ASSERT_TRUE(fs::exists(file)) << demo.output;
  RunResult analyze = RunCommand({OBSGATE_BINARY, "analyze", "--format", "raw", "--json", file});
  ASSERT_EQ(analyze.exit_code, 0) << analyze.output;
  EXPECT_THAT(analyze.output, HasSubstr("\"namespace\":\"demo\",\"deployment\":\"web\","
                                        "\"version\":\"v2\""));
  std::smatch m;
  ASSERT_TRUE(
      std::regex_search(analyze.output, m, std::regex("\"requests\":([0-9]+),\"errors\":([0-9]+)")))
      << analyze.output;
  int requests = std::stoi(m[1]), errors = std::stoi(m[2]);
  EXPECT_GE(requests, 200);
  EXPECT_GT(errors, requests / 4) << "about half are 503s";
  EXPECT_LT(errors, requests * 3 / 4);
  // And the compose file points the tail at where the demo writes.
  YAML::Node config = YAML::LoadFile(dir + "/obsgate.yaml");
  EXPECT_EQ(config["sources"][1]["tail"]["paths"][0].as<std::string>(), "/var/log/demo/*.log");
}

// ---- CI workflows

std::string Steps(const YAML::Node& workflow) {
  std::string all;
  for (const auto& job : workflow["jobs"]) {
    for (const YAML::Node& step : job.second["steps"]) {
      if (step["run"]) all += step["run"].as<std::string>() + "\n";
      if (step["uses"]) all += "uses " + step["uses"].as<std::string>() + "\n";
      for (const auto& kv : step["with"]) all += kv.second.as<std::string>() + "\n";
    }
  }
  return all;
}

TEST(Workflows, PullRequestsAreBuiltTestedFormattedAndTidied) {
  YAML::Node ci = YAML::LoadFile(kSource + "/.github/workflows/ci.yml");
  EXPECT_TRUE(ci["on"]["pull_request"]) << "runs on every pull request";
  std::string steps = Steps(ci);
  EXPECT_THAT(steps, HasSubstr("./dev.sh test"));
  EXPECT_THAT(steps, HasSubstr("clang-format --dry-run --Werror"));
  EXPECT_THAT(steps, HasSubstr("clang-tidy -p build"));
}

TEST(Workflows, MainAndTagsShipAnImageOnlyAfterTrivyScannedIt) {
  for (const char* name : {"image.yml", "release.yml"}) {
    YAML::Node w = YAML::LoadFile(kSource + "/.github/workflows/" + name);
    std::string steps = Steps(w);
    std::size_t scan = steps.find("uses aquasecurity/trivy-action");
    std::size_t push = steps.find("docker push");
    ASSERT_NE(scan, std::string::npos) << name;
    ASSERT_NE(push, std::string::npos) << name;
    EXPECT_LT(scan, push) << name << " pushes before the scan";
    EXPECT_THAT(steps, HasSubstr("deploy/docker/Dockerfile")) << name;
  }
  YAML::Node image = YAML::LoadFile(kSource + "/.github/workflows/image.yml");
  EXPECT_EQ(image["on"]["push"]["branches"][0].as<std::string>(), "main");
  YAML::Node release = YAML::LoadFile(kSource + "/.github/workflows/release.yml");
  EXPECT_EQ(release["on"]["push"]["tags"][0].as<std::string>(), "v*");
  EXPECT_THAT(Steps(release), HasSubstr("gh release create"));
}

}  // namespace
}  // namespace obsgate::testing
