#include "tests/fakes/webhook.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <vector>

#include "core/time.hpp"
#include "tests/fakes/json_rules.hpp"

namespace obsgate::fakes {
namespace {

using rules::Member;
using rules::TypeName;
using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

// The payload Alertmanager's configuration reference documents under <webhook_config>.
class PayloadCheck {
 public:
  std::vector<std::string> problems;

  void Payload(element root) {
    object o;
    if (root.get(o) != simdjson::SUCCESS) {
      problems.push_back(std::string("the body is ") + TypeName(root) + ", not a JSON object");
      return;
    }
    std::string_view s;
    if (String(o, "", "version", s) && s != "4") {
      problems.push_back("version is \"" + std::string(s) +
                         "\"; this receiver reads version \"4\"");
    }
    String(o, "", "groupKey", s);
    element e;
    std::int64_t truncated;
    if (!Member(o, "truncatedAlerts", e)) {
      problems.push_back("truncatedAlerts is missing");
    } else if (e.get(truncated) != simdjson::SUCCESS || truncated < 0) {
      problems.push_back("truncatedAlerts must be a whole number of alerts, 0 or more");
    }
    std::string_view group_status;
    bool has_status = String(o, "", "status", group_status) && Status("status", group_status);
    String(o, "", "receiver", s);
    Labels(o, "", "groupLabels");
    Labels(o, "", "commonLabels");
    Labels(o, "", "commonAnnotations");
    String(o, "", "externalURL", s);

    array alerts;
    if (!Member(o, "alerts", e) || e.get(alerts) != simdjson::SUCCESS) {
      problems.push_back("alerts must be an array");
      return;
    }
    bool any_firing = false;
    std::size_t i = 0;
    for (element alert : alerts) any_firing |= Alert(alert, "alerts[" + std::to_string(i++) + "].");
    // Alertmanager calls a group resolved only when every alert in it is.
    if (has_status && group_status == "resolved" && any_firing) {
      problems.push_back("status is \"resolved\" but an alert in the group is firing");
    }
  }

 private:
  // Returns whether the alert is firing.
  bool Alert(element e, const std::string& at) {
    object alert;
    if (e.get(alert) != simdjson::SUCCESS) {
      problems.push_back(at.substr(0, at.size() - 1) + " must be an object");
      return false;
    }
    std::string_view status, s;
    bool firing =
        String(alert, at, "status", status) && Status(at + "status", status) && status == "firing";
    Labels(alert, at, "labels");
    Labels(alert, at, "annotations");
    for (std::string_view key : {"startsAt", "endsAt"}) {
      if (String(alert, at, key, s) && !core::ParseRfc3339(s)) {
        problems.push_back(at + std::string(key) + " is not an RFC 3339 time: \"" + std::string(s) +
                           "\"");
      }
    }
    String(alert, at, "generatorURL", s);
    String(alert, at, "fingerprint", s);
    return firing;
  }

  bool Status(const std::string& at, std::string_view s) {
    if (s == "firing" || s == "resolved") return true;
    problems.push_back(at + " is \"" + std::string(s) + "\"; it is \"firing\" or \"resolved\"");
    return false;
  }

  bool String(object o, const std::string& at, std::string_view key, std::string_view& out) {
    element e;
    if (!Member(o, key, e)) {
      problems.push_back(at + std::string(key) + " is missing");
      return false;
    }
    if (e.get(out) != simdjson::SUCCESS) {
      problems.push_back(at + std::string(key) + " must be a string, not " + TypeName(e));
      return false;
    }
    return true;
  }

  // A label or annotation set: an object of strings.
  void Labels(object o, const std::string& at, std::string_view key) {
    element e;
    object labels;
    if (!Member(o, key, e) || e.get(labels) != simdjson::SUCCESS) {
      problems.push_back(at + std::string(key) + " must be an object of strings");
      return;
    }
    for (auto field : labels) {
      if (!field.value.is_string()) {
        problems.push_back(at + std::string(key) + "." + std::string(field.key) +
                           " must be a string, not " + TypeName(field.value));
      }
    }
  }
};

Verdict JudgePayload(const server::Request& request, bool) {
  PayloadCheck check;
  std::string content_type(request.HeaderValue("Content-Type"));
  std::transform(content_type.begin(), content_type.end(), content_type.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (content_type.rfind("application/json", 0) != 0) {
    check.problems.push_back("Content-Type is \"" + content_type +
                             "\"; Alertmanager sends application/json");
  }
  simdjson::dom::parser parser;
  element root;
  if (auto err = parser.parse(request.body).get(root); err != simdjson::SUCCESS) {
    check.problems.push_back(std::string("the body is not JSON: ") + simdjson::error_message(err));
  } else {
    check.Payload(root);
  }
  Verdict v;
  if (check.problems.empty()) {
    v.response = server::Response::Text(200, "");
  } else {
    std::string body;
    for (const std::string& p : check.problems) body += p + "\n";
    v.response = server::Response::Text(400, std::move(body));
  }
  v.problems = std::move(check.problems);
  return v;
}

server::Response CannedReply(int status) { return server::Response::Text(status, ""); }

}  // namespace

FakeWebhookReceiver::FakeWebhookReceiver(std::string path)
    : PeerServer(std::move(path), JudgePayload, CannedReply) {}

}  // namespace obsgate::fakes
