// Safetensors reading and writing (format in core/safetensors.h). Writes go through
// write_file_atomically; reads use POSIX pread on one open descriptor (errors need errno text, and
// SafetensorsFile stays const and copyable).
#include "core/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <limits>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"

namespace trident {

// Safetensors data is little-endian; tensors go to and from disk as raw memory.
static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

namespace {

using json = nlohmann::json;

// The reference implementation's cap; it also bounds what a corrupt length makes us allocate.
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;
constexpr const char* kMetadataKey = "__metadata__";
constexpr auto kMaxExtent = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());

const char* file_dtype_name(DType t) {
  switch (t) {
    case DType::kF32: return "F32";
    case DType::kBF16: return "BF16";
    case DType::kI32: return "I32";
    case DType::kF64: return "F64";
  }
  return "?";
}

bool parse_file_dtype(const std::string& s, DType& out) {
  if (s == "F32") out = DType::kF32;
  else if (s == "BF16") out = DType::kBF16;
  else if (s == "I32") out = DType::kI32;
  else if (s == "F64") out = DType::kF64;
  else return false;
  return true;
}

std::string shape_of(const json& v) { return v.is_array() ? v.dump() : std::string(v.type_name()); }

}  // namespace

void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  const char* op = "write_safetensors";
  // Name order fixes both the header (json objects are sorted maps) and the data layout, so the
  // bytes do not depend on the caller's order.
  std::vector<const std::pair<std::string, Tensor>*> order;
  for (const auto& nt : tensors) {
    const Tensor& t = nt.second;
    TRIDENT_CHECK(nt.first != kMetadataKey, op, ": ", path, ": the tensor name \"", kMetadataKey,
                  "\" is reserved for the metadata");
    TRIDENT_CHECK(t.defined(), op, ": ", path, ": tensor '", nt.first, "' is undefined");
    TRIDENT_CHECK(t.device().is_cpu(), op, ": ", path, ": tensor '", nt.first, "' is on ", t.device().str(),
                  "; only host tensors are written (copy it with .to(Device::cpu()) first)");
    order.push_back(&nt);
  }
  std::sort(order.begin(), order.end(), [](const auto* a, const auto* b) { return a->first < b->first; });
  for (std::size_t i = 1; i < order.size(); ++i)
    TRIDENT_CHECK(order[i - 1]->first != order[i]->first, op, ": ", path, ": duplicate tensor name '",
                  order[i]->first, "'");

  json header = json::object();
  if (!metadata.empty()) header[kMetadataKey] = metadata;
  std::uint64_t offset = 0;
  for (const auto* nt : order) {
    const Tensor& t = nt->second;
    const std::vector<std::int64_t> dims(t.shape().begin(), t.shape().end());
    header[nt->first] = {{"dtype", file_dtype_name(t.dtype())},
                         {"shape", dims},
                         {"data_offsets", {offset, offset + t.nbytes()}}};
    offset += t.nbytes();
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const json::exception& e) {  // e.g. a name or metadata value that is not valid UTF-8
    TRIDENT_FAIL(op, ": ", path, ": cannot encode the header: ", e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // the data starts 8-byte aligned, as the reference pads
  unsigned char length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<unsigned char>(std::uint64_t{text.size()} >> (8 * i));

  std::vector<ByteRange> parts = {{length, sizeof length}, {text.data(), text.size()}};
  for (const auto* nt : order) parts.push_back({nt->second.raw(), nt->second.nbytes()});
  write_file_atomically(path, parts, op);
}

// ---- reading ------------------------------------------------------------------------------------

struct SafetensorsFile::File {
  int fd = -1;
  ~File() {
    if (fd >= 0) ::close(fd);
  }
};

namespace {

// Reads exactly n bytes at `offset`; a short read means the file shrank after it was opened.
void read_exact(int fd, const std::string& path, void* dst, std::uint64_t n, std::uint64_t offset) {
  char* p = static_cast<char*>(dst);
  while (n > 0) {
    const ssize_t got = ::pread(fd, p, std::min<std::uint64_t>(n, std::uint64_t{1} << 30), static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    TRIDENT_CHECK(got >= 0, path, ": read failed at byte ", offset, ": ", errno_text(errno));
    TRIDENT_CHECK(got > 0, path, ": truncated: the file ends at byte ", offset, " while ", n, " more were expected");
    p += got;
    n -= static_cast<std::uint64_t>(got);
    offset += static_cast<std::uint64_t>(got);
  }
}

}  // namespace

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  auto file = std::make_shared<File>();
  file->fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  TRIDENT_CHECK(file->fd >= 0, path, ": cannot open: ", errno_text(errno));
  file_ = file;
  struct stat st {};
  TRIDENT_CHECK(::fstat(file->fd, &st) == 0, path, ": cannot stat: ", errno_text(errno));
  TRIDENT_CHECK(S_ISREG(st.st_mode), path, ": not a regular file");
  const auto size = static_cast<std::uint64_t>(st.st_size);

  TRIDENT_CHECK(size >= 8, path, ": truncated: the file has ", size, " bytes, fewer than the 8-byte header length");
  unsigned char length[8];
  read_exact(file->fd, path, length, 8, 0);
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= std::uint64_t{length[i]} << (8 * i);
  TRIDENT_CHECK(n <= size - 8, path, ": truncated: the header length says ", n, " bytes of JSON but only ", size - 8,
                " bytes follow it");
  TRIDENT_CHECK(n <= kMaxHeaderBytes, path, ": header length ", n, " exceeds the format's limit of ",
                kMaxHeaderBytes, " bytes");
  std::string text(n, '\0');
  read_exact(file->fd, path, text.data(), n, 8);
  json header;
  try {
    header = json::parse(text);
  } catch (const json::parse_error& e) {
    TRIDENT_FAIL(path, ": the header is not valid JSON: ", e.what());
  }
  TRIDENT_CHECK(header.is_object(), path, ": the header is a JSON ", header.type_name(), ", not an object");
  data_start_ = 8 + n;
  const std::uint64_t data_size = size - data_start_;

  for (const auto& [name, v] : header.items()) {
    if (name == kMetadataKey) {
      TRIDENT_CHECK(v.is_object(), path, ": \"", kMetadataKey, "\" is a JSON ", v.type_name(), ", not an object");
      for (const auto& [key, value] : v.items()) {
        TRIDENT_CHECK(value.is_string(), path, ": metadata '", key, "' is a JSON ", value.type_name(),
                      "; safetensors metadata values are strings");
        metadata_[key] = value.get<std::string>();
      }
      continue;
    }
    TRIDENT_CHECK(v.is_object(), path, ": tensor '", name, "' is a JSON ", v.type_name(),
                  ", not an object with dtype, shape and data_offsets");
    const auto dt = v.find("dtype"), sh = v.find("shape"), off = v.find("data_offsets");
    TRIDENT_CHECK(dt != v.end() && dt->is_string(), path, ": tensor '", name, "' has no string \"dtype\"");
    Entry e{};
    TRIDENT_CHECK(parse_file_dtype(dt->get<std::string>(), e.dtype), path, ": tensor '", name, "' has dtype ",
                  dt->dump(), ", which trident does not read (F32, BF16 or I32)");
    TRIDENT_CHECK(sh != v.end() && sh->is_array() && sh->size() <= Shape::kMaxDims, path, ": tensor '", name,
                  "' needs \"shape\" as an array of at most ", Shape::kMaxDims, " extents, got ",
                  sh == v.end() ? std::string("none") : shape_of(*sh));
    std::uint64_t bytes = dtype_size(e.dtype);
    bool fits = true;
    for (const json& d : *sh) {
      TRIDENT_CHECK(d.is_number_unsigned() && d.get<std::uint64_t>() <= kMaxExtent,
                    path, ": tensor '", name, "' has shape ", sh->dump(),
                    ", whose extents must be non-negative integers");
      e.shape.push_back(d.get<std::int64_t>());
      fits = fits && !__builtin_mul_overflow(bytes, d.get<std::uint64_t>(), &bytes);
    }
    TRIDENT_CHECK(fits, path, ": tensor '", name, "' has shape ", sh->dump(), ", too large to address");
    TRIDENT_CHECK(off != v.end() && off->is_array() && off->size() == 2 && (*off)[0].is_number_unsigned() &&
                      (*off)[1].is_number_unsigned(),
                  path, ": tensor '", name, "' needs \"data_offsets\" as [begin, end], got ",
                  off == v.end() ? std::string("none") : off->dump());
    e.begin = (*off)[0].get<std::uint64_t>();
    e.end = (*off)[1].get<std::uint64_t>();
    TRIDENT_CHECK(e.begin <= e.end && e.end - e.begin == bytes, path, ": tensor '", name, "' has data_offsets ",
                  off->dump(), " but ", dt->get<std::string>(), " ", e.shape.str(), " takes ", bytes, " bytes");
    TRIDENT_CHECK(e.end <= data_size, path, ": truncated: header says ", e.end, " bytes of data but the file has ",
                  data_size, " (tensor '", name, "' ends there)");
    entries_.emplace(name, e);
  }

  // No two tensors may share bytes (empty tensors occupy none); gaps are tolerated.
  std::vector<std::pair<const std::string*, const Entry*>> by_offset;
  for (const auto& [name, e] : entries_)
    if (e.end > e.begin) by_offset.emplace_back(&name, &e);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const auto& a, const auto& b) { return a.second->begin < b.second->begin; });
  for (std::size_t i = 1; i < by_offset.size(); ++i) {
    const auto& [pn, pe] = by_offset[i - 1];
    const auto& [cn, ce] = by_offset[i];
    TRIDENT_CHECK(ce->begin >= pe->end, path, ": tensors '", *pn, "' [", pe->begin, ", ", pe->end, ") and '", *cn,
                  "' [", ce->begin, ", ", ce->end, ") overlap");
  }
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  for (const auto& kv : entries_) out.push_back(kv.first);
  return out;
}

