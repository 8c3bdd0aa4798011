#include "alerting/router.hpp"

#include <algorithm>
#include <random>

#include "core/json.hpp"
#include "core/log.hpp"
#include "core/time.hpp"

namespace obsgate::alerting {
namespace {

// Alertmanager's defaults for a route that does not say.
constexpr core::Duration kGroupWait = std::chrono::seconds(30);
constexpr core::Duration kGroupInterval = std::chrono::minutes(5);
constexpr core::Duration kRepeatInterval = std::chrono::hours(4);

std::string LabelSetText(const LabelSet& labels) {
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    out += (first ? "" : ",") + k + "=" + core::JsonQuote(v);
    first = false;
  }
  return out + "}";
}

// The labels (or annotations) every alert shares, with the same value.
LabelSet Common(const std::vector<AlertSnapshot>& alerts, LabelSet AlertSnapshot::*field) {
  if (alerts.empty()) return {};
  LabelSet out = alerts.front().*field;
  for (const AlertSnapshot& a : alerts) {
    for (auto it = out.begin(); it != out.end();) {
      auto found = (a.*field).find(it->first);
      it = found == (a.*field).end() || found->second != it->second ? out.erase(it) : std::next(it);
    }
  }
  return out;
}

std::string NewNotificationId() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(rng()));
  return out;
}

}  // namespace

struct Router::Route {
  Matchers matchers;
  std::string receiver;
  std::vector<std::string> group_by;
  bool group_by_all = false;
  core::Duration group_wait{};
  core::Duration group_interval{};
  core::Duration repeat_interval{};
  bool send_resolved_at_once = true;
  bool continue_matching = false;
  std::string key;  // Alertmanager's route key: {}/{severity="critical"}
  std::vector<std::unique_ptr<Route>> children;
};

struct Router::Group {
  const Route* route = nullptr;
  std::string key;
  LabelSet labels;
  std::map<std::string, AlertSnapshot> alerts;  // by fingerprint
  core::TimePoint next_flush;
  core::TimePoint last_sent;
  bool sent_once = false;
  std::set<std::string> sent_firing;  // what the last notification said was firing
  std::set<std::string> sent_resolved;
};

struct Router::Inhibit {
  Matchers source;
  Matchers target;
  std::vector<std::string> equal;
};

namespace {

std::unique_ptr<Router::Route> BuildRoute(const core::RouteConfig& c, const Router::Route* parent) {
  auto r = std::make_unique<Router::Route>();
  r->matchers = Matchers(c.matchers);
  r->receiver = !c.receiver.empty() || !parent ? c.receiver : parent->receiver;
  if (c.group_by) {
    r->group_by_all = c.group_by->size() == 1 && c.group_by->front() == "...";
    if (!r->group_by_all) r->group_by = *c.group_by;
  } else if (parent) {
    r->group_by = parent->group_by;
    r->group_by_all = parent->group_by_all;
  }
  r->group_wait = c.group_wait.value_or(parent ? parent->group_wait : kGroupWait);
  r->group_interval = c.group_interval.value_or(parent ? parent->group_interval : kGroupInterval);
  r->repeat_interval =
      c.repeat_interval.value_or(parent ? parent->repeat_interval : kRepeatInterval);
  r->send_resolved_at_once =
      c.send_resolved_at_once.value_or(parent ? parent->send_resolved_at_once : true);
  r->continue_matching = c.continue_matching;
  r->key = parent ? parent->key + "/" + r->matchers.Text() : "{}";
  for (const core::RouteConfig& child : c.routes) r->children.push_back(BuildRoute(child, r.get()));
  return r;
}

}  // namespace

AlertSnapshot SnapshotOf(const rules::Alert& alert) {
  AlertSnapshot s;
  s.fingerprint = alert.fingerprint;
  s.status = alert.state == rules::AlertState::kResolved ? "resolved" : "firing";
  for (const auto& [k, v] : alert.labels) s.labels[k] = v;
  if (!alert.summary.empty()) s.annotations["summary"] = alert.summary;
  if (!alert.description.empty()) s.annotations["description"] = alert.description;
  s.starts_at = alert.active_at;
  if (alert.state == rules::AlertState::kResolved) s.ends_at = alert.resolved_at;
  for (const rules::Measurement& m : alert.measurements) {
    if (!m.value) continue;
    std::string name = m.name.substr(0, m.name.find('('));
    bool seen = std::any_of(s.values.begin(), s.values.end(),
                            [&](const auto& v) { return v.first == name; });
    if (!seen) s.values.emplace_back(std::move(name), *m.value);
  }
  s.baseline_version = alert.baseline_version;
  s.action = alert.rollback ? "rollback" : "";
  return s;
}

