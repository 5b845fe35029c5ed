// Writing a file so that a reader sees either no file / the old file or the complete new one, never
// a part of it, even across a crash: a temp file beside it, fsync, rename over the target, fsync of
// the directory (the same protocol as core/safetensors.cpp).
#pragma once

#include <cstddef>
#include <string>
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
// `op` names the caller in errors. Throws trident::Error with the errno text; no temp file is left.
void write_file_atomically(const std::string& path, const std::vector<ByteRange>& parts, const std::string& op);

}  // namespace trident
