#include "app/ingest.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <atomic>
#include <mutex>

#include "app/cluster.hpp"
#include "core/json.hpp"
#include "core/log.hpp"
#include "ingest/http/push.hpp"
#include "ingest/kafka/kafka_source.hpp"
#include "ingest/scrape/scrape_source.hpp"
#include "ingest/tail/tail_source.hpp"
#include "rules/window_store.hpp"
#include "server/bearer.hpp"
#include "server/http_server.hpp"

namespace obsgate::app {
namespace {

using server::Request;
using server::Response;

// Authentication and backpressure for push endpoints, decided from the headers before the body
// is read: a missing token costs nothing, and bodies in flight never exceed the budget.
// Thread-safe.
class PushAdmission final : public server::Admission {
 public:
  PushAdmission(std::string token, std::uint64_t budget, std::uint64_t max_body,
                prometheus::Counter& unauthorized, prometheus::Counter& throttled,
                prometheus::Gauge& inflight)
      : token_(std::move(token)),
        budget_(budget),
        max_body_(max_body),
        unauthorized_(unauthorized),
        throttled_(throttled),
        inflight_gauge_(inflight) {}

  std::optional<Response> Admit(const Request& head) override {
    if (!token_.empty() && !server::BearerMatches(head.HeaderValue("authorization"), token_)) {
      unauthorized_.Increment();
      return server::BearerRefusal();
    }
    std::uint64_t want = Reservation(head);
    std::uint64_t now = inflight_.load();
    do {
      // One request larger than the whole budget still goes when nothing else is in flight.
      if (now > 0 && now + want > budget_) {
        throttled_.Increment();
        Response r = Response::Error(429, "the gateway is busy ingesting; retry after a second");
        r.headers.push_back({"Retry-After", "1"});
        return r;
      }
    } while (!inflight_.compare_exchange_weak(now, now + want));
    inflight_gauge_.Set(static_cast<double>(now + want));
    return std::nullopt;
  }

  void Done(const Request& head) override {
    inflight_gauge_.Set(
        static_cast<double>(inflight_.fetch_sub(Reservation(head)) - Reservation(head)));
  }

 private:
  // A body without Content-Length (chunked) may grow to the limit; reserve that much.
  std::uint64_t Reservation(const Request& head) const {
    std::string_view cl = head.HeaderValue("content-length");
    std::uint64_t n = 0;
    for (char c : cl) {
      if (c < '0' || c > '9') return max_body_;
      n = n * 10 + static_cast<std::uint64_t>(c - '0');
      if (n > max_body_) return max_body_;
    }
    return cl.empty() ? max_body_ : n;
  }

