// Reading and writing llm.c token files (format in token_file.h).
#include "experiments/data/token_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "core/atomic_file.h"

namespace trident {

// The format is little-endian; header and tokens go to and from disk as raw memory.
static_assert(std::endian::native == std::endian::little, "token file I/O assumes a little-endian host");

namespace {

constexpr std::int32_t kLlama3Magic = 20240801;  // llm.c's uint32-token files (LLaMA-3 tokenizer)
constexpr const char* kFix = "re-create it with `trident data` (or llm.c's dev/data scripts)";

// Reads exactly n bytes at `offset`, retrying short reads and EINTR; returns 0, the errno, or -1 at
// an unexpected end of file.
int read_all(int fd, void* data, std::size_t n, off_t offset) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    const ssize_t got = ::pread(fd, p, std::min<std::size_t>(n, std::size_t{1} << 30), offset);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return errno;
    if (got == 0) return -1;
    p += got;
    offset += got;
    n -= static_cast<std::size_t>(got);
  }
  return 0;
}

// Closes the descriptor however the constructor leaves.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

void write_token_file(const std::string& path, const std::vector<std::uint16_t>& tokens) {
  TRIDENT_CHECK(tokens.size() <= static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()),
                "write_token_file: ", path, ": ", tokens.size(), " tokens do not fit the llm.c header's int32 count ",
                "(at most 2^31 - 1); split the data over several files");
  std::array<std::int32_t, kTokenFileHeaderInts> header{};
  header[0] = kTokenFileMagic;
  header[1] = kTokenFileVersion;
  header[2] = static_cast<std::int32_t>(tokens.size());
  write_file_atomically(path, {{header.data(), kTokenFileHeaderBytes}, {tokens.data(), tokens.size() * 2}},
                        "write_token_file");
}

TokenFile::TokenFile(const std::string& path) : path_(path) {
  const Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  TRIDENT_CHECK(f.fd >= 0, "token file ", path, ": cannot open: ", errno_text(errno),
                " (pass an existing llm.c .bin file, or make one with `trident data`)");
  struct stat st {};
  TRIDENT_CHECK(::fstat(f.fd, &st) == 0, "token file ", path, ": cannot stat: ", errno_text(errno));
  TRIDENT_CHECK(S_ISREG(st.st_mode), "token file ", path, ": not a regular file; pass an llm.c .bin token file");
  const auto file_bytes = static_cast<std::uint64_t>(st.st_size);
  TRIDENT_CHECK(file_bytes >= kTokenFileHeaderBytes, "token file ", path, ": too short: ", file_bytes,
                " bytes, but an llm.c token file starts with a ", kTokenFileHeaderBytes,
                "-byte header (256 int32); the file is truncated or not a token file; ", kFix);

  std::array<std::int32_t, kTokenFileHeaderInts> header{};
  int err = read_all(f.fd, header.data(), kTokenFileHeaderBytes, 0);
  TRIDENT_CHECK(err == 0, "token file ", path, ": cannot read the header: ",
                err < 0 ? std::string("unexpected end of file") : errno_text(err));
  TRIDENT_CHECK(header[0] != kLlama3Magic, "token file ", path, ": magic ", kLlama3Magic,
                " is llm.c's LLaMA-3 format (uint32 tokens), which trident does not read; expected magic ",
                kTokenFileMagic, " (GPT-2 style, uint16 tokens); ", kFix);
  TRIDENT_CHECK(header[0] == kTokenFileMagic, "token file ", path, ": bad magic: header[0] is ", header[0],
                ", expected ", kTokenFileMagic, " (llm.c token file); the file is not a token file or is corrupt; ",
                kFix);
  TRIDENT_CHECK(header[1] == kTokenFileVersion, "token file ", path, ": unsupported version: header[1] is ",
                header[1], ", expected ", kTokenFileVersion, " (uint16 tokens); ", kFix);
  TRIDENT_CHECK(header[2] >= 0, "token file ", path, ": corrupt header: token count header[2] is ", header[2],
                ", expected a count >= 0; ", kFix);

  const auto count = static_cast<std::uint64_t>(header[2]);
  const std::uint64_t expected = kTokenFileHeaderBytes + 2 * count;
  TRIDENT_CHECK(file_bytes == expected, "token file ", path, ": ", file_bytes < expected ? "truncated" : "oversized",
                ": the header says ", count, " tokens, so the file should be ", expected,
                " bytes (1024-byte header + 2 bytes per token), but it is ", file_bytes, " bytes; ", kFix);

  auto tokens = std::make_shared<std::vector<std::uint16_t>>(count);
  err = read_all(f.fd, tokens->data(), count * 2, static_cast<off_t>(kTokenFileHeaderBytes));
  TRIDENT_CHECK(err == 0, "token file ", path, ": cannot read the ", count, " tokens: ",
                err < 0 ? std::string("unexpected end of file (did it shrink while being read?)") : errno_text(err));
  if (!tokens->empty()) max_token_ = *std::max_element(tokens->begin(), tokens->end());
  tokens_ = std::move(tokens);
}

}  // namespace trident
