#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "ingest/http/loki.hpp"
#include "ingest/http/otlp.hpp"
#include "ingest/source.hpp"

namespace obsgate::ingest {

struct PushResult {
  std::uint64_t accepted = 0;      // lines counted
  std::uint64_t rejected = 0;      // lines that could not be read, framing errors included
  std::uint64_t frame_errors = 0;  // of those, lines framed as docker or CRI but malformed
  std::string first_problem;       // why the first rejected line was rejected
};

// The labels of a pushed stream as a series: namespace, deployment and version from the usual
// label names (namespace, app, deployment, service_name, version, pod, ...), and a log path from
// `filename` when Promtail sends one.
struct PushStreamLabels {
  SourceLabels labels;
  std::string path;
};
PushStreamLabels LabelsFromPush(const std::vector<Label>& labels);

// Counts what is pushed over HTTP (Loki's push API, NDJSON) into the sink. Thread-safe: each
// push borrows a LineCounter from a pool, so server threads count in parallel without sharing.
class PushIngester {
 public:
  static core::Result<std::unique_ptr<PushIngester>> Create(std::string source,
                                                            const ClassifyOptions& classify,
                                                            RecordSink& sink,
                                                            std::size_t max_decoded_bytes);

  // POST /loki/api/v1/push. An error means the body as a whole could not be read (HTTP 400).
  core::Result<PushResult> Loki(std::string_view body, std::string_view content_type,
                                std::string_view content_encoding);
  // POST /api/v1/logs: one docker json-file, CRI or application line per line. `path`, when a
  // Kubernetes log path, attributes the lines as the file tail would.
  core::Result<PushResult> Ndjson(std::string_view body, std::string_view content_encoding,
                                  Format format, std::string_view path, const SourceLabels& labels);

  // POST /v1/logs: an OTLP/HTTP ExportLogsServiceRequest, uncompressed or gzip. An error means
  // the body as a whole could not be read (HTTP 400).
  core::Result<PushResult> Otlp(std::string_view body, OtlpEncoding encoding,
                                std::string_view content_encoding);

  const std::string& source() const { return source_; }

 private:
  PushIngester(std::string source, const ClassifyOptions& classify, RecordSink& sink,
               std::size_t max_decoded_bytes)
      : source_(std::move(source)),
        classify_(classify),
        sink_(sink),
        max_decoded_bytes_(max_decoded_bytes) {}
  std::unique_ptr<LineCounter> Borrow();
  // Delivers what the counter counted and puts it back in the pool.
  void Return(std::unique_ptr<LineCounter> counter);
  core::Result<std::string> Decode(std::string_view body, std::string_view encoding);

  const std::string source_;
  const ClassifyOptions classify_;
  RecordSink& sink_;
  const std::size_t max_decoded_bytes_;
  std::mutex mu_;
  std::vector<std::unique_ptr<LineCounter>> pool_;
};

}  // namespace obsgate::ingest
