#include "ingest/http/push.hpp"

#include "ingest/attribution.hpp"

namespace obsgate::ingest {
namespace {

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// Feeds one line; returns how many messages it completed and records a framing rejection.
std::uint64_t FeedCounting(LogStream& stream, std::string_view line, LineCounter& counter,
                           PushResult& result, std::string_view what) {
  IngestStats& stats = counter.stats();
  std::uint64_t bad = stats.docker_errors + stats.cri_errors;
  std::uint64_t lines = stats.lines;
  stream.Feed(line, counter);
  if (stats.docker_errors + stats.cri_errors > bad) {
    ++result.rejected;
    ++result.frame_errors;
    if (result.first_problem.empty()) {
      result.first_problem =
          std::string(what) + " looks like a docker or CRI line but is malformed";
    }
  }
  return stats.lines - lines;
}

// Feeds each stream's entries through a LogStream of that stream's labels.
class CountingVisitor final : public PushVisitor {
 public:
  CountingVisitor(LineCounter& counter, PushResult& result) : counter_(counter), result_(result) {}

  void Stream(const std::vector<Label>& labels) override {
    PushStreamLabels l = LabelsFromPush(labels);
    stream_.emplace(Format::kAuto, std::move(l.path), std::move(l.labels));
  }
  void Entry(std::string_view line) override {
    // A pushed entry is one line; shippers often keep its trailing newline.
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
    result_.accepted += FeedCounting(*stream_, line, counter_, result_, "an entry");
  }
  void Rejected(std::uint64_t lines, std::string_view why) override {
    result_.rejected += lines;
    if (result_.first_problem.empty()) result_.first_problem = std::string(why);
  }
  void Finish() {
    if (!stream_) return;
    std::uint64_t before = counter_.stats().lines;
    stream_->Finish(counter_);
    result_.accepted += counter_.stats().lines - before;
  }

 private:
  LineCounter& counter_;
  PushResult& result_;
  std::optional<LogStream> stream_;
};

// Counts OTLP records from their fields, the body classified only for what the fields leave out.
class OtlpCounter final : public OtlpVisitor {
 public:
  OtlpCounter(LineCounter& counter, PushResult& result) : counter_(counter), result_(result) {}

  void Record(const OtlpRecord& r) override {
    LineFacts facts;
    std::string_view body = r.body;
    while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.remove_suffix(1);
    if (!body.empty()) facts = counter_.classifier().Classify(body);
    if (r.severity_number > 0) {
      // OTLP's severity number is the record's level: 17..24 are ERROR and FATAL.
      facts.level = LevelFromSeverityNumber(r.severity_number);
      facts.error_line = r.severity_number >= 17;
    } else if (Level l = ParseLevel(r.severity_text); l != Level::kNone) {
      facts.level = l;
      facts.error_line = IsErrorLevel(l);
    }
    if (r.status != 0) facts.status = r.status;
    Workload w = WorkloadFromPod(r.pod);
    auto pick = [](std::string_view a, std::string_view b, std::string_view c) {
      return !a.empty() ? a : !b.empty() ? b : c;
    };
    counter_.Count(facts, pick(r.ns, facts.ns, {}),
                   pick(r.deployment, w.deployment, facts.deployment),
                   pick(r.version, w.version, facts.version));
    ++result_.accepted;
  }
  void Rejected(std::uint64_t records, std::string_view why) override {
    result_.rejected += records;
    if (result_.first_problem.empty()) result_.first_problem = std::string(why);
  }

 private:
  static Level LevelFromSeverityNumber(int n) {
    if (n <= 4) return Level::kTrace;
    if (n <= 8) return Level::kDebug;
    if (n <= 12) return Level::kInfo;
    if (n <= 16) return Level::kWarn;
    if (n <= 20) return Level::kError;
    return Level::kFatal;
  }

