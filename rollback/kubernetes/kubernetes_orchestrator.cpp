#include "rollback/kubernetes/kubernetes_orchestrator.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <fstream>
#include <sstream>

#include "core/time.hpp"
#include "net/http_client.hpp"
#include "rollback/kubernetes/json.hpp"

namespace obsgate::rollback::kubernetes {

using Outcome = ActionResult::Outcome;

namespace {

constexpr std::string_view kHashLabel = "pod-template-hash";
constexpr std::string_view kRevisionAnnotation = "deployment.kubernetes.io/revision";
constexpr std::string_view kJsonPatch = "application/json-patch+json";

// The annotations `kubectl rollout undo` keeps from the Deployment instead of copying them from
// the ReplicaSet (kubectl's annotationsToSkip).
constexpr std::array<std::string_view, 6> kAnnotationsKept = {
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
};

bool Kept(std::string_view key) {
  return std::find(kAnnotationsKept.begin(), kAnnotationsKept.end(), key) != kAnnotationsKept.end();
}

std::string Where(const Target& t) { return t.ns + "/" + t.deployment; }

// What is being asked of the API, for messages about RBAC.
struct Op {
  std::string verb;      // "get", "list", "patch"
  std::string resource;  // "deployments", "replicasets"
  std::string ns;        // empty: all namespaces
};

// The first container of a pod template, or null.
const Json* FirstContainer(const Json& pod_template) {
  const Json* containers = pod_template.At({"spec", "containers"});
  if (!containers || !containers->is_array() || containers->items().empty()) return nullptr;
  return &containers->items().front();
}

std::string TemplateImage(const Json& pod_template) {
  const Json* c = FirstContainer(pod_template);
  return c ? c->Text({"image"}) : "";
}

// A pod template without the pod-template-hash label (and without labels when that was the only
// one), as kubectl removes it before patching the template back.
Json WithoutHash(const Json& pod_template) {
  Json t = pod_template;
  if (Json* metadata = t.Find("metadata")) {
    if (Json* labels = metadata->Find("labels"); labels && labels->is_object()) {
      labels->Erase(kHashLabel);
      if (labels->members().empty()) metadata->Erase("labels");
    }
  }
  return t;
}

bool EqualIgnoreHash(const Json& a, const Json& b) {
  return SemanticEqual(WithoutHash(a), WithoutHash(b));
}

// deployment.kubernetes.io/revision as kubectl reads it: absent is 0, unparsable is skipped.
std::optional<std::int64_t> RevisionOf(const Json& object) {
  const Json* v = object.At({"metadata", "annotations", kRevisionAnnotation});
  if (!v) return 0;
  std::string_view s = v->str();
  std::int64_t n = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return n;
}

core::TimePoint CreatedAt(const Json& object) {
  return core::ParseRfc3339(object.Text({"metadata", "creationTimestamp"}))
      .value_or(core::TimePoint{});
}

// Whether `rs` names `uid` as its controller (metav1.IsControlledBy).
bool ControlledBy(const Json& rs, std::string_view uid) {
  const Json* refs = rs.At({"metadata", "ownerReferences"});
  if (!refs || !refs->is_array()) return false;
  for (const auto& ref : refs->items()) {
    const Json* controller = ref.Find("controller");
    if (controller && controller->boolean() && ref.Text({"uid"}) == uid) return true;
  }
  return false;
}

// metav1.LabelSelectorAsSelector(...).String(): requirements sorted by key.
core::Result<std::string> SelectorString(const Json& deployment) {
  const Json* selector = deployment.At({"spec", "selector"});
  if (!selector || !selector->is_object()) {
    return core::Error{"the deployment has no spec.selector"};
  }
  std::vector<std::pair<std::string, std::string>> parts;  // key, requirement
  if (const Json* m = selector->Find("matchLabels"); m && m->is_object()) {
    for (const auto& kv : m->members()) {
      parts.emplace_back(kv.key, kv.key + "=" + std::string(kv.value.str()));
    }
  }
  if (const Json* exprs = selector->Find("matchExpressions"); exprs && exprs->is_array()) {
    for (const auto& e : exprs->items()) {
      std::string key = e.Text({"key"}), op = e.Text({"operator"});
      std::vector<std::string> values;
      if (const Json* vs = e.Find("values"); vs && vs->is_array()) {
        for (const auto& v : vs->items()) values.emplace_back(v.str());
      }
      std::sort(values.begin(), values.end());
      std::string list;
      for (const auto& v : values) list += (list.empty() ? "" : ",") + v;
      if (op == "In") {
        parts.emplace_back(key, key + " in (" + list + ")");
      } else if (op == "NotIn") {
        parts.emplace_back(key, key + " notin (" + list + ")");
      } else if (op == "Exists") {
        parts.emplace_back(key, key);
      } else if (op == "DoesNotExist") {
        parts.emplace_back(key, "!" + key);
      } else {
        return core::Error{"the deployment's selector has an unknown operator \"" + op + "\""};
      }
    }
  }
  std::stable_sort(parts.begin(), parts.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string out;
  for (const auto& [key, requirement] : parts) out += (out.empty() ? "" : ",") + requirement;
  if (out.empty()) return core::Error{"the deployment's selector selects nothing"};
  return out;
}

// The message of a Kubernetes Status body, or "".
std::string StatusMessage(const std::string& body) {
  auto j = Json::Parse(body);
  return j ? j->Text({"message"}) : "";
}

// Exponential back-off, at most 5s, or the server's Retry-After (seconds) when it sent one.
std::chrono::milliseconds Backoff(std::chrono::milliseconds base, int attempt,
                                  const std::string& retry_after) {
  int seconds = 0;
  auto [p, ec] =
      std::from_chars(retry_after.data(), retry_after.data() + retry_after.size(), seconds);
  if (ec == std::errc() && p == retry_after.data() + retry_after.size() && seconds > 0) {
    return std::chrono::seconds(std::min(seconds, 30));
  }
  auto d = base * (1 << std::min(attempt, 5));
  return std::min<std::chrono::milliseconds>(d, std::chrono::seconds(5));
}

}  // namespace

// One answer of the API, classified.
struct Answer {
  Outcome outcome = Outcome::kFailed;  // kDone for 2xx
  bool sent = false;                   // the request may have reached the server
  bool answered = false;               // a status came back
  int status = 0;
  std::string body;
  std::string message;  // why not, for people
  std::string retry_after;
};

// The Kubernetes API over one keep-alive connection. Owned by one thread at a time (callers
// lock). Every request carries the current token; none of its messages do.
class ApiClient {
 public:
  static core::Result<std::unique_ptr<ApiClient>> Create(ApiAccess access,
                                                         const KubernetesOptions& options) {
    auto http = net::HttpClient::Create(access.server + "/", access.options);
    if (!http) return core::Error{"the Kubernetes API at " + access.server + ": " + http.error()};
    auto c = std::unique_ptr<ApiClient>(new ApiClient());
    c->access_ = std::move(access);
    c->options_ = options;
    c->http_ = std::move(http).value();
    return c;
  }

