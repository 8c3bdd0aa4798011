// A keep-alive HTTP load client for obsgate's push endpoints, measuring lines/s and latency.
// Usage: push_load PORT SECONDS CONNECTIONS json|protobuf|health [LINES_PER_BATCH]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <snappy.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

void PutVarint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>(v | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

void PutBytes(std::string& out, int field, const std::string& bytes) {
  PutVarint(out, static_cast<std::uint64_t>(field) << 3 | 2);
  PutVarint(out, bytes.size());
  out += bytes;
}

std::string AppLine(int i) {
  return "{\"ts\":\"2024-03-05T10:00:00Z\",\"level\":\"" + std::string(i % 50 ? "info" : "error") +
         "\",\"msg\":\"request done\",\"method\":\"GET\",\"path\":\"/api/v1/users\",\"status\":" +
         (i % 50 ? "200" : "503") + ",\"duration_ms\":" + std::to_string(i % 900) + "}";
}

std::string Body(const std::string& kind, int lines, std::string& content_type) {
  if (kind == "json") {
    content_type = "application/json";
    std::string b =
        "{\"streams\":[{\"stream\":{\"namespace\":\"shop\",\"app\":\"auth\","
        "\"version\":\"v1\"},\"values\":[";
    for (int i = 0; i < lines; ++i) {
      std::string line = AppLine(i), escaped;
      for (char c : line) {
        if (c == '"') escaped += '\\';
        escaped += c;
      }
      b += (i ? ",[\"" : "[\"") + std::to_string(1700000000000000000LL + i) + "\",\"" + escaped +
           "\"]";
    }
    return b + "]}]}";
  }
  content_type = "application/x-protobuf";
  std::string stream;
  PutBytes(stream, 1, "{namespace=\"shop\", app=\"auth\", version=\"v1\"}");
  for (int i = 0; i < lines; ++i) {
    std::string ts, entry;
    PutVarint(ts, 1 << 3);
    PutVarint(ts, 1700000000 + static_cast<std::uint64_t>(i));
    PutBytes(entry, 1, ts);
    PutBytes(entry, 2, AppLine(i));
    PutBytes(stream, 2, entry);
  }
  std::string req, compressed;
  PutBytes(req, 1, stream);
  snappy::Compress(req.data(), req.size(), &compressed);
  return compressed;
}

int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// Reads one response; returns its status or 0.
int ReadResponse(int fd, std::string& buf) {
  for (;;) {
    auto end = buf.find("\r\n\r\n");
    if (end != std::string::npos) {
      int status = std::atoi(buf.c_str() + 9);
      std::size_t len = 0;
      auto cl = buf.find("Content-Length: ");
      if (cl != std::string::npos && cl < end)
        len = std::strtoull(buf.c_str() + cl + 16, nullptr, 10);
      while (buf.size() < end + 4 + len) {
        char tmp[65536];
        ssize_t n = read(fd, tmp, sizeof tmp);
        if (n <= 0) return 0;
        buf.append(tmp, static_cast<std::size_t>(n));
      }
      buf.erase(0, end + 4 + len);
      return status;
    }
    char tmp[65536];
    ssize_t n = read(fd, tmp, sizeof tmp);
    if (n <= 0) return 0;
    buf.append(tmp, static_cast<std::size_t>(n));
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr,
                 "usage: push_load PORT SECONDS CONNECTIONS json|protobuf|health [LINES]\n");
    return 2;
  }
  int port = std::atoi(argv[1]);
  double seconds = std::atof(argv[2]);
  int conns = std::atoi(argv[3]);
  std::string kind = argv[4];
  int lines = argc > 5 ? std::atoi(argv[5]) : 1000;
  std::string request;
  if (kind == "health") {
    request = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    lines = 0;
  } else {
    std::string type;
    std::string body = Body(kind, lines, type);
    request = "POST /loki/api/v1/push HTTP/1.1\r\nHost: x\r\nContent-Type: " + type +
              "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  }
  std::atomic<bool> stop{false};
  std::vector<std::vector<double>> latencies(static_cast<std::size_t>(conns));
  std::vector<std::uint64_t> failures(static_cast<std::size_t>(conns));
  std::vector<std::thread> threads;
  for (int c = 0; c < conns; ++c) {
    threads.emplace_back([&, c] {
      int fd = Connect(port);
      std::string buf;
      while (fd >= 0 && !stop) {
        auto t0 = Clock::now();
        if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size()))
          break;
        int status = ReadResponse(fd, buf);
        if (status != 204 && status != 200) ++failures[static_cast<std::size_t>(c)];
        if (status == 0) break;
        latencies[static_cast<std::size_t>(c)].push_back(
            std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      }
      if (fd >= 0) close(fd);
    });
  }
  auto start = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  std::uint64_t failed = 0;
  for (std::size_t c = 0; c < latencies.size(); ++c) {
    all.insert(all.end(), latencies[c].begin(), latencies[c].end());
    failed += failures[c];
  }
  std::sort(all.begin(), all.end());
  double p50 = all.empty() ? 0 : all[all.size() / 2];
  double p99 = all.empty() ? 0 : all[all.size() * 99 / 100];
  std::printf("%-9s requests/s %9.0f  lines/s %11.0f  p50 %6.2f ms  p99 %6.2f ms  failed %llu\n",
              kind.c_str(), static_cast<double>(all.size()) / elapsed,
              static_cast<double>(all.size()) * lines / elapsed, p50, p99,
              static_cast<unsigned long long>(failed));
  return 0;
}
