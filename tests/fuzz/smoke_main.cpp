// Replays seed corpora through a fuzz target without libFuzzer, so the normal test build runs
// every target over its seeds, their prefixes and a few byte mutations.
// Usage: <target>_smoke DIR_OR_FILE...
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

void Run(const std::string& bytes) {
  // A copy of exactly `size` bytes, so that reads past the end show up under ASan.
  std::vector<uint8_t> copy(bytes.begin(), bytes.end());
  LLVMFuzzerTestOneInput(copy.empty() ? nullptr : copy.data(), copy.size());
}

std::size_t Replay(const std::string& seed) {
  std::size_t runs = 0;
  for (std::size_t n = 0; n <= seed.size(); ++n, ++runs) Run(seed.substr(0, n));
  // Mutations at a bounded number of positions: drop a byte, make it a quote, backslash, brace,
  // newline, high byte or NUL.
  const std::size_t step = seed.size() / 64 + 1;
  for (std::size_t i = 0; i < seed.size(); i += step) {
    std::string dropped = seed;
    dropped.erase(i, 1);
    Run(dropped);
    ++runs;
    for (char c : {'"', '\\', '{', '}', '\n', '=', '\xff', '\0'}) {
      std::string m = seed;
      m[i] = c;
      Run(m);
      ++runs;
    }
  }
  Run(seed + seed);
  return runs + 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t files = 0, runs = 0;
  for (int a = 1; a < argc; ++a) {
    std::vector<std::filesystem::path> paths;
    if (std::filesystem::is_directory(argv[a])) {
      for (const auto& e : std::filesystem::recursive_directory_iterator(argv[a])) {
        if (e.is_regular_file()) paths.push_back(e.path());
      }
    } else {
      paths.emplace_back(argv[a]);
    }
    for (const auto& p : paths) {
      std::ifstream in(p, std::ios::binary);
      if (!in) {
        std::fprintf(stderr, "cannot read %s\n", p.c_str());
        return 2;
      }
      const std::string seed((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
      runs += Replay(seed);
      ++files;
    }
  }
  if (files == 0) {
    std::fprintf(stderr, "no seed files given\n");
    return 2;
  }
  std::printf("replayed %zu seed files in %zu runs\n", files, runs);
  return 0;
}