  const ApiAccess& access() const { return access_; }

  // One exchange, never repeated here.
  Answer Call(const std::string& method, const std::string& target, const Op& op,
              std::string_view content_type = {}, std::string body = {}) {
    Answer a;
    net::HttpCall call;
    call.method = method;
    call.target = target;
    call.content_type = std::string(content_type);
    call.body = std::move(body);
    auto token = BearerToken(access_);
    if (!token) {
      a.outcome = Outcome::kRetry;
      a.message = token.error();
      return a;
    }
    if (!token->empty()) call.headers.emplace_back("Authorization", "Bearer " + *token);
    net::HttpFetch f = http_->Send(call);
    a.status = f.status;
    a.body = std::move(f.body);
    a.retry_after = f.retry_after;
    a.answered = f.status != 0;
    a.sent = a.answered || !(f.reason == "connect" || f.reason == "proxy" || f.reason == "tls" ||
                             f.reason == "request" || f.reason == "cancelled");
    if (f.ok) {
      a.outcome = Outcome::kDone;
      return a;
    }
    Classify(a, f, op);
    return a;
  }

  // A GET, retried with back-off on 5xx, 429 and failures to reach the API.
  Answer Read(const std::string& target, const Op& op) {
    Answer a;
    for (int attempt = 0; attempt < std::max(1, options_.attempts); ++attempt) {
      if (attempt > 0 && options_.sleep) {
        options_.sleep(Backoff(options_.backoff, attempt - 1, a.retry_after));
      }
      a = Call("GET", target, op);
      if (a.outcome != Outcome::kRetry) return a;
    }
    return a;
  }

