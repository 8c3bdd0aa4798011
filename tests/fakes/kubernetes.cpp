#include "tests/fakes/kubernetes.hpp"

#include <algorithm>
#include <cstring>
#include <ctime>
#include <set>

namespace obsgate::fakes {
namespace {

using rollback::kubernetes::Json;
using rollback::kubernetes::SemanticEqual;

constexpr const char* kHashLabel = "pod-template-hash";
constexpr const char* kRevision = "deployment.kubernetes.io/revision";

Json Str(const std::string& s) { return Json::String(s); }

// A Kubernetes Status body, as the API server sends with every error.
server::Response StatusResponse(int code, const std::string& reason, const std::string& message,
                                const std::string& kind = "", const std::string& name = "",
                                const std::string& group = "apps") {
  Json s = Json::Object();
  s.Set("kind", Str("Status"));
  s.Set("apiVersion", Str("v1"));
  s.Set("metadata", Json::Object());
  s.Set("status", Str("Failure"));
  s.Set("message", Str(message));
  s.Set("reason", Str(reason));
  if (!kind.empty()) {
    Json details = Json::Object();
    if (!name.empty()) details.Set("name", Str(name));
    details.Set("group", Str(group));
    details.Set("kind", Str(kind));
    s.Set("details", std::move(details));
  }
  s.Set("code", Json::Int(code));
  return server::Response::Json(code, s.Dump());
}

server::Response Ok(const Json& body) { return server::Response::Json(200, body.Dump()); }

// The pod-template-hash of a template: FNV-1a of its JSON, spelled as rand.SafeEncodeString spells
// the controller's hash.
std::string TemplateHash(const Json& pod_template) {
  std::uint32_t h = 2166136261u;
  for (unsigned char c : pod_template.Dump()) {
    h ^= c;
    h *= 16777619u;
  }
  static constexpr char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  std::string out;
  for (char c : std::to_string(h)) out += kAlphabet[static_cast<unsigned char>(c) % 27];
  return out;
}

Json WithoutHash(Json t) {
  if (Json* m = t.Find("metadata")) {
    if (Json* labels = m->Find("labels")) {
      labels->Erase(kHashLabel);
      if (labels->members().empty()) m->Erase("labels");
    }
  }
  return t;
}

// A pod template as the API server prints it after defaulting, fields in Go's order.
Json PodTemplate(const std::string& app, const std::string& image) {
  Json labels = Json::Object();
  labels.Set("app", Str(app));
  Json metadata = Json::Object();
  metadata.Set("creationTimestamp", Json());
  metadata.Set("labels", std::move(labels));
  Json annotations = Json::Object();
  annotations.Set("prometheus.io/scrape", Str("true"));
  metadata.Set("annotations", std::move(annotations));

  Json port = Json::Object();
  port.Set("name", Str("http"));
  port.Set("containerPort", Json::Int(8000));
  port.Set("protocol", Str("TCP"));
  Json env = Json::Array();
  Json var = Json::Object();
  var.Set("name", Str("GREETING"));
  var.Set("value", Str("<b>hello</b> & \"welcome\""));  // Go escapes <, >, & in JSON
  env.Push(std::move(var));
  Json limits = Json::Object();
  limits.Set("cpu", Str("500m"));
  limits.Set("memory", Str("128Mi"));
  Json resources = Json::Object();
  resources.Set("limits", std::move(limits));
  Json container = Json::Object();
  container.Set("name", Str(app));
  container.Set("image", Str(image));
  container.Set("ports", Json::Array()).Push(std::move(port));
  container.Set("env", std::move(env));
  container.Set("resources", std::move(resources));
  container.Set("terminationMessagePath", Str("/dev/termination-log"));
  container.Set("terminationMessagePolicy", Str("File"));
  container.Set("imagePullPolicy", Str("IfNotPresent"));
  Json sidecar = Json::Object();
  sidecar.Set("name", Str("log-shipper"));
  sidecar.Set("image", Str("fluent/fluent-bit:3.0"));
  sidecar.Set("resources", Json::Object());
  sidecar.Set("terminationMessagePath", Str("/dev/termination-log"));
  sidecar.Set("terminationMessagePolicy", Str("File"));
  sidecar.Set("imagePullPolicy", Str("IfNotPresent"));

  Json spec = Json::Object();
  Json containers = Json::Array();
  containers.Push(std::move(container));
  containers.Push(std::move(sidecar));
  spec.Set("containers", std::move(containers));
  spec.Set("restartPolicy", Str("Always"));
  spec.Set("terminationGracePeriodSeconds", Json::Int(30));
  spec.Set("dnsPolicy", Str("ClusterFirst"));
  spec.Set("securityContext", Json::Object());
  spec.Set("schedulerName", Str("default-scheduler"));

  Json t = Json::Object();
  t.Set("metadata", std::move(metadata));
  t.Set("spec", std::move(spec));
  return t;
}

// Sets `labels[key] = value` keeping the keys sorted, as Go prints a map.
void SetSorted(Json& map, const std::string& key, Json value) {
  Json sorted = Json::Object();
  std::map<std::string, Json> all;
  for (const auto& m : map.members()) all[m.key] = m.value;
  all[key] = std::move(value);
  for (auto& [k, v] : all) sorted.Set(k, std::move(v));
  map = std::move(sorted);
}

// A label selector requirement list, "a=b,c in (d,e),!f", applied to a labels object.
bool Selects(const std::string& selector, const Json* labels) {
  std::vector<std::string> parts;
  int depth = 0;
  std::string cur;
  for (char c : selector) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == ',' && depth == 0) {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) parts.push_back(cur);
  auto label = [&](const std::string& k) -> std::optional<std::string> {
    const Json* v = labels ? labels->Find(k) : nullptr;
    if (!v) return std::nullopt;
    return std::string(v->str());
  };
  auto trim = [](std::string s) {
    s.erase(0, s.find_first_not_of(' '));
    s.erase(s.find_last_not_of(' ') + 1);
    return s;
  };
  for (std::string p : parts) {
    p = trim(p);
    if (p.empty()) continue;
    auto set_of = [&](std::size_t open) {
      std::set<std::string> values;
      std::string inner = p.substr(open + 1, p.rfind(')') - open - 1);
      std::size_t start = 0;
      while (start <= inner.size()) {
        std::size_t comma = inner.find(',', start);
        values.insert(trim(inner.substr(start, comma - start)));
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
      return values;
    };
    if (std::size_t at = p.find(" notin "); at != std::string::npos) {
      auto v = label(trim(p.substr(0, at)));
      if (v && set_of(p.find('(')).count(*v)) return false;
    } else if (std::size_t in = p.find(" in "); in != std::string::npos) {
      auto v = label(trim(p.substr(0, in)));
      if (!v || !set_of(p.find('(')).count(*v)) return false;
    } else if (std::size_t ne = p.find("!="); ne != std::string::npos) {
      auto v = label(trim(p.substr(0, ne)));
      if (v && *v == trim(p.substr(ne + 2))) return false;
    } else if (std::size_t eq = p.find('='); eq != std::string::npos) {
      std::size_t value_at = p.compare(eq, 2, "==") == 0 ? eq + 2 : eq + 1;
      auto v = label(trim(p.substr(0, eq)));
      if (!v || *v != trim(p.substr(value_at))) return false;
    } else if (p.front() == '!') {
      if (label(trim(p.substr(1)))) return false;
    } else if (!label(p)) {
      return false;
    }
  }
  return true;
}

// The API resource lists discovery serves.
Json Resource(const std::string& name, const std::string& singular, const std::string& kind,
              std::vector<std::string> verbs, std::vector<std::string> short_names = {}) {
  Json r = Json::Object();
  r.Set("name", Str(name));
  r.Set("singularName", Str(singular));
  r.Set("namespaced", Json::Bool(name != "namespaces"));
  r.Set("kind", Str(kind));
  Json v = Json::Array();
  for (const auto& verb : verbs) v.Push(Str(verb));
  r.Set("verbs", std::move(v));
  if (!short_names.empty()) {
    Json s = Json::Array();
    for (const auto& n : short_names) s.Push(Str(n));
    r.Set("shortNames", std::move(s));
  }
  return r;
}

std::vector<std::string> Split(std::string_view path) {
  std::vector<std::string> out;
  std::size_t start = 1;
  while (start <= path.size()) {
    std::size_t slash = path.find('/', start);
    out.emplace_back(path.substr(start, slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return out;
}

std::string Base64(const std::string& in) {
  static constexpr char kChars[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                 (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    for (int s : {18, 12, 6, 0}) out += kChars[(v >> s) & 63];
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += kChars[(v >> 18) & 63];
    out += kChars[(v >> 12) & 63];
    out += i + 1 < in.size() ? kChars[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string Unbase64(const std::string& in) {
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : in) {
    const char* at =
        std::strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", c);
    if (c == '=' || c == '\0' || !at) continue;
    buffer = (buffer << 6) |
             static_cast<unsigned>(
                 at - "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  return out;
}

// RFC 6901: "/spec/template" -> {"spec", "template"}, with ~1 and ~0 unescaped.
std::vector<std::string> Pointer(const std::string& path) {
  std::vector<std::string> out;
  if (path.empty()) return out;
  for (std::string token : Split(path)) {
    std::string t;
    for (std::size_t i = 0; i < token.size(); ++i) {
      if (token[i] == '~' && i + 1 < token.size()) {
        t += token[i + 1] == '1' ? '/' : '~';
        ++i;
      } else {
        t += token[i];
      }
    }
    out.push_back(t);
  }
  return out;
}

// Applies one RFC 6902 operation (add, replace, remove, test); false with a reason otherwise.
bool ApplyOp(Json& doc, const Json& op, std::string* why) {
  std::string kind(op.Text({"op"}));
  auto tokens = Pointer(op.Text({"path"}));
  if (tokens.empty()) {
    *why = "the root cannot be patched here";
    return false;
  }
  Json* parent = &doc;
  for (std::size_t i = 0; i + 1 < tokens.size(); ++i) {
    Json* next = nullptr;
    if (parent->is_object()) {
      next = parent->Find(tokens[i]);
    } else if (parent->is_array()) {
      std::size_t idx = std::strtoul(tokens[i].c_str(), nullptr, 10);
      if (idx < parent->items().size()) next = &parent->items()[idx];
    }
    if (!next) {
      *why = "doc is missing path: \"" + op.Text({"path"}) + "\"";
      return false;
    }
    parent = next;
  }
  const std::string& last = tokens.back();
  const Json* value = op.Find("value");
  if (parent->is_array()) {
    auto& items = parent->items();
    bool append = last == "-";
    std::size_t idx = append ? items.size() : std::strtoul(last.c_str(), nullptr, 10);
    if (kind == "add" && value && idx <= items.size()) {
      items.insert(items.begin() + static_cast<std::ptrdiff_t>(idx), *value);
      return true;
    }
    if (idx >= items.size()) {
      *why = "index out of range: \"" + op.Text({"path"}) + "\"";
      return false;
    }
    if (kind == "replace" && value) {
      items[idx] = *value;
    } else if (kind == "remove") {
      items.erase(items.begin() + static_cast<std::ptrdiff_t>(idx));
    } else if (kind == "test" && value) {
      if (!(items[idx] == *value)) {
        *why = "testing value " + op.Text({"path"}) + " failed";
        return false;
      }
    } else {
      *why = "unsupported operation \"" + kind + "\"";
      return false;
    }
    return true;
  }
  if (!parent->is_object()) {
    *why = "doc is missing path: \"" + op.Text({"path"}) + "\"";
    return false;
  }
  Json* existing = parent->Find(last);
  if (kind == "add" && value) {
    parent->Set(last, *value);
  } else if (kind == "replace" && value) {
    if (!existing) {
      *why = "replace operation does not apply: doc is missing key: " + op.Text({"path"});
      return false;
    }
    *existing = *value;
  } else if (kind == "remove") {
    if (!existing) {
      *why = "remove operation does not apply: doc is missing path: " + op.Text({"path"});
      return false;
    }
    parent->Erase(last);
  } else if (kind == "test" && value) {
    if (!existing || !(*existing == *value)) {
      *why = "testing value " + op.Text({"path"}) + " failed";
      return false;
    }
  } else {
    *why = "unsupported operation \"" + kind + "\"";
    return false;
  }
  return true;
}

int RevisionOf(const Json& o) {
  return std::atoi(o.Text({"metadata", "annotations", kRevision}).c_str());
}

// The status fields of a Deployment whose rollout is where `r` says.
void ApplyRollout(Json& d, const FakeKubernetes::RolloutSeed& r) {
  std::string name = d.Text({"metadata", "name"});
  d.Find("metadata")->Set("generation", Json::Int(r.generation));
  Json status = Json::Object();
  status.Set("observedGeneration", Json::Int(r.observed_generation));
  status.Set("replicas", Json::Int(r.replicas));
  status.Set("updatedReplicas", Json::Int(r.updated));
  status.Set("readyReplicas", Json::Int(r.ready));
  status.Set("availableReplicas", Json::Int(r.available));
  if (r.replicas > r.available)
    status.Set("unavailableReplicas", Json::Int(r.replicas - r.available));
  Json conditions = Json::Array();
  Json available = Json::Object();
  available.Set("type", Str("Available"));
  available.Set("status", Str(r.available > 0 ? "True" : "False"));
  available.Set("lastUpdateTime", Str("2025-01-01T10:00:00Z"));
  available.Set("lastTransitionTime", Str("2025-01-01T10:00:00Z"));
  available.Set("reason",
                Str(r.available > 0 ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable"));
  available.Set("message", Str("Deployment has minimum availability."));
  conditions.Push(std::move(available));
  Json progressing = Json::Object();
  progressing.Set("type", Str("Progressing"));
  progressing.Set("status",
                  Str(r.progressing_reason == "ProgressDeadlineExceeded" ? "False" : "True"));
  progressing.Set("lastUpdateTime", Str("2025-01-01T10:00:00Z"));
  progressing.Set("lastTransitionTime", Str("2025-01-01T10:00:00Z"));
  progressing.Set("reason", Str(r.progressing_reason));
  progressing.Set("message", Str("ReplicaSet \"" + name + "\" is progressing."));
  conditions.Push(std::move(progressing));
  status.Set("conditions", std::move(conditions));
  d.Set("status", std::move(status));
}

}  // namespace

FakeKubernetes::FakeKubernetes() {
  server::ServerOptions options;
  options.threads = 4;
  server_ = std::make_unique<server::HttpServer>(options, registry_);
  for (const char* method : {"GET", "PATCH", "POST", "PUT", "DELETE"}) {
    server_->Route(method, "/*", "kubernetes",
                   [this](const server::Request& r) { return Handle(r); });
  }
}

FakeKubernetes::~FakeKubernetes() { Stop(); }

core::Status FakeKubernetes::Start() { return server_->Start(); }

void FakeKubernetes::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  released_.notify_all();
  server_->Stop(std::chrono::seconds(5));
}

std::uint16_t FakeKubernetes::port() const { return server_->port(); }
std::string FakeKubernetes::url() const { return "http://127.0.0.1:" + std::to_string(port()); }

std::string FakeKubernetes::Kubeconfig(const std::string& ns) const {
  return "apiVersion: v1\nkind: Config\ncurrent-context: test\n"
         "clusters: [{name: fake, cluster: {server: \"" +
         url() +
         "\"}}]\n"
         "users: [{name: obsgate, user: {token: t0ken}}]\n"
         "contexts: [{name: test, context: {cluster: fake, user: obsgate" +
         (ns.empty() ? "" : ", namespace: " + ns) + "}}]\n";
}

std::string FakeKubernetes::NextResourceVersion() { return std::to_string(++resource_version_); }

std::string FakeKubernetes::NextTimestamp() {
  // One minute apart, from a fixed morning, so creation order is also time order.
  std::time_t t = 1'735'725'600 + 60 * created_++;  // 2025-01-01T10:00:00Z
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string FakeKubernetes::NextUid() {
  char buf[40];
  std::snprintf(buf, sizeof buf, "6f1c2a3b-0000-4000-8000-%012d", created_ + 1);
  return buf;
}

Json FakeKubernetes::MakeReplicaSet(const Json& deployment, const Json& pod_template, int revision,
                                    bool controlled) {
  Json t = WithoutHash(pod_template);
  std::string hash = TemplateHash(t);
  if (!controlled) hash += "x";
  Json* tmeta = t.Find("metadata");
  if (!tmeta) tmeta = &t.Set("metadata", Json::Object());
  Json labels = tmeta->Find("labels") ? *tmeta->Find("labels") : Json::Object();
  SetSorted(labels, kHashLabel, Str(hash));
  tmeta->Set("labels", labels);

  std::string name = deployment.Text({"metadata", "name"});
  Json metadata = Json::Object();
  metadata.Set("name", Str(name + "-" + hash));
  metadata.Set("namespace", Str(deployment.Text({"metadata", "namespace"})));
  metadata.Set("uid", Str(NextUid()));
  metadata.Set("resourceVersion", Str(NextResourceVersion()));
  metadata.Set("generation", Json::Int(1));
  metadata.Set("creationTimestamp", Str(NextTimestamp()));
  metadata.Set("labels", labels);
  // The controller copies the Deployment's annotations, then adds its own (sorted on print).
  Json annotations = Json::Object();
  if (const Json* da = deployment.At({"metadata", "annotations"})) {
    for (const auto& m : da->members()) {
      if (m.key != kRevision && m.key != "kubectl.kubernetes.io/last-applied-configuration") {
        SetSorted(annotations, m.key, m.value);
      }
    }
  }
  std::string replicas = std::to_string(
      deployment.At({"spec", "replicas"}) ? *deployment.At({"spec", "replicas"})->Integer() : 1);
  SetSorted(annotations, "deployment.kubernetes.io/desired-replicas", Str(replicas));
  SetSorted(annotations, "deployment.kubernetes.io/max-replicas",
            Str(std::to_string(std::stoi(replicas) + 1)));
  SetSorted(annotations, kRevision, Str(std::to_string(revision)));
  metadata.Set("annotations", std::move(annotations));
  Json owner = Json::Object();
  owner.Set("apiVersion", Str(controlled ? "apps/v1" : "argoproj.io/v1alpha1"));
  owner.Set("kind", Str(controlled ? "Deployment" : "Rollout"));
  owner.Set("name", Str(name));
  owner.Set("uid", Str(controlled ? deployment.Text({"metadata", "uid"}) : NextUid() + "-other"));
  owner.Set("controller", Json::Bool(true));
  owner.Set("blockOwnerDeletion", Json::Bool(true));
  metadata.Set("ownerReferences", Json::Array()).Push(std::move(owner));

  Json selector_labels = Json::Object();
  if (const Json* ml = deployment.At({"spec", "selector", "matchLabels"})) selector_labels = *ml;
  SetSorted(selector_labels, kHashLabel, Str(hash));
  Json spec = Json::Object();
  spec.Set("replicas", Json::Int(0));
  spec.Set("selector", Json::Object()).Set("matchLabels", std::move(selector_labels));
  spec.Set("template", std::move(t));
  Json status = Json::Object();
  status.Set("replicas", Json::Int(0));
  status.Set("observedGeneration", Json::Int(1));

  Json rs = Json::Object();
  rs.Set("kind", Str("ReplicaSet"));
  rs.Set("apiVersion", Str("apps/v1"));
  rs.Set("metadata", std::move(metadata));
  rs.Set("spec", std::move(spec));
  rs.Set("status", std::move(status));
  return rs;
}

void FakeKubernetes::AddDeployment(const DeploymentSeed& seed) {
  std::lock_guard lock(mu_);
  Json labels = Json::Object();
  labels.Set("app", Str(seed.name));
  Json metadata = Json::Object();
  metadata.Set("name", Str(seed.name));
  metadata.Set("namespace", Str(seed.ns));
  metadata.Set("uid", Str(NextUid()));
  metadata.Set("resourceVersion", Str(NextResourceVersion()));
  metadata.Set("generation", Json::Int(seed.revisions));
  metadata.Set("creationTimestamp", Str(NextTimestamp()));
  metadata.Set("labels", labels);
  Json annotations = Json::Object();
  annotations.Set(kRevision, Str(std::to_string(seed.revisions)));
  annotations.Set("kubectl.kubernetes.io/last-applied-configuration",
                  Str("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\"}\n"));
  annotations.Set("team", Str("identity"));
  metadata.Set("annotations", std::move(annotations));
  SetSorted(*metadata.Find("annotations"), "team", Str("identity"));

  Json strategy = Json::Object();
  strategy.Set("type", Str("RollingUpdate"));
  Json rolling = Json::Object();
  rolling.Set("maxUnavailable", Str("25%"));
  rolling.Set("maxSurge", Str("25%"));
  strategy.Set("rollingUpdate", std::move(rolling));
  Json spec = Json::Object();
  spec.Set("replicas", Json::Int(seed.replicas));
  spec.Set("selector", Json::Object()).Set("matchLabels", labels);
  spec.Set("template", PodTemplate(seed.name, seed.image + ":v" + std::to_string(seed.revisions)));
  spec.Set("strategy", std::move(strategy));
  spec.Set("revisionHistoryLimit", Json::Int(10));
  if (seed.paused) spec.Set("paused", Json::Bool(true));
  spec.Set("progressDeadlineSeconds", Json::Int(600));

  Json d = Json::Object();
  d.Set("kind", Str("Deployment"));
  d.Set("apiVersion", Str("apps/v1"));
  d.Set("metadata", std::move(metadata));
  d.Set("spec", std::move(spec));
  d.Set("status", Json::Object());
  // Older revisions first, as they were rolled out; each carries the change-cause of its time.
  for (int r = 1; r <= seed.revisions; ++r) {
    Json at_the_time = d;
    SetSorted(*at_the_time.Find("metadata")->Find("annotations"), "kubernetes.io/change-cause",
              Str("deploy v" + std::to_string(r) + " <ci & cd>"));
    Json rs = MakeReplicaSet(
        at_the_time, PodTemplate(seed.name, seed.image + ":v" + std::to_string(r)), r, true);
    if (r == seed.revisions) {
      rs.Find("spec")->Set("replicas", Json::Int(seed.replicas));
      rs.Find("status")->Set("replicas", Json::Int(seed.replicas));
    }
    replica_sets_[seed.ns + "/" + rs.Text({"metadata", "name"})] = std::move(rs);
  }
  RolloutSeed done;
  done.generation = done.observed_generation = seed.revisions;
  done.replicas = done.updated = done.ready = done.available = seed.replicas;
  ApplyRollout(d, done);
  deployments_[seed.ns + "/" + seed.name] = std::move(d);
}

void FakeKubernetes::AddReplicaSet(const std::string& ns, const std::string& deployment,
                                   const std::string& tag, int revision, bool controlled) {
  std::lock_guard lock(mu_);
  auto it = deployments_.find(ns + "/" + deployment);
  if (it == deployments_.end()) return;
  std::string image(it->second.Text({"spec", "template", "spec", "containers"}));
  const Json* c = it->second.At({"spec", "template", "spec", "containers"});
  std::string repo(c->items()[0].Text({"image"}));
  repo = repo.substr(0, repo.rfind(':'));
  Json rs =
      MakeReplicaSet(it->second, PodTemplate(deployment, repo + ":" + tag), revision, controlled);
  replica_sets_[ns + "/" + rs.Text({"metadata", "name"})] = std::move(rs);
}

void FakeKubernetes::SetRollout(const std::string& ns, const std::string& name,
                                const RolloutSeed& r) {
  std::lock_guard lock(mu_);
  auto it = deployments_.find(ns + "/" + name);
  if (it == deployments_.end()) return;
  ApplyRollout(it->second, r);
  it->second.Find("metadata")->Set("resourceVersion", Str(NextResourceVersion()));
}

void FakeKubernetes::RequireToken(std::string token) {
  std::lock_guard lock(mu_);
  token_ = std::move(token);
}

void FakeKubernetes::AddFault(Fault fault) {
  std::lock_guard lock(mu_);
  faults_.push_back(std::move(fault));
}

void FakeKubernetes::SetHangLimit(std::chrono::milliseconds limit) {
  std::lock_guard lock(mu_);
  hang_limit_ = limit;
}

std::optional<Json> FakeKubernetes::Get(const std::string& resource, const std::string& ns,
                                        const std::string& name) const {
  std::lock_guard lock(mu_);
  const auto& store = resource == "deployments" ? deployments_
                      : resource == "leases"    ? leases_
                                                : replica_sets_;
  auto it = store.find(ns + "/" + name);
  if (it == store.end()) return std::nullopt;
  return it->second;
}

std::vector<Json> FakeKubernetes::ReplicaSets(const std::string& ns) const {
  std::lock_guard lock(mu_);
  std::vector<Json> out;
  for (const auto& [key, rs] : replica_sets_) {
    if (key.starts_with(ns + "/")) out.push_back(rs);
  }
  return out;
}

std::vector<FakeKubernetes::Request> FakeKubernetes::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

std::vector<FakeKubernetes::Request> FakeKubernetes::Requests(const std::string& method) const {
  std::lock_guard lock(mu_);
  std::vector<Request> out;
  for (const auto& r : requests_) {
    if (r.method == method) out.push_back(r);
  }
  return out;
}

server::Response FakeKubernetes::Handle(const server::Request& request) {
  Request record;
  record.method = request.method;
  record.path = request.path;
  record.query = request.query;
  record.content_type = std::string(request.HeaderValue("Content-Type"));
  record.authorization = std::string(request.HeaderValue("Authorization"));
  record.body = request.body;
  std::size_t index;
  {
    std::lock_guard lock(mu_);
    index = requests_.size();
    requests_.push_back(record);
  }
  server::Response response = Serve(request, record);
  std::lock_guard lock(mu_);
  requests_[index].status = record.status;
  return response;
}

// coordination.k8s.io/v1 Leases in a namespace: get, create, replace. A replace must carry the
// stored metadata.resourceVersion (optimistic concurrency, as the API server checks it) or gets
// 409 Conflict; a create of one that exists gets 409 AlreadyExists.
server::Response FakeKubernetes::Leases(const server::Request& request) {
  auto parts = Split(request.path);  // apis coordination.k8s.io v1 namespaces {ns} leases [name]
  if (parts.size() < 6 || parts[3] != "namespaces" || parts[5] != "leases") {
    return StatusResponse(404, "NotFound", "the server could not find the requested resource");
  }
  const std::string ns = parts[4];
  const std::string name = parts.size() > 6 ? parts[6] : "";
  auto status = [&](int code, const std::string& reason, const std::string& message) {
    return StatusResponse(code, reason, message, "leases", name, "coordination.k8s.io");
  };
  const std::string object = "leases.coordination.k8s.io \"" + name + "\"";
  std::lock_guard lock(mu_);
  if (request.method == "GET" && !name.empty()) {
    auto it = leases_.find(ns + "/" + name);
    if (it == leases_.end()) return status(404, "NotFound", object + " not found");
    return Ok(it->second);
  }
  auto body = Json::Parse(request.body);
  if (!body || !body->is_object()) return status(400, "BadRequest", "the body is not a Lease");
  Json lease = std::move(body).value();
  if (request.method == "POST" && name.empty()) {
    const std::string wanted = lease.Text({"metadata", "name"});
    const std::string obj = "leases.coordination.k8s.io \"" + wanted + "\"";
    if (wanted.empty()) return status(422, "Invalid", "metadata.name: Required value");
    if (leases_.count(ns + "/" + wanted)) {
      return status(409, "AlreadyExists", obj + " already exists");
    }
    Json* metadata = lease.Find("metadata");
    metadata->Set("namespace", Str(ns));
    metadata->Set("uid", Str(NextUid()));
    metadata->Set("resourceVersion", Str(NextResourceVersion()));
    metadata->Set("creationTimestamp", Str(NextTimestamp()));
    leases_[ns + "/" + wanted] = lease;
    return server::Response::Json(201, lease.Dump());
  }
  if (request.method == "PUT" && !name.empty()) {
    auto it = leases_.find(ns + "/" + name);
    if (it == leases_.end()) return status(404, "NotFound", object + " not found");
    if (lease.Text({"metadata", "resourceVersion"}) !=
        it->second.Text({"metadata", "resourceVersion"})) {
      return status(409, "Conflict",
                    "Operation cannot be fulfilled on " + object +
                        ": the object has been modified; please apply your changes to the "
                        "latest version and try again");
    }
    Json* metadata = lease.Find("metadata");
    if (metadata == nullptr) return status(400, "BadRequest", "the body has no metadata");
    metadata->Set("resourceVersion", Str(NextResourceVersion()));
    it->second = lease;
    return Ok(lease);
  }
  return status(405, "MethodNotAllowed", "the server does not allow this method on leases");
}

server::Response FakeKubernetes::Serve(const server::Request& request, Request& record) {
  auto parts = Split(request.path);
  // apis/apps/v1/namespaces/{ns}/{resource}[/{name}] or apis/apps/v1/{resource}
  std::string ns, resource, name;
  bool apps = parts.size() >= 4 && parts[0] == "apis" && parts[1] == "apps" && parts[2] == "v1";
  bool core = parts.size() >= 3 && parts[0] == "api" && parts[1] == "v1";
  std::size_t base = apps ? 3 : core ? 2 : 0;
  if ((apps || core) && parts.size() > base) {
    if (parts[base] == "namespaces" && parts.size() >= base + 3) {
      ns = parts[base + 1];
      resource = parts[base + 2];
      if (parts.size() >= base + 4) name = parts[base + 3];
    } else {
      resource = parts[base];
    }
  }
  std::string verb = request.method == "PATCH" ? "patch"
                     : request.method == "GET" ? (name.empty() ? "list" : "get")
                                               : "update";
  std::string kind = resource == "deployments" ? "deployments" : resource;

  std::optional<Fault> fault;
  {
    std::unique_lock lock(mu_);
    if (!token_.empty() && record.authorization != "Bearer " + token_) {
      record.status = 401;
      return StatusResponse(401, "Unauthorized", "Unauthorized");
    }
    for (auto it = faults_.begin(); it != faults_.end(); ++it) {
      if ((it->method.empty() || it->method == request.method) &&
          request.path.find(it->path_part) != std::string::npos) {
        fault = *it;
        if (--it->times <= 0) faults_.erase(it);
        break;
      }
    }
  }
  if (fault && fault->apply_first && request.method == "PATCH" && !ns.empty()) {
    Patch(ns, name, request);
  }
  if (fault && (fault->hang || fault->apply_first)) {
    std::unique_lock lock(mu_);
    released_.wait_for(lock, hang_limit_, [this] { return stopping_; });
    record.status = 0;
    return StatusResponse(504, "Timeout", "the fake held the request");
  }
  if (fault && fault->status != 0) {
    record.status = fault->status;
    std::string object = resource + ".apps \"" + name + "\"";
    switch (fault->status) {
      case 401:
        return StatusResponse(401, "Unauthorized", "Unauthorized");
      case 403:
        return StatusResponse(
            403, "Forbidden",
            (name.empty() ? resource + ".apps" : object) +
                " is forbidden: User \"system:serviceaccount:obsgate:obsgate\" cannot " + verb +
                " resource \"" + resource + "\" in API group \"apps\" in the namespace \"" + ns +
                "\"",
            kind == "deployments" ? "deployments" : kind, name);
      case 404:
        return StatusResponse(404, "NotFound", object + " not found", kind, name);
      case 409:
        return StatusResponse(409, "Conflict",
                              "Operation cannot be fulfilled on " + object +
                                  ": the object has been modified; please apply your changes to "
                                  "the latest version and try again",
                              kind, name);
      case 429:
        return StatusResponse(429, "TooManyRequests", "Too many requests, please try again later.");
      default:
        return StatusResponse(fault->status, "InternalError",
                              "Internal error occurred: etcdserver: leader changed");
    }
  }

  server::Response out = [&]() -> server::Response {
    const std::string& p = request.path;
    if (p.rfind("/apis/coordination.k8s.io/v1/", 0) == 0) return Leases(request);
    if (request.method == "GET" && p == "/version") {
      Json v = Json::Object();
      v.Set("major", Str("1"));
      v.Set("minor", Str("32"));
      v.Set("gitVersion", Str("v1.32.0"));
      v.Set("gitCommit", Str("70d3cc986aa8221cd1dfb1121852688902d3bf53"));
      v.Set("gitTreeState", Str("clean"));
      v.Set("buildDate", Str("2024-12-11T17:59:15Z"));
      v.Set("goVersion", Str("go1.23.3"));
      v.Set("compiler", Str("gc"));
      v.Set("platform", Str("linux/amd64"));
      return Ok(v);
    }
    if (request.method == "GET" && p == "/api") {
      Json v = Json::Object();
      v.Set("kind", Str("APIVersions"));
      v.Set("versions", Json::Array()).Push(Str("v1"));
      Json cidr = Json::Object();
      cidr.Set("clientCIDR", Str("0.0.0.0/0"));
      cidr.Set("serverAddress", Str("127.0.0.1:" + std::to_string(port())));
      v.Set("serverAddressByClientCIDRs", Json::Array()).Push(std::move(cidr));
      return Ok(v);
    }
    if (request.method == "GET" && p == "/apis") {
      Json gv = Json::Object();
      gv.Set("groupVersion", Str("apps/v1"));
      gv.Set("version", Str("v1"));
      Json group = Json::Object();
      group.Set("name", Str("apps"));
      group.Set("versions", Json::Array()).Push(gv);
      group.Set("preferredVersion", gv);
      Json v = Json::Object();
      v.Set("kind", Str("APIGroupList"));
      v.Set("apiVersion", Str("v1"));
      v.Set("groups", Json::Array()).Push(std::move(group));
      return Ok(v);
    }
    if (request.method == "GET" && (p == "/api/v1" || p == "/apis/apps/v1")) {
      Json v = Json::Object();
      v.Set("kind", Str("APIResourceList"));
      v.Set("apiVersion", Str("v1"));
      v.Set("groupVersion", Str(p == "/api/v1" ? "v1" : "apps/v1"));
      Json rs = Json::Array();
      std::vector<std::string> all = {"create", "delete", "deletecollection", "get",
                                      "list",   "patch",  "update",           "watch"};
      if (p == "/api/v1") {
        rs.Push(Resource("namespaces", "namespace", "Namespace", all, {"ns"}));
        rs.Push(Resource("pods", "pod", "Pod", all, {"po"}));
      } else {
        rs.Push(Resource("deployments", "deployment", "Deployment", all, {"deploy"}));
        rs.Push(Resource("deployments/status", "", "Deployment", {"get", "patch", "update"}));
        rs.Push(Resource("replicasets", "replicaset", "ReplicaSet", all, {"rs"}));
      }
      v.Set("resources", std::move(rs));
      return Ok(v);
    }
    if (core && resource == "pods" && request.method == "GET") {
      Json v = Json::Object();
      v.Set("kind", Str("PodList"));
      v.Set("apiVersion", Str("v1"));
      std::lock_guard lock(mu_);
      v.Set("metadata", Json::Object())
          .Set("resourceVersion", Str(std::to_string(resource_version_)));
      v.Set("items", Json::Array());
      return Ok(v);
    }
    if (apps && (resource == "deployments" || resource == "replicasets")) {
      if (request.QueryParam("watch").value_or("") == "true" ||
          request.QueryParam("watch").value_or("") == "1") {
        // A watch that sees no change: held open without events for a little over a second (a
        // shorter one draws client-go's "very short watch" warning), then ended cleanly.
        // kubectl rollout status starts one even with --watch=false and waits for its answer;
        // an error here would be printed on its stderr.
        std::unique_lock lock(mu_);
        released_.wait_for(lock, std::min(hang_limit_, std::chrono::milliseconds(1'100)),
                           [this] { return stopping_; });
        server::Response r = server::Response::Json(200, "");
        return r;
      }
      if (request.method == "GET" && name.empty()) return List(resource, ns, request);
      if (request.method == "GET") {
        std::lock_guard lock(mu_);
        const auto& store = resource == "deployments" ? deployments_ : replica_sets_;
        auto it = store.find(ns + "/" + name);
        if (it == store.end()) {
          return StatusResponse(404, "NotFound", resource + ".apps \"" + name + "\" not found",
                                resource, name);
        }
        return Ok(it->second);
      }
      if (request.method == "PATCH" && resource == "deployments" && !name.empty()) {
        return Patch(ns, name, request);
      }
      return StatusResponse(405, "MethodNotAllowed",
                            "the server does not allow this method on the requested resource");
    }
    return StatusResponse(404, "NotFound", "the server could not find the requested resource");
  }();
  record.status = out.status;
  return out;
}

server::Response FakeKubernetes::List(const std::string& resource, const std::string& ns,
                                      const server::Request& request) {
  std::string selector = request.QueryParam("labelSelector").value_or("");
  std::string fields = request.QueryParam("fieldSelector").value_or("");
  std::string limit_text = request.QueryParam("limit").value_or("0");
  std::string token = request.QueryParam("continue").value_or("");
  std::size_t limit = std::strtoul(limit_text.c_str(), nullptr, 10);
  std::string field_name;
  if (fields.starts_with("metadata.name=")) field_name = fields.substr(14);
  std::lock_guard lock(mu_);
  const auto& store = resource == "deployments" ? deployments_ : replica_sets_;
  // The continue token is the key to start after, opaque to clients (base64, as real ones are).
  std::string start_after;
  if (!token.empty()) {
    start_after = Unbase64(token);
  }
  Json items = Json::Array();
  std::string last_key;
  std::size_t remaining = 0;
  for (const auto& [key, object] : store) {
    if (!ns.empty() && !key.starts_with(ns + "/")) continue;
    if (!start_after.empty() && key <= start_after) continue;
    if (!Selects(selector, object.At({"metadata", "labels"}))) continue;
    if (!field_name.empty() && object.Text({"metadata", "name"}) != field_name) continue;
    if (limit > 0 && items.items().size() >= limit) {
      ++remaining;
      continue;
    }
    Json item = object;
    item.Erase("kind");  // items of a typed list carry no kind or apiVersion
    item.Erase("apiVersion");
    items.Push(std::move(item));
    last_key = key;
  }
  Json metadata = Json::Object();
  metadata.Set("resourceVersion", Str(std::to_string(resource_version_)));
  if (remaining > 0) {
    metadata.Set("continue", Str(Base64(last_key)));
    metadata.Set("remainingItemCount", Json::Int(static_cast<std::int64_t>(remaining)));
  }
  Json list = Json::Object();
  list.Set("kind", Str(resource == "deployments" ? "DeploymentList" : "ReplicaSetList"));
  list.Set("apiVersion", Str("apps/v1"));
  list.Set("metadata", std::move(metadata));
  list.Set("items", std::move(items));
  return Ok(list);
}

server::Response FakeKubernetes::Patch(const std::string& ns, const std::string& name,
                                       const server::Request& request) {
  std::string type(request.HeaderValue("Content-Type"));
  if (type != "application/json-patch+json") {
    return StatusResponse(415, "UnsupportedMediaType",
                          "the body of the request was in an unknown format - accepted media "
                          "types include: application/json-patch+json");
  }
  auto ops = Json::Parse(request.body);
  if (!ops || !ops->is_array()) {
    return StatusResponse(400, "BadRequest", "the JSON patch is not an array of operations");
  }
  std::lock_guard lock(mu_);
  auto it = deployments_.find(ns + "/" + name);
  if (it == deployments_.end()) {
    return StatusResponse(404, "NotFound", "deployments.apps \"" + name + "\" not found",
                          "deployments", name);
  }
  Json patched = it->second;
  for (const auto& op : ops->items()) {
    std::string why;
    if (!ApplyOp(patched, op, &why)) {
      return StatusResponse(422, "Invalid",
                            "the server rejected our request due to an error in "
                            "our request: " +
                                why);
    }
  }
  const Json* before = it->second.At({"spec", "template"});
  const Json* after = patched.At({"spec", "template"});
  bool template_changed = !(before && after && *before == *after);
  bool spec_changed = !(*it->second.Find("spec") == *patched.Find("spec"));
  Json* metadata = patched.Find("metadata");
  if (spec_changed) {
    metadata->Set("generation",
                  Json::Int(it->second.At({"metadata", "generation"})->Integer().value_or(1) + 1));
  }
  metadata->Set("resourceVersion", Str(NextResourceVersion()));
  it->second = std::move(patched);
  if (template_changed) Reconcile(it->second);
  return Ok(it->second);
}

// What the deployment controller does after a template change: reuse the ReplicaSet with this
// template (its revision moves to the top, the old number into revision-history) or make one;
// the Deployment gets the new revision and, as this fake rolls out at once, a finished status.
void FakeKubernetes::Reconcile(Json& deployment) {
  std::string ns = deployment.Text({"metadata", "namespace"});
  std::string uid = deployment.Text({"metadata", "uid"});
  Json wanted = WithoutHash(*deployment.At({"spec", "template"}));
  int max_revision = 0;
  Json* match = nullptr;
  for (auto& [key, rs] : replica_sets_) {
    if (!key.starts_with(ns + "/")) continue;
    const Json* refs = rs.At({"metadata", "ownerReferences"});
    bool owned = refs && !refs->items().empty() && refs->items()[0].Text({"uid"}) == uid;
    if (!owned) continue;
    max_revision = std::max(max_revision, RevisionOf(rs));
    if (SemanticEqual(WithoutHash(*rs.At({"spec", "template"})), wanted)) match = &rs;
  }
  int revision = max_revision + 1;
  std::int64_t replicas = deployment.At({"spec", "replicas"})->Integer().value_or(1);
  for (auto& [key, rs] : replica_sets_) {
    if (key.starts_with(ns + "/") && &rs != match) {
      rs.Find("spec")->Set("replicas", Json::Int(0));
      rs.Find("status")->Set("replicas", Json::Int(0));
    }
  }
  if (match) {
    Json* annotations = match->Find("metadata")->Find("annotations");
    std::string old = std::to_string(RevisionOf(*match));
    SetSorted(*annotations, "deployment.kubernetes.io/revision-history", Str(old));
    SetSorted(*annotations, kRevision, Str(std::to_string(revision)));
    match->Find("metadata")->Set("resourceVersion", Str(NextResourceVersion()));
  } else {
    Json rs = MakeReplicaSet(deployment, wanted, revision, true);
    std::string key = ns + "/" + rs.Text({"metadata", "name"});
    match = &(replica_sets_[key] = std::move(rs));
  }
  match->Find("spec")->Set("replicas", Json::Int(replicas));
  match->Find("status")->Set("replicas", Json::Int(replicas));
  SetSorted(*deployment.Find("metadata")->Find("annotations"), kRevision,
            Str(std::to_string(revision)));
  RolloutSeed done;
  done.generation = done.observed_generation =
      deployment.At({"metadata", "generation"})->Integer().value_or(1);
  done.replicas = done.updated = done.ready = done.available = static_cast<int>(replicas);
  ApplyRollout(deployment, done);
}

}  // namespace obsgate::fakes
