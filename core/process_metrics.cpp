#include "core/process_metrics.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace obsgate::core {
namespace {

prometheus::MetricFamily Single(const char* name, const char* help, prometheus::MetricType type,
                                double value) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  prometheus::ClientMetric m;
  if (type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(std::move(m));
  return f;
}

int CountOpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int n = 0;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n - 1;  // the descriptor opendir itself holds
}

}  // namespace

ProcessMetrics::ProcessMetrics() {
  std::ifstream stat("/proc/stat");
  std::string key;
  while (stat >> key) {
    if (key == "btime") {
      stat >> boot_time_seconds_;
      break;
    }
    stat.ignore(1 << 20, '\n');
  }
  long ticks = sysconf(_SC_CLK_TCK);
  if (ticks > 0) ticks_per_second_ = static_cast<double>(ticks);
  long page = sysconf(_SC_PAGESIZE);
  if (page > 0) page_size_ = static_cast<double>(page);
}

std::vector<prometheus::MetricFamily> ProcessMetrics::Collect() const {
  using prometheus::MetricType;
  std::vector<prometheus::MetricFamily> out;
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (std::getline(in, line)) {
    // Fields after the command name, which is in parentheses and may contain spaces.
    auto close = line.rfind(')');
    std::istringstream rest(close == std::string::npos ? "" : line.substr(close + 2));
    std::vector<std::string> f;
    for (std::string tok; rest >> tok;) f.push_back(tok);
    // f[0] is field 3 (state): utime is field 14, stime 15, starttime 22, vsize 23, rss 24.
    if (f.size() >= 22) {
      double utime = std::stod(f[11]), stime = std::stod(f[12]);
      double start = std::stod(f[19]);
      out.push_back(Single("process_cpu_seconds_total",
                           "Total user and system CPU time spent in seconds.", MetricType::Counter,
                           (utime + stime) / ticks_per_second_));
      out.push_back(Single("process_start_time_seconds",
                           "Start time of the process since unix epoch in seconds.",
                           MetricType::Gauge, boot_time_seconds_ + start / ticks_per_second_));
      out.push_back(Single("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                           MetricType::Gauge, std::stod(f[20])));
      out.push_back(Single("process_resident_memory_bytes", "Resident memory size in bytes.",
                           MetricType::Gauge, std::stod(f[21]) * page_size_));
    }
  }
  int fds = CountOpenFds();
  if (fds >= 0) {
    out.push_back(
        Single("process_open_fds", "Number of open file descriptors.", MetricType::Gauge, fds));
  }
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0) {
    out.push_back(Single("process_max_fds", "Maximum number of open file descriptors.",
                         MetricType::Gauge, static_cast<double>(lim.rlim_cur)));
  }
  return out;
}

}  // namespace obsgate::core
