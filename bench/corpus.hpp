#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace obsgate::bench {

// One container's log file of a generated cluster.
struct LogFile {
  std::string path;   // /var/log/containers/<pod>_<ns>_<container>-<id>.log
  std::string bytes;  // docker json-file lines
};

struct CorpusShape {
  std::uint64_t seed = 42;
  int deployments = 300;
  int versions = 3;               // per deployment
  std::size_t lines = 1'000'000;  // in all
};

// A deterministic cluster's logs: JSON application logs (60%), access logs (25%) and plain lines
// (15%) nested in docker json-file lines of about 200 bytes, 1% to 5% errors per deployment.
std::vector<LogFile> GenerateDockerCorpus(const CorpusShape& shape);

}  // namespace obsgate::bench