Router::Router(const core::AlertingConfig& config, std::map<std::string, ReceiverTraits> receivers,
               const Silences& silences, const core::Clock& clock, Send send)
    : silences_(silences),
      clock_(clock),
      send_(std::move(send)),
      external_url_(config.external_url),
      root_(BuildRoute(config.route, nullptr)),
      receivers_(std::move(receivers)) {
  for (const core::InhibitRuleConfig& i : config.inhibit_rules) {
    inhibits_.push_back(Inhibit{Matchers(i.source_matchers), Matchers(i.target_matchers), i.equal});
  }
}

Router::~Router() = default;

void Router::Match(const Route& route, const LabelSet& labels,
                   std::vector<const Route*>& out) const {
  bool child_matched = false;
  for (const auto& child : route.children) {
    if (!child->matchers.Matches(labels)) continue;
    child_matched = true;
    Match(*child, labels, out);
    if (!child->continue_matching) break;
  }
  if (!child_matched) out.push_back(&route);
}

void Router::OnAlert(const rules::Alert& alert, rules::AlertState) {
  if (!alert.notify) return;
  if (alert.state != rules::AlertState::kFiring && alert.state != rules::AlertState::kResolved) {
    return;
  }
  Update(SnapshotOf(alert));
  Flush();
}

void Router::Update(const AlertSnapshot& alert) {
  core::TimePoint now = clock_.Now();
  std::lock_guard lock(mu_);
  bool firing = alert.status == "firing";
  if (firing) {
    firing_[alert.fingerprint] = alert;
  } else {
    firing_.erase(alert.fingerprint);
  }
  std::vector<const Route*> routes;
  Match(*root_, alert.labels, routes);
  for (const Route* route : routes) {
    LabelSet group_labels;
    if (route->group_by_all) {
      group_labels = alert.labels;
    } else {
      for (const std::string& name : route->group_by) {
        auto it = alert.labels.find(name);
        if (it != alert.labels.end()) group_labels[name] = it->second;
      }
    }
    std::string key = route->key + ":" + LabelSetText(group_labels);
    auto it = groups_.find(key);
    if (it == groups_.end()) {
      if (!firing) continue;  // resolved before anyone heard of it
      auto g = std::make_unique<Group>();
      g->route = route;
      g->key = key;
      g->labels = std::move(group_labels);
      g->next_flush = now + route->group_wait;
      it = groups_.emplace(key, std::move(g)).first;
    }
    Group& g = *it->second;
    if (!firing && !g.alerts.contains(alert.fingerprint)) continue;
    g.alerts[alert.fingerprint] = alert;
    // Alertmanager holds a resolve until the next group_interval; people want to hear at once.
    if (!firing && route->send_resolved_at_once && g.sent_firing.contains(alert.fingerprint)) {
      g.next_flush = std::min(g.next_flush, now);
    }
  }
}

bool Router::Muted(const AlertSnapshot& alert, std::string* why) const {
  if (std::string id = silences_.SilencedBy(alert.labels); !id.empty()) {
    *why = "silenced by " + id;
    return true;
  }
  for (const Inhibit& rule : inhibits_) {
    if (!rule.target.Matches(alert.labels)) continue;
    // Not a structured binding: clang before 16 cannot capture one in the lambda below.
    for (const auto& entry : firing_) {
      const auto& source = entry.second;
      if (entry.first == alert.fingerprint || !rule.source.Matches(source.labels)) continue;
      bool equal = std::all_of(rule.equal.begin(), rule.equal.end(), [&](const std::string& l) {
        auto a = alert.labels.find(l), b = source.labels.find(l);
        return (a == alert.labels.end() ? "" : a->second) ==
               (b == source.labels.end() ? "" : b->second);
      });
      if (equal) {
        *why = "inhibited by " + source.labels.at("alertname");
        return true;
      }
    }
  }
  return false;
}

int Router::Announce(const AlertSnapshot& event) {
  std::vector<Notification> out;
  {
    std::lock_guard lock(mu_);
    std::string why;
    if (Muted(event, &why)) return 0;
    std::vector<const Route*> routes;
    Match(*root_, event.labels, routes);
    for (const Route* route : routes) {
      Notification n;
      n.id = NewNotificationId();
      n.receiver = route->receiver;
      LabelSet group;
      for (const char* name : {"alertname", "namespace", "deployment"}) {
        if (auto it = event.labels.find(name); it != event.labels.end()) group[name] = it->second;
      }
      n.group_key = route->key + ":" + LabelSetText(group);
      n.status = event.status;
      n.group_labels = std::move(group);
      n.alerts = {event};
      n.common_labels = event.labels;
      n.common_annotations = event.annotations;
      n.created_at = clock_.Now();
      n.external_url = external_url_;
      out.push_back(std::move(n));
    }
  }
  for (Notification& n : out) send_(std::move(n));
  return static_cast<int>(out.size());
}

