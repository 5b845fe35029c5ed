// Writing a file so that a reader sees either no file / the old file or the complete new one, never
// a part of it, even across a crash: a temp file beside it, fsync, rename over the target, fsync of
// the directory. The one implementation of that protocol: safetensors, Chrome traces, token files,
// run outputs (write_json_atomic) and saved schedules all write through it. Also the small POSIX
// helpers that other file code shares (errno text, a write that finishes short writes).
#pragma once

#include <cstddef>
#include <string>
#include <system_error>
#include <vector>

namespace trident {

// One piece of the file's contents (not owned).
struct ByteRange {
  const void* data = nullptr;
  std::size_t size = 0;
};

// Writes the concatenation of `parts` to `path`. The temp name carries the host name and pid, so
// ranks that write the same file at once (e.g. every rank building the default corpus on a shared
// file system) never share a temp file; the last rename wins and all of them wrote the same bytes.
// `op` names the caller in errors, which read "<op>: <path>: <what failed>: <errno text>". Throws
// trident::Error; no temp file is left.
void write_file_atomically(const std::string& path, const std::vector<ByteRange>& parts, const std::string& op);

// The message of an errno value ("No such file or directory").
inline std::string errno_text(int err) { return std::generic_category().message(err); }

// Writes all n bytes to `fd`, retrying short writes and EINTR; returns 0 or the errno.
int write_all(int fd, const void* data, std::size_t n);

}  // namespace trident