  // Every item of a list, following metadata.continue; the first page's resourceVersion.
  Answer List(const std::string& path, const std::string& selector, const Op& op,
              std::vector<Json>* items, std::string* resource_version) {
    std::string next;
    bool first = true;
    while (true) {
      std::string target = path + "?limit=" + std::to_string(options_.page_size);
      if (!selector.empty()) target += "&labelSelector=" + net::PercentEncode(selector);
      if (!next.empty()) target += "&continue=" + net::PercentEncode(next);
      Answer a = Read(target, op);
      if (a.outcome != Outcome::kDone) return a;
      auto list = Json::Parse(a.body);
      if (!list || !list->is_object()) {
        a.outcome = Outcome::kRetry;
        a.message = "the Kubernetes API sent a " + op.resource + " list that is not JSON";
        return a;
      }
      if (first && resource_version) {
        *resource_version = list->Text({"metadata", "resourceVersion"});
      }
      first = false;
      if (const Json* page = list->Find("items"); page && page->is_array()) {
        for (const auto& item : page->items()) items->push_back(item);
      }
      next = list->Text({"metadata", "continue"});
      if (next.empty()) return a;
    }
  }

 private:
  ApiClient() = default;

  void Classify(Answer& a, const net::HttpFetch& f, const Op& op) {
    std::string in_ns = op.ns.empty() ? "in any namespace" : "in namespace " + op.ns;
    std::string api_said = StatusMessage(a.body);
    std::string said = api_said.empty() ? "" : " (the API said: " + api_said + ")";
    if (!a.answered) {
      a.outcome = Outcome::kRetry;
      a.message = "the Kubernetes API at " + access_.server + " did not answer: " + f.error;
      return;
    }
    switch (a.status) {
      case 401:
        a.outcome = Outcome::kFailed;
        a.message = "the Kubernetes API at " + access_.server + " does not accept " +
                    access_.identity + "'s credentials (401 Unauthorized); " +
                    (access_.token_file.empty()
                         ? "renew the credentials in " + access_.source
                         : "check the token in " + access_.token_file + " is current");
        return;
      case 403:
        a.outcome = Outcome::kFailed;
        a.message = access_.identity + " cannot " + op.verb + " " + op.resource + " " + in_ns +
                    ": grant " + op.verb + " on " + op.resource + ".apps" + said;
        return;
      case 404:
        a.outcome = Outcome::kFailed;
        a.message = "not found (404)" + said;
        return;
      case 409:
        a.outcome = Outcome::kRetry;
        a.message = "conflict (409): the object changed meanwhile" + said;
        return;
      case 429:
        a.outcome = Outcome::kRetry;
        a.message = "the Kubernetes API is throttling requests (429)" + said;
        return;
      default:
        if (a.status >= 500) {
          a.outcome = Outcome::kRetry;
          a.message = "the Kubernetes API answered " + std::to_string(a.status) + said +
                      "; it may be overloaded or restarting";
        } else {
          a.outcome = Outcome::kFailed;
          a.message =
              "the Kubernetes API refused the request with " + std::to_string(a.status) + said;
        }
    }
  }

