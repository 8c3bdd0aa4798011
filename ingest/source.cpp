#include "ingest/source.hpp"

namespace obsgate::ingest {

ClassifyOptions ClassifyOptionsFrom(const core::ClassifyConfig& c) {
  ClassifyOptions o;
  auto over = [](std::vector<std::string>& target, const std::vector<std::string>& given) {
    if (!given.empty()) target = given;
  };
  over(o.status_fields, c.status_fields);
  over(o.level_fields, c.level_fields);
  over(o.namespace_fields, c.namespace_fields);
  over(o.deployment_fields, c.deployment_fields);
  over(o.version_fields, c.version_fields);
  o.extra_error_statuses = c.extra_error_statuses;
  o.error_patterns = c.error_patterns;
  return o;
}

Format FormatFrom(std::string_view name) {
  if (name == "docker") return Format::kDocker;
  if (name == "cri") return Format::kCri;
  if (name == "raw") return Format::kRaw;
  return Format::kAuto;
}

}  // namespace obsgate::ingest