int Router::Flush() {
  core::TimePoint now = clock_.Now();
  std::vector<Notification> out;
  {
    std::lock_guard lock(mu_);
    for (auto it = groups_.begin(); it != groups_.end();) {
      Group& g = *it->second;
      if (g.next_flush <= now) FlushGroup(g, now);
      it = g.alerts.empty() ? groups_.erase(it) : std::next(it);
    }
    out.swap(pending_);
  }
  for (Notification& n : out) send_(std::move(n));
  return static_cast<int>(out.size());
}

bool Router::FlushGroup(Group& g, core::TimePoint now) {
  const Route& route = *g.route;
  ReceiverTraits traits;
  if (auto r = receivers_.find(route.receiver); r != receivers_.end()) traits = r->second;
  core::Duration repeat = route.repeat_interval;
  if (traits.resend_interval.count() > 0) repeat = std::min(repeat, traits.resend_interval);
  g.next_flush = now + std::min(route.group_interval, repeat);

  std::vector<AlertSnapshot> firing, resolved;
  std::set<std::string> firing_fps, resolved_fps;
  for (const auto& [fp, a] : g.alerts) {
    std::string why;
    if (a.status == "firing") {
      if (Muted(a, &why)) continue;
      firing.push_back(a);
      firing_fps.insert(fp);
    } else if (traits.send_resolved && g.sent_firing.contains(fp)) {
      resolved.push_back(a);
      resolved_fps.insert(fp);
    }
  }
  bool needs =
      !std::includes(g.sent_firing.begin(), g.sent_firing.end(), firing_fps.begin(),
                     firing_fps.end()) ||
      (!resolved_fps.empty() && !std::includes(g.sent_resolved.begin(), g.sent_resolved.end(),
                                               resolved_fps.begin(), resolved_fps.end())) ||
      (!firing_fps.empty() && g.sent_once && now - g.last_sent >= repeat);
  // Resolved alerts leave the group once said (or when nobody was told they fired).
  for (auto it = g.alerts.begin(); it != g.alerts.end();) {
    bool settled = it->second.status == "resolved";
    if (settled) g.sent_firing.erase(it->first);
    it = settled ? g.alerts.erase(it) : std::next(it);
  }
  if (!needs) return false;

  Notification n;
  n.id = NewNotificationId();
  n.receiver = route.receiver;
  n.group_key = g.key;
  n.status = firing.empty() ? "resolved" : "firing";
  n.group_labels = g.labels;
  n.alerts = std::move(firing);
  n.alerts.insert(n.alerts.end(), std::make_move_iterator(resolved.begin()),
                  std::make_move_iterator(resolved.end()));
  n.common_labels = Common(n.alerts, &AlertSnapshot::labels);
  n.common_annotations = Common(n.alerts, &AlertSnapshot::annotations);
  n.created_at = now;
  n.external_url = external_url_;
  g.sent_firing = std::move(firing_fps);
  g.sent_resolved = std::move(resolved_fps);
  g.last_sent = now;
  g.sent_once = true;
  pending_.push_back(std::move(n));
  return true;
}

std::string Router::GroupsJson() const {
  std::lock_guard lock(mu_);
  std::string out = "[";
  bool first = true;
  for (const auto& [key, g] : groups_) {
    out += (first ? "" : ",");
    first = false;
    out += "{\"receiver\":" + core::JsonQuote(g->route->receiver) +
           ",\"groupKey\":" + core::JsonQuote(key) + ",\"labels\":" + LabelSetJson(g->labels) +
           ",\"nextFlush\":\"" + core::FormatRfc3339(g->next_flush) + "\",\"alerts\":[";
    bool first_alert = true;
    for (const auto& [fp, a] : g->alerts) {
      std::string why;
      if (a.status == "firing") Muted(a, &why);
      out += (first_alert ? "" : ",");
      first_alert = false;
      out += "{\"fingerprint\":" + core::JsonQuote(fp) +
             ",\"status\":" + core::JsonQuote(a.status) + ",\"labels\":" + LabelSetJson(a.labels) +
             ",\"muted\":" + core::JsonQuote(why) + "}";
    }
    out += "]}";
  }
  return out + "]";
}

}  // namespace obsgate::alerting
