// Hugging Face safetensors files: the format only, knowing nothing of models or parallelism.
//
// Layout: an 8-byte little-endian u64 N, N bytes of UTF-8 JSON (padded with spaces so the data
// starts 8-byte aligned), then the data buffer. The JSON maps each tensor name to
// {"dtype": "F32"|"BF16"|"I32", "shape": [...], "data_offsets": [begin, end]} with offsets relative
// to the buffer, plus an optional "__metadata__": {string: string}. Files written here hold the
// tensors contiguously in name order, so equal inputs give byte-identical files.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "core/shape.h"
#include "core/tensor.h"

namespace trident {

// Writes host tensors (f32, bf16, i32) atomically (write_file_atomically in core/atomic_file.h): to
// `path + ".tmp.<host>.<pid>"`, fsync, rename over `path`, fsync the directory, so a crash leaves
// either the old file or the whole new one. Throws
// trident::Error naming the path (and the errno text) on failure, after removing the temp file.
// Names must be unique and not "__metadata__".
void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// A safetensors file opened for reading. The constructor reads and validates the whole header
// (each problem is a trident::Error naming the file); tensors are then read on demand. The file
// stays open, so a concurrent atomic replace of `path` does not mix two files' headers and data.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);

  const std::string& path() const { return path_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  std::vector<std::string> names() const;  // sorted
  bool contains(const std::string& name) const { return entries_.count(name) != 0; }
  Shape shape(const std::string& name) const { return entry(name).shape; }
  DType dtype(const std::string& name) const { return entry(name).dtype; }

  Tensor read(const std::string& name) const;  // a new host tensor
  // Reads into dst, whose shape and dtype must match the file's; dst may live on any device
  // (non-host tensors are staged through host memory).
  void read_into(const std::string& name, const Tensor& dst) const;

 private:
  struct Entry {
    DType dtype;
    Shape shape;
    std::uint64_t begin, end;  // byte range within the data buffer
  };
  struct File;  // the open descriptor, shared by copies

  const Entry& entry(const std::string& name) const;

  std::string path_;
  std::shared_ptr<const File> file_;
  std::uint64_t data_start_ = 0;  // 8 + header length
  std::map<std::string, Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace trident
