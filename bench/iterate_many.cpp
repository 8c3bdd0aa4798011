// The floor for reading docker json-file logs from disk: simdjson 3.0 loads each file and reads
// every document's "log" string with iterate_many, as fast as a JSON reader goes on one thread.
// Usage: iterate_many FILE...   prints documents, bytes and its own seconds
#include <simdjson.h>

#include <chrono>
#include <cstdio>
#include <string_view>

int main(int argc, char** argv) {
  const auto start = std::chrono::steady_clock::now();
  std::size_t documents = 0, bytes = 0, log_bytes = 0;
  simdjson::ondemand::parser parser;
  for (int i = 1; i < argc; ++i) {
    simdjson::padded_string text;
    if (simdjson::padded_string::load(argv[i]).get(text)) {
      std::fprintf(stderr, "iterate_many: cannot read %s\n", argv[i]);
      return 1;
    }
    bytes += text.size();
    simdjson::ondemand::document_stream docs;
    if (parser.iterate_many(text, 1 << 20).get(docs)) return 1;
    for (auto doc : docs) {
      std::string_view log;
      ++documents;
      if (doc["log"].get_string().get(log) == simdjson::SUCCESS) log_bytes += log.size();
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%zu documents, %zu bytes (%zu of log strings) in %.3f s\n", documents, bytes,
              log_bytes, seconds);
  return 0;
}
