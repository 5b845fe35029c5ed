// Chrome trace output. POSIX I/O rather than streams for the same reason as safetensors.cpp: the
// errors need errno text and the atomic write needs fsync before the rename publishes the file.
#include "core/trace.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <filesystem>
#include <system_error>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace trident {

namespace {

using json = nlohmann::json;

std::string errno_text(int err) { return std::generic_category().message(err); }
// errno of a failed POSIX call (rc != 0), read before anything else can change it; 0 on success.
int errno_of(int rc) { return rc == 0 ? 0 : errno; }

json metadata_event(const char* what, int pid, int tid, const std::string& name) {
  return {{"name", what}, {"ph", "M"}, {"pid", pid}, {"tid", tid}, {"args", {{"name", name}}}};
}

// Returns 0 or the errno of the failed write.
int write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t done = ::write(fd, p, n);
    if (done < 0 && errno == EINTR) continue;
    if (done < 0) return errno;
    p += done;
    n -= static_cast<std::size_t>(done);
  }
  return 0;
}

}  // namespace

std::string chrome_trace_json(const std::vector<TraceEvent>& events, const TraceNames& names) {
  json list = json::array();
  // Metadata first: viewers apply names whenever they come, but a reader of the file sees them up front.
  for (const auto& [pid, name] : names.processes) list.push_back(metadata_event("process_name", pid, 0, name));
  for (const auto& [ids, name] : names.threads)
    list.push_back(metadata_event("thread_name", ids.first, ids.second, name));
  for (const TraceEvent& e : events) {
    // json would write NaN as null, which viewers reject with no hint of which event was at fault.
    TRIDENT_CHECK(std::isfinite(e.ts_us) && std::isfinite(e.dur_us) && e.dur_us >= 0.0, "trace event '", e.name,
                  "' (pid ", e.pid, ", tid ", e.tid, ") has ts ", e.ts_us, " us and duration ", e.dur_us,
                  " us; both must be finite and the duration non-negative");
    json ev = {{"name", e.name}, {"cat", e.cat}, {"ph", "X"},        {"pid", e.pid},
               {"tid", e.tid},   {"ts", e.ts_us}, {"dur", e.dur_us}};
    if (!e.args.empty()) ev["args"] = e.args;
    list.push_back(std::move(ev));
  }
  const json doc = {{"traceEvents", std::move(list)}, {"displayTimeUnit", "ms"}};
  try {
    return doc.dump();
  } catch (const json::exception& e) {  // a name or argument that is not valid UTF-8
    TRIDENT_FAIL("chrome trace: cannot encode the events: ", e.what());
  }
}

void write_chrome_trace(const std::string& path, const std::vector<TraceEvent>& events, const TraceNames& names) {
  const char* op = "write_chrome_trace";
  std::string text;
  try {
    text = chrome_trace_json(events, names);
  } catch (const Error& e) {
    TRIDENT_FAIL(op, ": ", path, ": ", e.what());
  }
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  TRIDENT_CHECK(fd >= 0, op, ": ", path, ": cannot create ", tmp, ": ", errno_text(errno));
  // Every failure from here closes and removes the temporary file, so no partial trace is left.
  auto fail = [&](const std::string& what, int err) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    TRIDENT_FAIL(op, ": ", path, ": ", what, ": ", errno_text(err));
  };
  int err = write_all(fd, text.data(), text.size());
  if (err != 0) fail("cannot write " + tmp, err);
  if ((err = errno_of(::fsync(fd))) != 0) fail("cannot sync " + tmp, err);
  err = errno_of(::close(fd));
  fd = -1;
  if (err != 0) fail("cannot close " + tmp, err);
  if ((err = errno_of(::rename(tmp.c_str(), path.c_str()))) != 0) fail("cannot rename " + tmp + " into place", err);
  // Syncing the directory makes the rename durable; EINVAL means the file system cannot, which
  // leaves nothing to do.
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  TRIDENT_CHECK(dfd >= 0, op, ": ", path, ": wrote the file but cannot open its directory ", dir, " to sync it: ",
                errno_text(errno));
  err = errno_of(::fsync(dfd));
  ::close(dfd);
  TRIDENT_CHECK(err == 0 || err == EINVAL, op, ": ", path, ": wrote the file but syncing directory ", dir,
                " failed: ", errno_text(err));
}

}  // namespace trident
