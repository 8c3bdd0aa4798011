#include "app/metrics_dump.hpp"

#include <fstream>
#include <iostream>
#include <sstream>

#include "core/json.hpp"
#include "ingest/scrape/exposition.hpp"
#include "net/http_client.hpp"

namespace obsgate::app {

const char* const kMetricsDumpHelp =
    "usage: obsgate metrics-dump [--json] [--timeout SECONDS] URL|FILE\n\n"
    "Fetches a Prometheus /metrics URL (http or https, asking for OpenMetrics first, as\n"
    "Prometheus does) or reads a file (- for standard input), parses it with the scraper's\n"
    "parser and prints every family with its samples, then the family and sample counts.\n"
    "A file is read as OpenMetrics when its last line is \"# EOF\", else as text 0.0.4.\n"
    "Exits 1 with the parser's message (line number and what was expected) on bad input.\n\n"
    "  --timeout S     give up on a URL after S seconds (default 10)\n"
    "  --json          one JSON document: "
    "{\"families\":[...],\"family_count\":N,\"sample_count\":M}\n"
    "  --openmetrics   read a file as OpenMetrics 1.0 whatever its last line\n"
    "  --text          read a file as text 0.0.4\n";

namespace {

// Prometheus's own Accept header: OpenMetrics first, then text 0.0.4, then anything.
constexpr const char* kAccept =
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

std::string Labels(const std::vector<std::pair<std::string, std::string>>& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (const auto& [name, value] : labels) {
    if (out.size() > 1) out += ",";
    out += name + "=\"";
    for (char c : value) {
      if (c == '\\' || c == '"') out += '\\';
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out += c;
    }
    out += "\"";
  }
  return out + "}";
}

std::string JsonLabels(const std::vector<std::pair<std::string, std::string>>& labels) {
  std::string out = "{";
  for (const auto& [name, value] : labels) {
    if (out.size() > 1) out += ",";
    out += core::JsonQuote(name) + ":" + core::JsonQuote(value);
  }
  return out + "}";
}

void PrintText(const ingest::ParsedExposition& e) {
  std::string out;
  for (const ingest::ParsedFamily& f : e.families) {
    out += "# " + f.name + " " + std::string(ingest::MetricTypeName(f.type));
    if (!f.unit.empty()) out += " (unit " + f.unit + ")";
    out +=
        ", " + std::to_string(f.samples.size()) + (f.samples.size() == 1 ? " sample" : " samples");
    if (!f.help.empty()) out += ": " + f.help;
    out += "\n";
    for (const ingest::ParsedSample& s : f.samples) {
      out += s.name + Labels(s.labels) + " " + ingest::FormatValue(s.value);
      if (s.timestamp_ms) out += " @" + std::to_string(*s.timestamp_ms) + "ms";
      if (s.exemplar_value) {
        out +=
            " exemplar " + Labels(s.exemplar_labels) + " " + ingest::FormatValue(*s.exemplar_value);
      }
      out += "\n";
    }
  }
  out += std::to_string(e.families.size()) + " families, " + std::to_string(e.sample_count) +
         " samples\n";
  std::cout << out;
}

void PrintJson(const ingest::ParsedExposition& e) {
  std::string out = "{\"families\":[";
  bool first_family = true;
  for (const ingest::ParsedFamily& f : e.families) {
    if (!first_family) out += ",";
    first_family = false;
    out += "{\"name\":" + core::JsonQuote(f.name) +
           ",\"type\":" + core::JsonQuote(ingest::MetricTypeName(f.type)) +
           ",\"help\":" + core::JsonQuote(f.help) + ",\"unit\":" + core::JsonQuote(f.unit) +
           ",\"samples\":[";
    bool first = true;
    for (const ingest::ParsedSample& s : f.samples) {
      if (!first) out += ",";
      first = false;
      // Values as strings, as prom2json and the Prometheus API write them (NaN and Inf fit).
      out += "{\"name\":" + core::JsonQuote(s.name) + ",\"labels\":" + JsonLabels(s.labels) +
             ",\"value\":" + core::JsonQuote(ingest::FormatValue(s.value));
      if (s.timestamp_ms) out += ",\"timestamp_ms\":" + std::to_string(*s.timestamp_ms);
      if (s.exemplar_value) {
        out += ",\"exemplar\":{\"labels\":" + JsonLabels(s.exemplar_labels) +
               ",\"value\":" + core::JsonQuote(ingest::FormatValue(*s.exemplar_value)) + "}";
      }
      out += "}";
    }
    out += "]}";
  }
  out += "],\"family_count\":" + std::to_string(e.families.size()) +
         ",\"sample_count\":" + std::to_string(e.sample_count) + "}\n";
  std::cout << out;
}

}  // namespace

int MetricsDump(std::vector<std::string> args) {
  bool json = false;
  std::optional<ingest::ExpositionFormat> forced;
  std::chrono::milliseconds timeout{10'000};
  std::string source;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--json") {
      json = true;
    } else if (a == "--openmetrics") {
      forced = ingest::ExpositionFormat::kOpenMetrics;
    } else if (a == "--text") {
      forced = ingest::ExpositionFormat::kText;
    } else if (a == "--timeout" && i + 1 < args.size()) {
      timeout = std::chrono::milliseconds(std::atoll(args[++i].c_str()) * 1000);
      if (timeout.count() <= 0) {
        std::cerr << "obsgate metrics-dump: --timeout takes whole seconds, like 10\n";
        return 2;
      }
    } else if (source.empty() && (a == "-" || a.rfind("--", 0) != 0)) {
      source = a;
    } else {
      std::cerr << "obsgate metrics-dump: unexpected argument \"" << a
                << "\"; see obsgate metrics-dump --help\n";
      return 2;
    }
  }
  if (source.empty()) {
    std::cerr << kMetricsDumpHelp;
    return 2;
  }
  std::string body;
  ingest::ExpositionFormat format;
  if (source.starts_with("http://") || source.starts_with("https://")) {
    net::HttpClientOptions options;
    options.timeout = timeout;
    options.accept = kAccept;
    auto client = net::HttpClient::Create(source, options);
    if (!client) {
      std::cerr << "obsgate metrics-dump: " << client.error() << "\n";
      return 1;
    }
    net::HttpFetch fetch = (*client)->Get();
    if (!fetch.ok) {
      std::cerr << "obsgate metrics-dump: " << fetch.error << "\n";
      return 1;
    }
    body = std::move(fetch.body);
    format = forced.value_or(ingest::FormatFromContentType(fetch.content_type));
  } else {
    std::ostringstream text;
    if (source == "-") {
      text << std::cin.rdbuf();
    } else {
      std::ifstream in(source, std::ios::binary);
      if (!in) {
        std::cerr << "obsgate metrics-dump: cannot open " << source << "\n";
        return 1;
      }
      text << in.rdbuf();
    }
    body = text.str();
    format = forced.value_or(ingest::SniffFormat(body));
  }
  auto parsed = ingest::ParseExpositionToValues(body, format);
  if (!parsed) {
    std::cerr << "obsgate metrics-dump: " << source << ": " << parsed.error() << "\n";
    return 1;
  }
  if (json) {
    PrintJson(*parsed);
  } else {
    PrintText(*parsed);
  }
  return 0;
}

}  // namespace obsgate::app
