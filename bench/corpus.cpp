#include "bench/corpus.hpp"

#include <cstdio>
#include <random>

namespace obsgate::bench {
namespace {

constexpr char kHashAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";

std::string RandomFrom(std::mt19937_64& rng, const char* alphabet, std::size_t n, int len) {
  std::string s;
  for (int i = 0; i < len; ++i) s += alphabet[rng() % n];
  return s;
}

}  // namespace

std::vector<LogFile> GenerateDockerCorpus(const CorpusShape& shape) {
  std::mt19937_64 rng(shape.seed);
  static const char* kPaths[] = {"/api/v1/users", "/api/v1/orders/8812", "/healthz",
                                 "/login",        "/api/v2/cart/items",  "/static/app.js"};
  static const char* kMethods[] = {"GET", "POST", "PUT", "DELETE"};
  static const char* kNamespaces[] = {"shop", "payments", "edge", "platform", "data"};
  std::vector<LogFile> files;
  std::size_t per_file =
      shape.lines / static_cast<std::size_t>(shape.deployments * shape.versions) + 1;
  char buf[1024];
  for (int d = 0; d < shape.deployments; ++d) {
    std::string deployment = "svc" + std::to_string(d);
    const char* ns = kNamespaces[d % 5];
    double error_rate = 0.01 + 0.04 * static_cast<double>(rng() % 1000) / 1000.0;
    for (int v = 0; v < shape.versions; ++v) {
      std::string hash = RandomFrom(rng, kHashAlphabet, 27, 9 + static_cast<int>(rng() % 2));
      std::string pod = deployment + "-" + hash + "-" + RandomFrom(rng, kHashAlphabet, 27, 5);
      LogFile f;
      f.path = "/var/log/containers/" + pod + "_" + ns + "_app-" +
               RandomFrom(rng, "0123456789abcdef", 16, 64) + ".log";
      f.bytes.reserve(per_file * 230);
      for (std::size_t i = 0; i < per_file; ++i) {
        bool error = static_cast<double>(rng() % 100000) / 100000.0 < error_rate;
        int status = error ? 500 + static_cast<int>(rng() % 4) : (rng() % 10 ? 200 : 404);
        unsigned kind = static_cast<unsigned>(rng() % 100);
        int ms = static_cast<int>(rng() % 1000);
        const char* path = kPaths[rng() % 6];
        const char* method = kMethods[rng() % 4];
        int n;
        if (kind < 60) {
          n = std::snprintf(
              buf, sizeof buf,
              "{\"log\":\"{\\\"ts\\\":\\\"2024-03-05T10:%02d:%02d.%03dZ\\\",\\\"level\\\":\\\"%"
              "s\\\","
              "\\\"msg\\\":\\\"request done\\\",\\\"method\\\":\\\"%s\\\",\\\"path\\\":\\\"%s\\\","
              "\\\"status\\\":%d,\\\"duration_ms\\\":%d}\\n\",\"stream\":\"stdout\","
              "\"time\":\"2024-03-05T10:%02d:%02d.%09dZ\"}\n",
              ms % 60, ms % 60, ms, error ? "error" : "info", method, path, status,
              static_cast<int>(rng() % 900), ms % 60, ms % 60, static_cast<int>(rng() % 999999999));
        } else if (kind < 85) {
          n = std::snprintf(buf, sizeof buf,
                            "{\"log\":\"10.1.%d.%d - - [05/Mar/2024:10:%02d:%02d +0000] \\\"%s %s "
                            "HTTP/1.1\\\" %d "
                            "%d \\\"-\\\" \\\"curl/8.0\\\"\\n\",\"stream\":\"stdout\","
                            "\"time\":\"2024-03-05T10:%02d:%02d.%09dZ\"}\n",
                            static_cast<int>(rng() % 255), static_cast<int>(rng() % 255), ms % 60,
                            ms % 60, method, path, status, static_cast<int>(rng() % 50000), ms % 60,
                            ms % 60, static_cast<int>(rng() % 999999999));
        } else {
          n = std::snprintf(
              buf, sizeof buf,
              "{\"log\":\"%s cache refresh finished for shard %d in %dms, %d keys updated\\n\","
              "\"stream\":\"%s\",\"time\":\"2024-03-05T10:%02d:%02d.%09dZ\"}\n",
              error ? "ERROR" : "INFO", static_cast<int>(rng() % 64), ms,
              static_cast<int>(rng() % 100000), error ? "stderr" : "stdout", ms % 60, ms % 60,
              static_cast<int>(rng() % 999999999));
        }
        f.bytes.append(buf, static_cast<std::size_t>(n));
      }
      files.push_back(std::move(f));
    }
  }
  return files;
}

std::string GenerateExposition(std::size_t series) {
  std::mt19937_64 rng(42);
  const char* methods[] = {"GET", "POST", "PUT", "DELETE"};
  const char* codes[] = {"200", "201", "204", "301", "400", "404", "429", "500", "503"};
  const char* les[] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"};
  std::string out;
  out.reserve(series * 190);
  std::size_t n = 0;
  out +=
      "# HELP http_requests_total Requests served, by method, path and status.\n"
      "# TYPE http_requests_total counter\n";
  std::uint64_t value = 0;
  for (; n < series * 6 / 10; ++n) {
    char line[320];
    std::snprintf(line, sizeof line,
                  "http_requests_total{namespace=\"prod\",deployment=\"svc-%03zu\",pod=\"svc-%03zu-"
                  "7d9c8b6f5-x%04zu\",method=\"%s\",path=\"/api/v1/items/%zu\",code=\"%s\"} %lu\n",
                  n % 300, n % 300, n % 9973, methods[rng() % 4], n % 50, codes[rng() % 9],
                  static_cast<unsigned long>(value += rng() % 1000));
    out += line;
  }
  out +=
      "# HELP http_request_duration_seconds Latency.\n"
      "# TYPE http_request_duration_seconds histogram\n";
  for (std::size_t i = 0; n < series; ++i) {
    for (const char* le : les) {
      if (n++ >= series) break;
      char line[320];
      std::snprintf(
          line, sizeof line,
          "http_request_duration_seconds_bucket{namespace=\"prod\",deployment=\"svc-%03zu\","
          "pod=\"svc-%03zu-7d9c8b6f5-x%04zu\",le=\"%s\"} %lu\n",
          i % 300, i % 300, i % 9973, le, static_cast<unsigned long>(rng() % 100000));
      out += line;
    }
  }
  return out;
}

}  // namespace obsgate::bench
