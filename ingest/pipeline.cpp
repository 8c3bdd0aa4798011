#include "ingest/pipeline.hpp"

#include "core/series.hpp"
#include "ingest/attribution.hpp"
#include "ingest/json_text.hpp"

namespace obsgate::ingest {

IngestStats& IngestStats::operator+=(const IngestStats& o) {
  lines += o.lines;
  bytes += o.bytes;
  docker_errors += o.docker_errors;
  cri_errors += o.cri_errors;
  unattributed += o.unattributed;
  truncated += o.truncated;
  return *this;
}

core::Result<std::unique_ptr<LineCounter>> LineCounter::Create(ClassifyOptions options) {
  auto classifier = Classifier::Create(std::move(options));
  if (!classifier) return core::Error{classifier.error()};
  return std::unique_ptr<LineCounter>(new LineCounter(std::move(classifier).value()));
}

LineFacts LineCounter::Count(std::string_view message, const SourceLabels& from_path,
                             const SourceLabels& from_source) {
  LineFacts facts = classifier_->Classify(message);
  Count(facts, from_path, from_source);
  return facts;
}

void LineCounter::Count(const LineFacts& facts, const SourceLabels& from_path,
                        const SourceLabels& from_source) {
  auto pick = [](std::string_view a, std::string_view b, std::string_view c) {
    return !a.empty() ? a : !b.empty() ? b : c;
  };
  std::string_view ns = pick(from_path.ns, facts.ns, from_source.ns);
  std::string_view deployment =
      pick(from_path.deployment, facts.deployment, from_source.deployment);
  std::string_view version = pick(from_path.version, facts.version, from_source.version);
  Count(facts, ns, deployment, version);
}

void LineCounter::Count(const LineFacts& facts, std::string_view ns, std::string_view deployment,
                        std::string_view version) {
  if (deployment.empty()) {
    deployment = core::kUnknown;
    ++stats_.unattributed;
  }
  core::Counts& c = counts_.At(ns, deployment, version);
  ++stats_.lines;
  ++c.log_lines;
  if (facts.error_line) ++c.error_lines;
  if (facts.status != 0) {
    ++c.requests;
    if (classifier_->IsErrorStatus(facts.status)) ++c.errors;
  }
}

SourceLabels LabelsFromPath(std::string_view path) {
  SourceLabels labels;
  if (auto pod = ParseKubernetesLogPath(path)) {
    Workload w = WorkloadFromPod(pod->pod);
    labels.ns = std::string(pod->ns);
    labels.deployment = std::string(w.deployment);
    labels.version = std::string(w.version);
  }
  return labels;
}

LogStream::LogStream(Format format, std::string path, SourceLabels labels,
                     std::size_t max_line_bytes)
    : framer_(format),
      joiner_(max_line_bytes),
      max_line_bytes_(max_line_bytes),
      from_path_(LabelsFromPath(path)),
      from_source_(std::move(labels)) {}

std::optional<std::string_view> LogStream::Feed(std::string_view line, LineCounter& counter) {
  // A docker line whose log is one JSON line, in the shape docker writes it, with nothing
  // half-joined and within the size limit (so the joiner would hand it through untouched): its
  // JSON is read inside the escaped string, without unescaping it first.
  constexpr std::string_view kJsonLog = "{\"log\":\"{";
  if ((framer_.format() == Format::kDocker || framer_.format() == Format::kAuto) &&
      line.starts_with(kJsonLog) && line.size() <= max_line_bytes_ && !joiner_.HasPending()) {
    std::string_view escaped = line.substr(kJsonLog.size() - 1);
    while (!escaped.empty() && IsJsonSpace(escaped.back())) escaped.remove_suffix(1);
    std::size_t used = 0;
    ContainerLine frame;
    if (auto facts = counter.classifier().ClassifyEscaped(escaped, used)) {
      // The object ends the message: then come its newline and the frame's tail.
      escaped.remove_prefix(used);
      if (escaped.starts_with("\\n") && ParseDockerTail(escaped.substr(2), frame)) {
        counter.stats().bytes += line.size() + 1;
        counter.Count(*facts, from_path_, from_source_);
        return frame.time;
      }
    }
  }
  // A JSON line in a stream of any format is, as the framer would find, the application's own
  // when it cannot be a docker frame: then one pass reads it, instead of the framer's and the
  // classifier's. Only with nothing half-joined and within the size limit, where the framer and
  // joiner would hand the line through untouched.
  if (framer_.format() == Format::kAuto && !line.empty() && line.front() == '{' &&
      !joiner_.HasPending() && line.size() <= max_line_bytes_) {
    ContainerLine raw;  // the message as the framer would read the line raw
    ParseRaw(line, raw);
    if (auto facts = counter.classifier().ClassifyUnlessDocker(raw.message)) {
      counter.stats().bytes += line.size() + 1;
      counter.Count(*facts, from_path_, from_source_);
      return std::string_view{};
    }
  }
  std::optional<Message> m = Frame(line, counter.stats());
  if (!m) return std::nullopt;
  Count(*m, counter);
  return m->time;
}

std::optional<LogStream::Message> LogStream::Frame(std::string_view line, IngestStats& stats) {
  stats.bytes += line.size() + 1;
  ContainerLine frame;
  FrameError err = framer_.Parse(line, frame);
  if (err != FrameError::kNone) {
    if (err == FrameError::kEmpty) return std::nullopt;  // blank lines say nothing
    bool cri = framer_.format() == Format::kCri ||
               (framer_.format() == Format::kAuto && !line.empty() && line[0] != '{');
    ++(cri ? stats.cri_errors : stats.docker_errors);
    return std::nullopt;
  }
  std::string_view whole;
  if (!joiner_.Add(frame, whole)) return std::nullopt;
  if (joiner_.truncated() != truncated_seen_) {
    stats.truncated += joiner_.truncated() - truncated_seen_;
    truncated_seen_ = joiner_.truncated();
  }
  return Message{whole, frame.time};
}

bool LogStream::FinishOne(LineCounter& counter) {
  std::string_view whole;
  if (!joiner_.Flush(whole)) return false;
  counter.Count(whole, from_path_, from_source_);
  return true;
}

}  // namespace obsgate::ingest