  LineCounter& counter_;
  PushResult& result_;
};

}  // namespace

PushStreamLabels LabelsFromPush(const std::vector<Label>& labels) {
  PushStreamLabels out;
  auto find = [&](std::initializer_list<std::string_view> names) -> std::string {
    for (std::string_view n : names) {
      for (const Label& l : labels) {
        if (l.name == n && !l.value.empty()) return l.value;
      }
    }
    return {};
  };
  out.labels.ns =
      find({"namespace", "k8s_namespace_name", "namespace_name", "kubernetes_namespace"});
  out.labels.deployment = find({"deployment", "k8s_deployment_name", "app",
                                "app_kubernetes_io_name", "service_name", "service"});
  out.labels.version = find({"version", "app_kubernetes_io_version", "service_version"});
  std::string pod = find({"pod", "k8s_pod_name", "pod_name"});
  if (!pod.empty()) {
    Workload w = WorkloadFromPod(pod);
    if (out.labels.deployment.empty()) out.labels.deployment = std::string(w.deployment);
    if (out.labels.version.empty()) out.labels.version = std::string(w.version);
  }
  out.path = find({"filename", "file", "log_file_path"});
  return out;
}

core::Result<std::unique_ptr<PushIngester>> PushIngester::Create(std::string source,
                                                                 const ClassifyOptions& classify,
                                                                 RecordSink& sink,
                                                                 std::size_t max_decoded_bytes) {
  // Compile the patterns once now, so a bad one is a start-up error, not a failed push.
  auto probe = LineCounter::Create(classify);
  if (!probe) return core::Error{probe.error()};
  std::unique_ptr<PushIngester> p(
      new PushIngester(std::move(source), classify, sink, max_decoded_bytes));
  p->pool_.push_back(std::move(probe).value());
  return p;
}

std::unique_ptr<LineCounter> PushIngester::Borrow() {
  {
    std::lock_guard lock(mu_);
    if (!pool_.empty()) {
      auto c = std::move(pool_.back());
      pool_.pop_back();
      return c;
    }
  }
  return LineCounter::Create(classify_).value();  // the options compiled once already
}

void PushIngester::Return(std::unique_ptr<LineCounter> counter) {
  sink_.Deliver(source_, counter->counts(), counter->stats());
  counter->stats() = IngestStats{};
  std::lock_guard lock(mu_);
  pool_.push_back(std::move(counter));
}

core::Result<std::string> PushIngester::Decode(std::string_view body, std::string_view encoding) {
  if (encoding.empty() || encoding == "identity") return std::string(body);
  if (encoding == "gzip" || encoding == "x-gzip" || encoding == "deflate") {
    return core::Gunzip(body, max_decoded_bytes_);
  }
  if (encoding == "snappy") return SnappyUncompress(body, max_decoded_bytes_);
  return core::Error{"Content-Encoding \"" + std::string(encoding) +
                     "\" is not supported; use gzip or none"};
}

core::Result<PushResult> PushIngester::Loki(std::string_view body, std::string_view content_type,
                                            std::string_view content_encoding) {
  bool protobuf = StartsWith(content_type, "application/x-protobuf") ||
                  StartsWith(content_type, "application/protobuf");
  bool json = content_type.empty() || StartsWith(content_type, "application/json");
  if (!protobuf && !json) {
    return core::Error{"Content-Type \"" + std::string(content_type) +
                       "\" is not a Loki push; use application/json or application/x-protobuf"};
  }
  auto decoded = Decode(body, content_encoding);
  if (!decoded) return core::Error{decoded.error()};
  std::string raw;
  std::string_view payload = *decoded;
  if (protobuf && content_encoding.empty()) {
    // Loki's protobuf push is always snappy-compressed, without a Content-Encoding header.
    auto unsnappy = SnappyUncompress(payload, max_decoded_bytes_);
    if (!unsnappy) return core::Error{unsnappy.error()};
    raw = std::move(unsnappy).value();
    payload = raw;
  }
  PushResult result;
  auto counter = Borrow();
  CountingVisitor visitor(*counter, result);
  core::Status s =
      protobuf ? DecodeLokiProtobuf(payload, visitor) : DecodeLokiJson(payload, visitor);
  visitor.Finish();
  counter->stats().bytes = body.size();
  Return(std::move(counter));
  if (!s) return core::Error{s.error()};
  return result;
}

core::Result<PushResult> PushIngester::Otlp(std::string_view body, OtlpEncoding encoding,
                                            std::string_view content_encoding) {
  auto decoded = Decode(body, content_encoding);
  if (!decoded) return core::Error{decoded.error()};
  PushResult result;
  auto counter = Borrow();
  OtlpCounter visitor(*counter, result);
  core::Status s = DecodeOtlpLogs(*decoded, encoding, visitor);
  counter->stats().bytes = body.size();
  Return(std::move(counter));
  if (!s) return core::Error{s.error()};
  return result;
}

core::Result<PushResult> PushIngester::Ndjson(std::string_view body,
                                              std::string_view content_encoding, Format format,
                                              std::string_view path, const SourceLabels& labels) {
  auto decoded = Decode(body, content_encoding);
  if (!decoded) return core::Error{decoded.error()};
  std::string_view rest = *decoded;
  PushResult result;
  auto counter = Borrow();
  LogStream stream(format, std::string(path), labels);
  std::size_t line_no = 0;
  while (!rest.empty()) {
    std::size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    ++line_no;
    result.accepted +=
        FeedCounting(stream, line, *counter, result, "line " + std::to_string(line_no));
  }
  IngestStats& stats = counter->stats();
  std::uint64_t before = stats.lines;
  stream.Finish(*counter);
  result.accepted += stats.lines - before;
  stats.bytes = body.size();
  Return(std::move(counter));
  return result;
}

}  // namespace obsgate::ingest
