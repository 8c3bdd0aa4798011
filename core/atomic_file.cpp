#include "core/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace obsgate::core {
namespace {

std::string ErrnoText() { return std::strerror(errno); }

Status SyncDirectoryOf(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Error{"cannot open the directory " + dir + ": " + ErrnoText()};
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Error{"cannot sync the directory " + dir + ": " + ErrnoText()};
  return Ok{};
}

}  // namespace

Status WriteFileAtomically(const std::string& path, std::string_view content) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return Error{"cannot write " + tmp + ": " + ErrnoText()};
  std::size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::string why = ErrnoText();
      ::close(fd);
      return Error{"cannot write " + tmp + ": " + why};
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    std::string why = ErrnoText();
    ::close(fd);
    return Error{"cannot sync " + tmp + ": " + why};
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return Error{"cannot replace " + path + ": " + ErrnoText()};
  }
  return SyncDirectoryOf(path);
}

Status MakeDirectories(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) {
    return Error{"cannot create the directory " + path + ": " + ec.message() +
                 "; set data_dir to a writable directory"};
  }
  return Ok{};
}

Result<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{"cannot read " + path + ": " + ErrnoText()};
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace obsgate::core
