#include "rollback/orchestrator.hpp"

namespace obsgate::rollback {

const char* OutcomeName(ActionResult::Outcome o) {
  switch (o) {
    case ActionResult::Outcome::kDone:
      return "done";
    case ActionResult::Outcome::kSkipped:
      return "skipped";
    case ActionResult::Outcome::kRetry:
      return "retry";
    case ActionResult::Outcome::kFailed:
      return "failed";
  }
  return "failed";
}

std::string ImageTag(std::string_view image) {
  std::string_view name = image.substr(0, image.find('@'));
  // A ':' after the last '/' starts the tag; one before it belongs to a registry's port.
  std::size_t slash = name.rfind('/');
  std::size_t colon = name.rfind(':');
  if (colon == std::string_view::npos || (slash != std::string_view::npos && colon < slash)) {
    std::size_t at = image.find('@');
    return at == std::string_view::npos ? "" : std::string(image.substr(at + 1));
  }
  return std::string(name.substr(colon + 1));
}

}  // namespace obsgate::rollback
