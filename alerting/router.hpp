#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "alerting/matcher.hpp"
#include "alerting/notification.hpp"
#include "alerting/silences.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "rules/rule_engine.hpp"

namespace obsgate::alerting {

// What the router needs to know of a receiver.
struct ReceiverTraits {
  bool send_resolved = true;
  core::Duration resend_interval{0};  // see Notifier::resend_interval
};

// The alert as notifications carry it: labels, annotations, times, and the measured values
// under their function names (error_rate(5m) becomes error_rate; the first window wins).
AlertSnapshot SnapshotOf(const rules::Alert& alert);

// Routes alerts through Alertmanager's tree (matchers, continue, nested routes), groups them
// (group_by, group_wait, group_interval, repeat_interval), mutes the inhibited and silenced, and
// hands each notification to `send`. Update is called on the evaluation thread, Flush on the
// tick; thread-safe.
class Router : public rules::AlertListener {
 public:
  using Send = std::function<void(Notification)>;
  Router(const core::AlertingConfig& config, std::map<std::string, ReceiverTraits> receivers,
         const Silences& silences, const core::Clock& clock, Send send);
  ~Router() override;

  // Firing and resolved alerts with notify set; pending ones wait until they fire.
  void OnAlert(const rules::Alert& alert, rules::AlertState from) override;
  void Update(const AlertSnapshot& alert);
  // An event, not a state (a rollback done or refused): routed like an alert and sent at once
  // to each matching route's receiver, without grouping or repeats; silences still apply.
  // Returns how many notifications went out.
  int Announce(const AlertSnapshot& event);
  // Sends every group whose time has come. Returns how many notifications went out.
  int Flush();
  // Groups and their alerts, for GET /api/v1/alerts/groups.
  std::string GroupsJson() const;

 public:
  struct Route;  // public for the builder in router.cpp; opaque to users

 private:
  struct Group;
  struct Inhibit;
  void Match(const Route& route, const LabelSet& labels, std::vector<const Route*>& out) const;
  bool Muted(const AlertSnapshot& alert, std::string* why) const;
  // Decides whether the group is due a notification and queues it in pending_.
  bool FlushGroup(Group& g, core::TimePoint now);

  const Silences& silences_;
  const core::Clock& clock_;
  Send send_;
  std::string external_url_;
  std::unique_ptr<Route> root_;
  std::vector<Inhibit> inhibits_;
  std::map<std::string, ReceiverTraits> receivers_;
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Group>> groups_;  // by group key
  // Firing alerts by fingerprint, for inhibition: a firing source mutes matching targets.
  std::map<std::string, AlertSnapshot> firing_;
  std::vector<Notification> pending_;  // made under the lock, sent after it
};

}  // namespace obsgate::alerting
