// POSIX calls rather than iostreams: errors need errno text and durability needs fsync.
#include "core/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>

#include "core/error.h"

namespace trident {

namespace {

// errno of a failed POSIX call (rc != 0), read before anything else can change it; 0 on success.
int errno_of(int rc) { return rc == 0 ? 0 : errno; }

std::string temp_name(const std::string& path) {
  char host[64] = {};
  ::gethostname(host, sizeof host - 1);
  return path + ".tmp." + host + "." + std::to_string(::getpid());
}

// Makes the rename itself durable. EINVAL: the file system cannot sync directories; nothing to do.
void fsync_parent_dir(const std::string& path, const std::string& op) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  TRIDENT_CHECK(fd >= 0, op, ": ", path, ": wrote the file but cannot open its directory ", dir, " to sync it: ",
                errno_text(errno));
  const int err = errno_of(::fsync(fd));
  ::close(fd);
  TRIDENT_CHECK(err == 0 || err == EINVAL, op, ": ", path, ": wrote the file but syncing directory ", dir,
                " failed: ", errno_text(err));
}

}  // namespace

int write_all(int fd, const void* data, std::size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t put = ::write(fd, p, std::min<std::size_t>(n, std::size_t{1} << 30));
    if (put < 0 && errno == EINTR) continue;
    if (put < 0) return errno;
    p += put;
    n -= static_cast<std::size_t>(put);
  }
  return 0;
}

void write_file_atomically(const std::string& path, const std::vector<ByteRange>& parts, const std::string& op) {
  const std::string tmp = temp_name(path);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  TRIDENT_CHECK(fd >= 0, op, ": ", path, ": cannot create ", tmp, ": ", errno_text(errno),
                " (does the directory exist and is it writable?)");
  // From here on every failure closes and removes the temp file, so no partial file is left.
  auto fail = [&](const std::string& what, int err) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    TRIDENT_FAIL(op, ": ", path, ": ", what, ": ", errno_text(err));
  };
  int err = 0;
  for (std::size_t i = 0; err == 0 && i < parts.size(); ++i)
    if (parts[i].size > 0) err = write_all(fd, parts[i].data, parts[i].size);
  if (err != 0) fail("cannot write " + tmp, err);
  // Unbuffered write() leaves nothing to flush; fsync puts the data on disk before the rename
  // publishes it.
  if ((err = errno_of(::fsync(fd))) != 0) fail("cannot sync " + tmp, err);
  err = errno_of(::close(fd));
  fd = -1;
  if (err != 0) fail("cannot close " + tmp, err);
  if ((err = errno_of(::rename(tmp.c_str(), path.c_str()))) != 0) fail("cannot rename " + tmp + " into place", err);
  fsync_parent_dir(path, op);
}

}  // namespace trident