  const std::string token_;
  const std::uint64_t budget_;
  const std::uint64_t max_body_;
  std::atomic<std::uint64_t> inflight_{0};
  prometheus::Counter& unauthorized_;
  prometheus::Counter& throttled_;
  prometheus::Gauge& inflight_gauge_;
};

std::string ResultJson(const ingest::PushResult& r) {
  return "\"accepted\":" + std::to_string(r.accepted) +
         ",\"rejected\":" + std::to_string(r.rejected);
}

Response PushResponse(const core::Result<ingest::PushResult>& result, bool loki) {
  if (!result) return Response::Error(400, result.error());
  const ingest::PushResult& r = *result;
  if (r.rejected > 0) {
    return Response::Json(
        400, "{\"status\":\"error\",\"error\":" +
                 core::JsonQuote(std::to_string(r.rejected) +
                                 " lines rejected, the rest kept; the first: " + r.first_problem) +
                 "," + ResultJson(r) + "}\n");
  }
  if (loki) return Response{204, "text/plain; charset=utf-8", "", {}};  // as Loki answers
  return Response::Json(200, "{\"status\":\"success\"," + ResultJson(r) + "}\n");
}

// POST /v1/logs as OTLP/HTTP answers: 200 with an ExportLogsServiceResponse (partial_success
// when records were rejected), 400 with a google.rpc.Status for a body that does not read, 415
// for a Content-Type that is neither protobuf nor JSON; each in the request's encoding.
Response OtlpResponse(const Request& req, ingest::PushIngester& ingester,
                      prometheus::Counter& malformed) {
  std::string_view content_type = req.HeaderValue("content-type");
  auto encoding = ingest::OtlpEncodingFrom(content_type);
  if (!encoding) {
    return Response{415,
                    "application/json",
                    ingest::OtlpStatus(ingest::OtlpEncoding::kJson, 3,
                                       "Content-Type \"" + std::string(content_type) +
                                           "\" is not OTLP/HTTP; use application/x-protobuf or "
                                           "application/json"),
                    {}};
  }
  std::string type(ingest::OtlpContentType(*encoding));
  auto result = ingester.Otlp(req.body, *encoding, req.HeaderValue("content-encoding"));
  if (!result) {  // counted in obsgate_http_requests_total{handler="otlp_logs",code="400"}
    return Response{400, type, ingest::OtlpStatus(*encoding, 3, result.error()), {}};
  }
  std::string message;
  if (result->rejected > 0) {
    malformed.Increment(static_cast<double>(result->rejected));
    message = std::to_string(result->rejected) +
              (result->rejected == 1 ? " log record" : " log records") +
              " rejected, the rest kept; the first: " + result->first_problem;
  }
  return Response{200, type, ingest::OtlpExportResponse(*encoding, result->rejected, message), {}};
}

}  // namespace

Ingest::Ingest(rules::WindowStore& store, prometheus::Registry& registry)
    : store_(store),
      registry_(registry),
      lines_(prometheus::BuildCounter()
                 .Name("obsgate_ingest_lines_total")
                 .Help("Log lines counted, per source.")
                 .Register(registry)),
      bytes_(prometheus::BuildCounter()
                 .Name("obsgate_ingest_bytes_total")
                 .Help("Bytes read, framing included, per source.")
                 .Register(registry)),
      parse_errors_(prometheus::BuildCounter()
                        .Name("obsgate_ingest_parse_errors_total")
                        .Help("Lines whose docker or CRI framing could not be read, per format.")
                        .Register(registry)),
      rejected_(prometheus::BuildCounter()
                    .Name("obsgate_ingest_rejected_lines_total")
                    .Help("Lines not counted, per source and reason.")
                    .Register(registry)),
      unattributed_(prometheus::BuildCounter()
                        .Name("obsgate_ingest_unattributed_lines_total")
                        .Help("Lines counted in the unknown deployment: nothing named theirs.")
                        .Register(registry)),
      truncated_(prometheus::BuildCounter()
                     .Name("obsgate_ingest_truncated_lines_total")
                     .Help("Lines cut at the maximum line size and counted.")
                     .Register(registry)),
      refused_(prometheus::BuildCounter()
                   .Name("obsgate_ingest_refused_requests_total")
                   .Help("Push requests refused before their body was read, per reason.")
                   .Register(registry)),
      inflight_(prometheus::BuildGauge()
                    .Name("obsgate_ingest_inflight_bytes")
                    .Help("Push bodies being read or counted, by declared size.")
                    .Register(registry)),
      forgotten_(prometheus::BuildCounter()
                     .Name("obsgate_ingest_forgotten_series_total")
                     .Help("Series forgotten because their records moved to another replica.")
                     .Register(registry)) {
  // Present from the start, so dashboards and alerts see zeros rather than nothing.
  parse_errors_.Add({{"format", "docker"}});
  parse_errors_.Add({{"format", "cri"}});
}

Ingest::~Ingest() { Stop(); }

void Ingest::Deliver(std::string_view source, core::LocalCounts& counts,
                     const ingest::IngestStats& stats) {
  if (cluster_ != nullptr && source == push_source_) {
    // A load balancer spreads one deployment's pushes over the replicas; its owner counts them
    // all. Tail, Kafka and scrape are not split this way: replicas tail the same files, share
    // partitions by the group, and scrape the same targets.
    thread_local core::LocalCounts mine;
    counts.Drain([this](const core::SeriesKey& k, const core::Counts& c) {
      if (!cluster_->Route(k, c)) mine.At(k.ns, k.deployment, k.version) += c;
    });
    store_.Merge(mine);
  } else {
    store_.Merge(counts);
  }
  std::string s(source);
  if (stats.lines) lines_.Add({{"source", s}}).Increment(static_cast<double>(stats.lines));
  if (stats.bytes) bytes_.Add({{"source", s}}).Increment(static_cast<double>(stats.bytes));
  if (stats.docker_errors) {
    parse_errors_.Add({{"format", "docker"}}).Increment(static_cast<double>(stats.docker_errors));
  }
  if (stats.cri_errors) {
    parse_errors_.Add({{"format", "cri"}}).Increment(static_cast<double>(stats.cri_errors));
  }
  if (std::uint64_t frames = stats.docker_errors + stats.cri_errors) {
    rejected_.Add({{"source", s}, {"reason", "malformed_frame"}})
        .Increment(static_cast<double>(frames));
  }
  if (stats.unattributed) {
    unattributed_.Add({{"source", s}}).Increment(static_cast<double>(stats.unattributed));
  }
  if (stats.truncated)
    truncated_.Add({{"source", s}}).Increment(static_cast<double>(stats.truncated));
}

void Ingest::DeliverReplayed(std::string_view source, core::LocalCounts& counts,
                             core::TimePoint at) {
  (void)source;
  store_.MergeAt(counts, at);
}

void Ingest::Forget(std::string_view source,
                    const std::vector<std::pair<std::string, std::string>>& deployments) {
  std::size_t series = store_.Forget(deployments);
  forgotten_.Add({{"source", std::string(source)}}).Increment(static_cast<double>(series));
  std::lock_guard lock(handovers_mu_);
  for (const auto& d : deployments) handovers_.erase(d);
}

void Ingest::TookOver(const std::string& ns, const std::string& deployment,
                      const ingest::Handover& handover) {
  std::lock_guard lock(handovers_mu_);
  handovers_[{ns, deployment}] = handover;
  // Older than the horizon, a handover no longer shows in any window: pruned now and then, not
  // on every call, so a rebalance of many deployments stays linear.
  if (handovers_.size() >= prune_handovers_at_) {
    core::TimePoint oldest = handover.at - store_.options().horizon;
    std::erase_if(handovers_, [oldest](const auto& h) { return h.second.at < oldest; });
    prune_handovers_at_ = std::max<std::size_t>(1024, 2 * handovers_.size());
  }
}

ingest::Handovers Ingest::handovers() const {
  core::TimePoint oldest = store_.LastTick() - store_.options().horizon;
  std::lock_guard lock(handovers_mu_);
  ingest::Handovers out;
  for (const auto& [d, h] : handovers_) {
    if (h.at >= oldest) out.emplace(d, h);
  }
  return out;
}

void Ingest::InstallPush(const std::string& name, const core::HttpSourceConfig& http,
                         std::shared_ptr<ingest::PushIngester> ingester, server::HttpServer& server,
                         std::uint64_t max_body_bytes) {
  auto admission = std::make_shared<PushAdmission>(
      http.token, http.max_inflight_bytes, max_body_bytes,
      refused_.Add({{"source", name}, {"reason", "unauthorized"}}),
      refused_.Add({{"source", name}, {"reason", "busy"}}), inflight_.Add({{"source", name}}));
  auto& malformed = rejected_.Add({{"source", name}, {"reason", "malformed_push"}});
  auto count_rejected = [&malformed](const core::Result<ingest::PushResult>& r) {
    if (r && r->rejected > r->frame_errors) {
      malformed.Increment(static_cast<double>(r->rejected - r->frame_errors));
    }
  };
  if (http.loki) {
    server.Route(
        "POST", "/loki/api/v1/push", "loki_push",
        [ingester, count_rejected](const Request& req) {
          auto result = ingester->Loki(req.body, req.HeaderValue("content-type"),
                                       req.HeaderValue("content-encoding"));
          count_rejected(result);
          return PushResponse(result, true);
        },
        admission);
  }
  if (http.otlp) {
    auto& otlp_rejected = rejected_.Add({{"source", name}, {"reason", "otlp_rejected"}});
    server.Route(
        "POST", "/v1/logs", "otlp_logs",
        [ingester, &otlp_rejected](const Request& req) {
          return OtlpResponse(req, *ingester, otlp_rejected);
        },
        admission);
  }
  if (http.ndjson) {
    server.Route(
        "POST", "/api/v1/logs", "ndjson_push",
        [ingester, count_rejected](const Request& req) {
          std::string format = req.QueryParam("format").value_or("auto");
          if (format != "auto" && format != "docker" && format != "cri" && format != "raw") {
            return Response::Error(
                400, "format=" + format + " is not a log format; use docker, cri, raw or auto");
          }
          ingest::SourceLabels labels{req.QueryParam("namespace").value_or(""),
                                      req.QueryParam("deployment").value_or(""),
                                      req.QueryParam("version").value_or("")};
          auto result = ingester->Ndjson(req.body, req.HeaderValue("content-encoding"),
                                         ingest::FormatFrom(format),
                                         req.QueryParam("path").value_or(""), labels);
          count_rejected(result);
          return PushResponse(result, false);
        },
        admission);
  }
}

core::Status Ingest::Configure(const core::Config& config, server::HttpServer& server) {
  ingest::ClassifyOptions classify = ingest::ClassifyOptionsFrom(config.classify);
  for (const core::SourceConfig& source : config.sources) {
    if (const auto* http = std::get_if<core::HttpSourceConfig>(&source.spec)) {
      // A compressed push may inflate to this much; past it the push is refused.
      std::size_t max_decoded = static_cast<std::size_t>(
          std::max<std::uint64_t>(config.server.max_body_bytes * 8, 64 << 20));
      auto ingester = ingest::PushIngester::Create(source.name, classify, *this, max_decoded);
      if (!ingester) return core::Error{"source " + source.name + ": " + ingester.error()};
      std::shared_ptr<ingest::PushIngester> shared = std::move(ingester).value();
      pushers_.push_back(shared);
      InstallPush(source.name, *http, shared, server, config.server.max_body_bytes);
      push_source_ = source.name;
    } else if (const auto* tail = std::get_if<core::TailSourceConfig>(&source.spec)) {
      auto s = ingest::MakeTailSource(source.name, *tail, classify, registry_);
      if (!s) return core::Error{"source " + source.name + ": " + s.error()};
      sources_.push_back(std::move(s).value());
    } else if (const auto* kafka = std::get_if<core::KafkaSourceConfig>(&source.spec)) {
      auto s = ingest::MakeKafkaSource(source.name, *kafka, classify, registry_,
                                       store_.options().horizon);
      if (!s) return core::Error{"source " + source.name + ": " + s.error()};
      sources_.push_back(std::move(s).value());
    } else if (const auto* scrape = std::get_if<core::ScrapeSourceConfig>(&source.spec)) {
      auto s = ingest::MakeScrapeSource(source.name, *scrape, registry_);
      if (!s) return core::Error{"source " + source.name + ": " + s.error()};
      sources_.push_back(std::move(s).value());
    }
  }
  return core::Ok{};
}

core::Status Ingest::Start() {
  started_ = true;  // so Stop also stops the sources started before one that failed
  for (auto& s : sources_) {
    if (core::Status st = s->Start(*this); !st) {
      return core::Error{"source " + s->name() + " did not start: " + st.error()};
    }
    log::Info("source started", {{"source", s->name()}});
  }
  return core::Ok{};
}

void Ingest::Stop() {
  if (!started_) return;
  started_ = false;
  for (auto& s : sources_) s->Stop();
}

}  // namespace obsgate::app