  ApiAccess access_;
  KubernetesOptions options_;
  std::unique_ptr<net::HttpClient> http_;
};

namespace {

std::string DeploymentPath(const Target& t) {
  return "/apis/apps/v1/namespaces/" + t.ns + "/deployments/" + t.deployment;
}

// The Deployment and the ReplicaSets it controls, as kubectl's deploymentutil reads them.
struct Family {
  Json deployment;
  std::vector<Json> replica_sets;  // controlled by the Deployment, oldest first
};

// Reads the Deployment (and, when `with_replica_sets`, its ReplicaSets). On failure returns the
// answer that failed, with a message naming the deployment.
std::optional<Answer> ReadFamily(ApiClient& api, const Target& t, bool with_replica_sets,
                                 Family* out) {
  Answer a = api.Read(DeploymentPath(t), Op{"get", "deployments", t.ns});
  if (a.outcome != Outcome::kDone) {
    if (a.status == 404)
      a.message = "deployment " + Where(t) +
                  " not found; check the namespace "
                  "and name";
    else
      a.message = "cannot read deployment " + Where(t) + ": " + a.message;
    return a;
  }
  auto d = Json::Parse(a.body);
  if (!d || !d->is_object()) {
    a.outcome = Outcome::kRetry;
    a.message = "the Kubernetes API sent deployment " + Where(t) + " as something not JSON";
    return a;
  }
  out->deployment = std::move(d).value();
  if (!with_replica_sets) return std::nullopt;
  auto selector = SelectorString(out->deployment);
  if (!selector) {
    a.outcome = Outcome::kFailed;
    a.message = "deployment " + Where(t) + ": " + selector.error();
    return a;
  }
  std::vector<Json> all;
  Answer l = api.List("/apis/apps/v1/namespaces/" + t.ns + "/replicasets", *selector,
                      Op{"list", "replicasets", t.ns}, &all, nullptr);
  if (l.outcome != Outcome::kDone) {
    l.message = "cannot list the ReplicaSets of deployment " + Where(t) + ": " + l.message;
    return l;
  }
  std::string uid = out->deployment.Text({"metadata", "uid"});
  for (auto& rs : all) {
    if (ControlledBy(rs, uid)) out->replica_sets.push_back(std::move(rs));
  }
  std::stable_sort(out->replica_sets.begin(), out->replica_sets.end(),
                   [](const Json& a, const Json& b) {
                     auto ta = CreatedAt(a), tb = CreatedAt(b);
                     if (ta != tb) return ta < tb;
                     return a.Text({"metadata", "name"}) < b.Text({"metadata", "name"});
                   });
  return std::nullopt;
}

const Json* Template(const Json& object) { return object.At({"spec", "template"}); }

// The oldest ReplicaSet whose template is the Deployment's (kubectl's findNewReplicaSet).
const Json* NewReplicaSet(const Family& f) {
  const Json* dt = Template(f.deployment);
  if (!dt) return nullptr;
  for (const auto& rs : f.replica_sets) {
    const Json* t = Template(rs);
    if (t && EqualIgnoreHash(*t, *dt)) return &rs;
  }
  return nullptr;
}

// The JSON patch `kubectl rollout undo` sends: spec.template replaced by the ReplicaSet's
// (without its hash label), metadata.annotations by the Deployment's kept ones plus the
// ReplicaSet's others, keys sorted as Go sorts a map.
std::string UndoPatch(const Json& deployment, const Json& rs) {
  std::map<std::string, std::string> annotations;
  if (const Json* a = deployment.At({"metadata", "annotations"}); a && a->is_object()) {
    for (const auto& m : a->members()) {
      if (Kept(m.key)) annotations[m.key] = std::string(m.value.str());
    }
  }
  if (const Json* a = rs.At({"metadata", "annotations"}); a && a->is_object()) {
    for (const auto& m : a->members()) {
      if (!Kept(m.key)) annotations[m.key] = std::string(m.value.str());
    }
  }
  static const Json kEmpty = Json::Object();
  const Json* t = Template(rs);
  std::string out = R"([{"op":"replace","path":"/spec/template","value":)";
  out += WithoutHash(t ? *t : kEmpty).Dump();
  out += R"(},{"op":"replace","path":"/metadata/annotations","value":{)";
  bool first = true;
  for (const auto& [key, value] : annotations) {
    if (!first) out += ',';
    first = false;
    AppendGoString(out, key);
    out += ':';
    AppendGoString(out, value);
  }
  out += "}}]";
  return out;
}

std::string RevisionId(const Json& object) {
  return object.Text({"metadata", "annotations", kRevisionAnnotation});
}

ActionResult Result(Outcome outcome, std::string message) {
  ActionResult r;
  r.outcome = outcome;
  r.message = std::move(message);
  return r;
}

ActionResult FromAnswer(const Answer& a) { return Result(a.outcome, a.message); }

}  // namespace

// --- KubernetesOrchestrator ---

KubernetesOrchestrator::KubernetesOrchestrator(std::unique_ptr<ApiClient> api,
                                               const core::Clock& clock, KubernetesOptions options)
    : api_(std::move(api)), clock_(clock), options_(std::move(options)) {}

KubernetesOrchestrator::~KubernetesOrchestrator() = default;

core::Result<std::unique_ptr<KubernetesOrchestrator>> KubernetesOrchestrator::Create(
    const core::KubernetesOrchestratorConfig& config, const core::Env& env,
    const core::Clock& clock, KubernetesOptions options) {
  auto access = ResolveAccess(config, env, options.service_account_dir);
  if (!access) return core::Error{access.error()};
  return Create(std::move(access).value(), clock, std::move(options));
}

core::Result<std::unique_ptr<KubernetesOrchestrator>> KubernetesOrchestrator::Create(
    ApiAccess access, const core::Clock& clock, KubernetesOptions options) {
  if (!options.sleep) {
    options.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  }
  auto api = ApiClient::Create(std::move(access), options);
  if (!api) return core::Error{api.error()};
  return std::unique_ptr<KubernetesOrchestrator>(
      new KubernetesOrchestrator(std::move(api).value(), clock, std::move(options)));
}

const ApiAccess& KubernetesOrchestrator::access() const { return api_->access(); }

core::Result<std::vector<Revision>> KubernetesOrchestrator::Revisions(const Target& target) {
  std::lock_guard lock(mu_);
  Family f;
  if (auto failed = ReadFamily(*api_, target, true, &f)) return core::Error{failed->message};
  const Json* current = NewReplicaSet(f);
  std::vector<const Json*> order;
  for (const auto& rs : f.replica_sets) {
    if (&rs != current) order.push_back(&rs);
  }
  std::stable_sort(order.begin(), order.end(), [](const Json* a, const Json* b) {
    return RevisionOf(*a).value_or(-1) > RevisionOf(*b).value_or(-1);
  });
  std::vector<Revision> out;
  auto add = [&](const Json& object, bool is_current, const Json* pod_template) {
    Revision r;
    r.id = RevisionId(object);
    r.image = pod_template ? TemplateImage(*pod_template) : "";
    r.version = ImageTag(r.image);
    r.template_hash = object.Text({"metadata", "labels", kHashLabel});
    r.rolled_out_at = CreatedAt(object);
    r.current = is_current;
    out.push_back(std::move(r));
  };
  if (current) {
    add(*current, true, Template(*current));
  } else {
    // The controller has not made the ReplicaSet for this template yet: the Deployment stands in.
    add(f.deployment, true, Template(f.deployment));
    out.back().template_hash.clear();
  }
  for (const Json* rs : order) add(*rs, false, Template(*rs));
  return out;
}

ActionResult KubernetesOrchestrator::RollBack(const Target& target,
                                              const RollbackRequest& request) {
  const std::string& to_revision = request.to_revision;
  std::lock_guard lock(mu_);
  std::int64_t wanted = 0;
  if (!to_revision.empty()) {
    auto [p, ec] =
        std::from_chars(to_revision.data(), to_revision.data() + to_revision.size(), wanted);
    if (ec != std::errc() || p != to_revision.data() + to_revision.size() || wanted <= 0) {
      return Result(Outcome::kFailed, "revision \"" + to_revision +
                                          "\" is not a revision number; `kubectl rollout history "
                                          "deployment/" +
                                          target.deployment + " -n " + target.ns + "` lists them");
    }
  }
  Answer last;
  for (int attempt = 0; attempt < std::max(1, options_.conflict_attempts); ++attempt) {
    Family f;
    if (auto failed = ReadFamily(*api_, target, true, &f)) return FromAnswer(*failed);
    const Json& d = f.deployment;
    const Json* dt = Template(d);
    ActionResult r;
    r.from_version = dt ? ImageTag(TemplateImage(*dt)) : "";
    if (const Json* paused = d.At({"spec", "paused"}); paused && paused->boolean()) {
      r.outcome = Outcome::kFailed;
      r.message = "deployment " + Where(target) +
                  " is paused; resume it or roll back by hand (kubectl rollout resume "
                  "deployment/" +
                  target.deployment + " -n " + target.ns + ")";
      return r;
    }
    // kubectl's deploymentRevision: the newest and second-newest revisions, or the one asked for.
    const Json* chosen = nullptr;
    const Json* latest = nullptr;
    std::int64_t latest_rev = -1, previous_rev = -1;
    for (const auto& rs : f.replica_sets) {
      auto v = RevisionOf(rs);
      if (!v) continue;
      if (wanted == 0) {
        if (latest_rev < *v) {
          previous_rev = latest_rev;
          chosen = latest;
          latest_rev = *v;
          latest = &rs;
        } else if (previous_rev < *v) {
          previous_rev = *v;
          chosen = &rs;
        }
      } else if (*v == wanted) {
        chosen = &rs;
        break;
      }
    }
    if (!chosen) {
      r.outcome = Outcome::kFailed;
      r.message = wanted > 0 ? "deployment " + Where(target) + " has no revision " + to_revision +
                                   "; `kubectl rollout history deployment/" + target.deployment +
                                   " -n " + target.ns + "` lists those kept"
                             : "deployment " + Where(target) +
                                   " has no previous revision to roll back to (no rollout history "
                                   "found; is revisionHistoryLimit 0?)";
      return r;
    }
    const Json* rt = Template(*chosen);
    r.to_version = rt ? ImageTag(TemplateImage(*rt)) : "";
    std::string rev = RevisionId(*chosen);
    if (rt && dt && EqualIgnoreHash(*rt, *dt)) {
      r.outcome = Outcome::kSkipped;
      r.message = "deployment " + Where(target) + " already runs the template of revision " + rev +
                  " (" + r.to_version + "); nothing to roll back";
      return r;
    }
    std::string patch = UndoPatch(d, *chosen);
    r.detail = "PATCH " + DeploymentPath(target) + " (" + std::string(kJsonPatch) + ") " + patch;
    Answer a = api_->Call("PATCH", DeploymentPath(target), Op{"patch", "deployments", target.ns},
                          kJsonPatch, patch);
    if (a.outcome == Outcome::kDone) {
      r.outcome = Outcome::kDone;
      r.message = "rolled back deployment " + Where(target) + " from " + r.from_version +
                  " (revision " + RevisionId(d) + ") to " + r.to_version + " (revision " + rev +
                  "'s template)";
      return r;
    }
    if (a.status == 409) {
      last = a;
      continue;  // re-read and build the patch again
    }
    if (a.outcome == Outcome::kFailed || !a.sent) {
      r.outcome = a.outcome;
      r.message = "cannot roll back deployment " + Where(target) + ": " + a.message;
      return r;
    }
    // The PATCH may have been applied (time-out after sending, or a 5xx): never sent twice. What
    // the Deployment holds now says whether it was.
    Family now;
    if (ReadFamily(*api_, target, false, &now)) {
      r.outcome = Outcome::kRetry;
      r.message = "the rollback of deployment " + Where(target) +
                  " may or may not have been made (" + a.message +
                  ") and the deployment cannot be read now; look before trying again";
      return r;
    }
    const Json* nt = Template(now.deployment);
    if (nt && rt && EqualIgnoreHash(*nt, *rt)) {
      r.outcome = Outcome::kDone;
      r.message = "rolled back deployment " + Where(target) + " to " + r.to_version +
                  " (revision " + rev + "'s template); the PATCH got no clear answer (" +
                  a.message + ") but the deployment now holds that template";
    } else {
      r.outcome = Outcome::kRetry;
      r.message = "deployment " + Where(target) + " was not rolled back (" + a.message +
                  "); it still runs " + (nt ? ImageTag(TemplateImage(*nt)) : "") +
                  "; trying again later can help";
    }
    return r;
  }
  ActionResult r =
      Result(Outcome::kRetry, "deployment " + Where(target) + " kept changing (" + last.message +
                                  ") through " + std::to_string(options_.conflict_attempts) +
                                  " attempts; trying again later can help");
  return r;
}

ActionResult KubernetesOrchestrator::SetImage(const Target& target, const std::string& container,
                                              const std::string& image) {
  std::lock_guard lock(mu_);
  Answer last;
  for (int attempt = 0; attempt < std::max(1, options_.conflict_attempts); ++attempt) {
    Family f;
    if (auto failed = ReadFamily(*api_, target, false, &f)) return FromAnswer(*failed);
    const Json* containers = f.deployment.At({"spec", "template", "spec", "containers"});
    std::size_t index = 0;
    const Json* c = nullptr;
    std::string names;
    if (containers && containers->is_array()) {
      for (std::size_t i = 0; i < containers->items().size(); ++i) {
        const Json& item = containers->items()[i];
        names += (names.empty() ? "" : ", ") + item.Text({"name"});
        if (!c && (container.empty() || item.Text({"name"}) == container)) {
          c = &item;
          index = i;
        }
      }
    }
    if (!c) {
      return Result(Outcome::kFailed,
                    "deployment " + Where(target) + " has no container" +
                        (container.empty() ? "" : " \"" + container + "\"") +
                        "; its containers are: " + (names.empty() ? "none" : names));
    }
    ActionResult r;
    std::string old_image = c->Text({"image"});
    r.from_version = ImageTag(old_image);
    r.to_version = ImageTag(image);
    if (old_image == image) {
      r.outcome = Outcome::kSkipped;
      r.message = "deployment " + Where(target) + " already runs " + image;
      return r;
    }
    std::string at = "/spec/template/spec/containers/" + std::to_string(index);
    // The test keeps a container that moved meanwhile from getting another's image.
    std::string patch = R"([{"op":"test","path":")" + at + R"(/name","value":)";
    AppendGoString(patch, c->Text({"name"}));
    patch += R"(},{"op":"replace","path":")" + at + R"(/image","value":)";
    AppendGoString(patch, image);
    patch += "}]";
    r.detail = "PATCH " + DeploymentPath(target) + " (" + std::string(kJsonPatch) + ") " + patch;
    Answer a = api_->Call("PATCH", DeploymentPath(target), Op{"patch", "deployments", target.ns},
                          kJsonPatch, patch);
    if (a.outcome == Outcome::kDone) {
      r.outcome = Outcome::kDone;
      r.message = "set the image of " + c->Text({"name"}) + " in deployment " + Where(target) +
                  " to " + image;
      return r;
    }
    if (a.status == 409 || a.status == 422) {
      last = a;
      continue;
    }
    if (a.outcome == Outcome::kFailed || !a.sent) {
      r.outcome = a.outcome;
      r.message = "cannot set the image of deployment " + Where(target) + ": " + a.message;
      return r;
    }
    Family now;
    bool readable = !ReadFamily(*api_, target, false, &now);
    const Json* nc = nullptr;
    if (readable) {
      const Json* cs = now.deployment.At({"spec", "template", "spec", "containers"});
      if (cs && cs->is_array() && index < cs->items().size()) nc = &cs->items()[index];
    }
    if (nc && nc->Text({"image"}) == image) {
      r.outcome = Outcome::kDone;
      r.message = "set the image of deployment " + Where(target) + " to " + image +
                  "; the PATCH got no clear answer (" + a.message + ") but the image is there";
    } else {
      r.outcome = Outcome::kRetry;
      r.message = "the image of deployment " + Where(target) + " was not set (" + a.message +
                  "); trying again later can help";
    }
    return r;
  }
  return Result(Outcome::kRetry, "deployment " + Where(target) + " kept changing (" + last.message +
                                     "); trying again later can help");
}

core::Result<RolloutStatus> KubernetesOrchestrator::Status(const Target& target) {
  std::lock_guard lock(mu_);
  Family f;
  if (auto failed = ReadFamily(*api_, target, false, &f)) return core::Error{failed->message};
  const Json& d = f.deployment;
  auto num = [&](std::initializer_list<std::string_view> path) -> std::int64_t {
    const Json* v = d.At(path);
    return v ? v->Integer().value_or(0) : 0;
  };
  std::string name = d.Text({"metadata", "name"});
  std::string quoted;
  AppendGoString(quoted, name);  // Go's %q
  RolloutStatus s;
  const Json* replicas = d.At({"spec", "replicas"});
  s.desired = static_cast<int>(replicas ? replicas->Integer().value_or(1) : 1);
  s.updated = static_cast<int>(num({"status", "updatedReplicas"}));
  s.available = static_cast<int>(num({"status", "availableReplicas"}));
  std::int64_t total = num({"status", "replicas"});
  if (num({"metadata", "generation"}) > num({"status", "observedGeneration"})) {
    s.message = "Waiting for deployment spec update to be observed...";
    return s;
  }
  if (const Json* conditions = d.At({"status", "conditions"});
      conditions && conditions->is_array()) {
    for (const auto& c : conditions->items()) {
      if (c.Text({"type"}) == "Progressing") {
        if (c.Text({"reason"}) == "ProgressDeadlineExceeded") {
          s.state = RolloutStatus::State::kFailed;
          s.message = "deployment " + quoted + " exceeded its progress deadline";
          return s;
        }
        break;
      }
    }
  }
  if (replicas && s.updated < s.desired) {
    s.message = "Waiting for deployment " + quoted +
                " rollout to finish: " + std::to_string(s.updated) + " out of " +
                std::to_string(s.desired) + " new replicas have been updated...";
  } else if (total > s.updated) {
    s.message = "Waiting for deployment " + quoted +
                " rollout to finish: " + std::to_string(total - s.updated) +
                " old replicas are pending termination...";
  } else if (s.available < s.updated) {
    s.message = "Waiting for deployment " + quoted +
                " rollout to finish: " + std::to_string(s.available) + " of " +
                std::to_string(s.updated) + " updated replicas are available...";
  } else {
    s.state = RolloutStatus::State::kComplete;
    s.message = "deployment " + quoted + " successfully rolled out";
  }
  return s;
}

// --- KubernetesVersionDiscovery ---

KubernetesVersionDiscovery::KubernetesVersionDiscovery(std::unique_ptr<ApiClient> api,
                                                       std::vector<std::string> namespaces,
                                                       std::chrono::milliseconds resync,
                                                       const core::Clock& clock,
                                                       KubernetesOptions options)
    : api_(std::move(api)),
      namespaces_(std::move(namespaces)),
      resync_(resync),
      clock_(clock),
      options_(std::move(options)) {}

KubernetesVersionDiscovery::~KubernetesVersionDiscovery() { Stop(); }

core::Result<std::unique_ptr<KubernetesVersionDiscovery>> KubernetesVersionDiscovery::Create(
    const core::KubernetesOrchestratorConfig& config, const core::Env& env,
    const core::Clock& clock, KubernetesOptions options) {
  auto access = ResolveAccess(config, env, options.service_account_dir);
  if (!access) return core::Error{access.error()};
  auto d = Create(std::move(access).value(), config.namespaces,
                  std::chrono::duration_cast<std::chrono::milliseconds>(config.resync), clock,
                  std::move(options));
  if (!d) return core::Error{"cannot reach the Kubernetes API; check the server URL"};
  return d;
}

std::unique_ptr<KubernetesVersionDiscovery> KubernetesVersionDiscovery::Create(
    ApiAccess access, std::vector<std::string> namespaces, std::chrono::milliseconds resync,
    const core::Clock& clock, KubernetesOptions options) {
  if (!options.sleep) {
    options.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  }
  auto api = ApiClient::Create(std::move(access), options);
  if (!api) return nullptr;
  return std::unique_ptr<KubernetesVersionDiscovery>(new KubernetesVersionDiscovery(
      std::move(api).value(), std::move(namespaces), resync, clock, std::move(options)));
}

core::Status KubernetesVersionDiscovery::Refresh() {
  std::lock_guard refresh(refresh_mu_);
  VersionMap map;
  std::map<std::string, std::string> versions;
  std::vector<std::string> scopes = namespaces_;
  if (scopes.empty()) scopes.push_back("");  // all namespaces
  for (const auto& ns : scopes) {
    std::string base = ns.empty() ? "/apis/apps/v1" : "/apis/apps/v1/namespaces/" + ns;
    std::vector<Json> deployments, replica_sets;
    std::string rv_d, rv_rs;
    Answer a =
        api_->List(base + "/deployments", "", Op{"list", "deployments", ns}, &deployments, &rv_d);
    if (a.outcome != Outcome::kDone) return core::Error{"version discovery: " + a.message};
    a = api_->List(base + "/replicasets", "", Op{"list", "replicasets", ns}, &replica_sets, &rv_rs);
    if (a.outcome != Outcome::kDone) return core::Error{"version discovery: " + a.message};
    std::string scope = ns.empty() ? "*" : ns;
    versions["deployments/" + scope] = rv_d;
    versions["replicasets/" + scope] = rv_rs;
    std::map<std::string, std::pair<std::string, std::string>> by_uid;  // uid -> (ns, name)
    for (const auto& d : deployments) {
      by_uid[d.Text({"metadata", "uid"})] = {d.Text({"metadata", "namespace"}),
                                             d.Text({"metadata", "name"})};
    }
    for (const auto& rs : replica_sets) {
      std::string hash = rs.Text({"metadata", "labels", kHashLabel});
      if (hash.empty()) continue;
      const Json* refs = rs.At({"metadata", "ownerReferences"});
      if (!refs || !refs->is_array()) continue;
      for (const auto& ref : refs->items()) {
        const Json* controller = ref.Find("controller");
        if (!controller || !controller->boolean() || ref.Text({"kind"}) != "Deployment") continue;
        auto owner = by_uid.find(ref.Text({"uid"}));
        if (owner == by_uid.end()) continue;
        VersionInfo v;
        const Json* t = Template(rs);
        v.image = t ? TemplateImage(*t) : "";
        v.version = ImageTag(v.image);
        v.revision = RevisionId(rs);
        v.rolled_out_at = CreatedAt(rs);
        map[owner->second][hash] = std::move(v);
      }
    }
  }
  std::lock_guard lock(mu_);
  map_ = std::move(map);
  resource_versions_ = std::move(versions);
  return core::Ok{};
}

void KubernetesVersionDiscovery::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] {
    while (true) {
      (void)Refresh();  // a failed look keeps the last map; the next one may succeed
      std::unique_lock lock(mu_);
      if (wake_.wait_for(lock, resync_, [this] { return stopping_; })) return;
    }
  });
}

void KubernetesVersionDiscovery::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::optional<VersionInfo> KubernetesVersionDiscovery::Lookup(
    const Target& target, std::string_view template_hash) const {
  std::lock_guard lock(mu_);
  auto d = map_.find({target.ns, target.deployment});
  if (d == map_.end()) return std::nullopt;
  auto v = d->second.find(std::string(template_hash));
  if (v == d->second.end()) return std::nullopt;
  return v->second;
}

VersionMap KubernetesVersionDiscovery::Snapshot() const {
  std::lock_guard lock(mu_);
  return map_;
}

std::map<std::string, std::string> KubernetesVersionDiscovery::resource_versions() const {
  std::lock_guard lock(mu_);
  return resource_versions_;
}

}  // namespace obsgate::rollback::kubernetes
