#include "app/notifiers.hpp"

#include <type_traits>

#include "alerting/alertmanager/alertmanager.hpp"
#include "alerting/log/log.hpp"
#include "alerting/pagerduty/pagerduty.hpp"
#include "alerting/slack/slack.hpp"
#include "alerting/webhook/webhook.hpp"

namespace obsgate::app {
core::Result<std::unique_ptr<alerting::Notifier>> MakeNotifier(const core::ReceiverConfig& r,
                                                               const core::Env& env) {
  return std::visit(
      [&](const auto& c) -> core::Result<std::unique_ptr<alerting::Notifier>> {
        using C = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<C, core::LogReceiverConfig>) {
          return std::unique_ptr<alerting::Notifier>(
              std::make_unique<alerting::LogNotifier>(r.name, c));
        } else if constexpr (std::is_same_v<C, core::SlackReceiverConfig>) {
          return core::Upcast<alerting::Notifier>(alerting::SlackNotifier::Create(r.name, c, env));
        } else if constexpr (std::is_same_v<C, core::PagerDutyReceiverConfig>) {
          return core::Upcast<alerting::Notifier>(
              alerting::PagerDutyNotifier::Create(r.name, c, env));
        } else if constexpr (std::is_same_v<C, core::AlertmanagerReceiverConfig>) {
          return core::Upcast<alerting::Notifier>(
              alerting::AlertmanagerNotifier::Create(r.name, c, env));
        } else {
          return core::Upcast<alerting::Notifier>(
              alerting::WebhookNotifier::Create(r.name, c, env));
        }
      },
      r.spec);
}

}  // namespace obsgate::app
