#pragma once

#include <memory>

#include "alerting/notifier.hpp"
#include "core/config.hpp"
#include "core/result.hpp"

namespace obsgate::app {

// The notifier for one configured receiver; `env` supplies HTTPS_PROXY and NO_PROXY. The error
// never shows the receiver's URL or key.
core::Result<std::unique_ptr<alerting::Notifier>> MakeNotifier(const core::ReceiverConfig& r,
                                                               const core::Env& env);

}  // namespace obsgate::app
