// Notifications: (1) the router taking 100,000 firing alerts in 1,000 groups and flushing them,
// against a baseline in the same run of inserting the same snapshots into a std::map keyed by
// fingerprint (the least any alert store pays); (2) the outbox writing notifications with one
// fdatasync each, against the same bytes written and synced by hand.
// Usage: alerting_bench [alerts] [notifications] (default 100000 1000)
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>

#include "alerting/outbox.hpp"
#include "alerting/router.hpp"
#include "alerting/silences.hpp"

namespace {

using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

obsgate::alerting::AlertSnapshot Alert(int i) {
  obsgate::alerting::AlertSnapshot a;
  a.fingerprint = "fp" + std::to_string(i);
  a.status = "firing";
  a.labels = {{"alertname", "ErrorRateAbove1Percent"},
              {"namespace", "ns" + std::to_string(i % 20)},
              {"deployment", "deploy" + std::to_string(i % 1000)},
              {"version", "v" + std::to_string(i)},
              {"severity", "critical"}};
  a.annotations = {{"summary", "deploy v: 5.00% of requests failed"}};
  a.values = {{"error_rate", 0.05}, {"requests", 1234}, {"baseline.error_rate", 0.002}};
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace obsgate;
  const int alerts = argc > 1 ? std::atoi(argv[1]) : 100'000;
  const int notifications = argc > 2 ? std::atoi(argv[2]) : 1'000;
  std::vector<alerting::AlertSnapshot> snapshots;
  for (int i = 0; i < alerts; ++i) snapshots.push_back(Alert(i));

  auto start = Clock::now();
  std::map<std::string, alerting::AlertSnapshot> floor;
  for (const auto& a : snapshots) floor[a.fingerprint] = a;
  double baseline = Seconds(start);

  std::string dir = std::filesystem::temp_directory_path() / "obsgate-alerting-bench";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  core::FakeClock clock;
  auto silences = std::move(alerting::Silences::Open(dir + "/silences.json", clock)).value();
  core::AlertingConfig config;
  config.route.receiver = "r";
  config.route.group_by = std::vector<std::string>{"namespace", "deployment"};
  config.route.group_wait = core::Duration(0);
  std::size_t sent_alerts = 0;
  int sent = 0;
  alerting::Router router(config, {{"r", {}}}, *silences, clock, [&](alerting::Notification n) {
    sent_alerts += n.alerts.size();
    ++sent;
  });
  start = Clock::now();
  for (const auto& a : snapshots) router.Update(a);
  double updates = Seconds(start);
  start = Clock::now();
  router.Flush();
  double flush = Seconds(start);
  std::printf("router: %d alerts -> %d notifications with %zu alerts\n", alerts, sent, sent_alerts);
  std::printf("  baseline std::map insert  %8.3f s  %10.0f alerts/s\n", baseline,
              alerts / baseline);
  std::printf("  router Update             %8.3f s  %10.0f alerts/s  (ratio %.2f)\n", updates,
              alerts / updates, baseline / updates);
  std::printf("  router Flush (all groups) %8.3f s\n", flush);

  // The outbox: one fsync'd append per notification.
  alerting::Notification n;
  n.receiver = "r";
  n.group_key = "{}:{deployment=\"deploy1\"}";
  n.status = "firing";
  n.alerts = {snapshots[0], snapshots[1], snapshots[2]};
  std::string line = "A " + alerting::NotificationToJson(n) + "\n";
  int fd = ::open((dir + "/raw").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0640);
  start = Clock::now();
  for (int i = 0; i < notifications; ++i) {
    if (::write(fd, line.data(), line.size()) < 0 || ::fdatasync(fd) != 0) return 1;
  }
  double raw = Seconds(start);
  ::close(fd);
  auto outbox = std::move(alerting::Outbox::Open(dir + "/outbox")).value();
  start = Clock::now();
  for (int i = 0; i < notifications; ++i) {
    n.id = "n" + std::to_string(i);
    if (!outbox->Add(n)) return 1;
  }
  double added = Seconds(start);
  std::printf("outbox: %d notifications of %zu bytes\n", notifications, line.size());
  std::printf("  baseline write+fdatasync  %8.3f s  %10.0f /s\n", raw, notifications / raw);
  std::printf("  Outbox::Add               %8.3f s  %10.0f /s  (ratio %.2f)\n", added,
              notifications / added, raw / added);
  std::filesystem::remove_all(dir);
  return 0;
}