const SafetensorsFile::Entry& SafetensorsFile::entry(const std::string& name) const {
  const auto it = entries_.find(name);
  if (it != entries_.end()) return it->second;
  std::string held;  // a few names, so a mistyped one is easy to spot
  int listed = 0;
  for (const auto& kv : entries_) {
    if (listed++ == 8) {
      held += ", ...";
      break;
    }
    held += (held.empty() ? "" : ", ") + kv.first;
  }
  TRIDENT_FAIL(path_, ": no tensor '", name, "' (the file holds ", entries_.size(), ": ", held, ")");
}

Tensor SafetensorsFile::read(const std::string& name) const {
  const Entry& e = entry(name);
  Tensor t = Tensor::empty(e.shape, e.dtype);
  read_exact(file_->fd, path_, t.raw(), e.end - e.begin, data_start_ + e.begin);
  return t;
}

void SafetensorsFile::read_into(const std::string& name, const Tensor& dst) const {
  const Entry& e = entry(name);
  TRIDENT_CHECK(dst.defined(), path_, ": read_into '", name, "': the destination is an undefined tensor");
  TRIDENT_CHECK(dst.dtype() == e.dtype && dst.shape() == e.shape, path_, ": tensor '", name, "' is ",
                dtype_name(e.dtype), " ", e.shape.str(), " but the destination is ", dtype_name(dst.dtype()), " ",
                dst.shape().str());
  if (dst.device().is_cpu())
    read_exact(file_->fd, path_, dst.raw(), e.end - e.begin, data_start_ + e.begin);
  else
    dst.copy_from(read(name));
}

}  // namespace trident
