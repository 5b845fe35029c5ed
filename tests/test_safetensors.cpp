// Safetensors I/O: round trips, the exact bytes on disk (so other safetensors readers accept our
// files and we accept theirs), each kind of corrupt file giving an error that names the file and
// the problem, and the atomic-write guarantees.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/safetensors.h"
#include "tests/temp_dir_test.h"
#include "core/tensor.h"

namespace trident {
namespace {

namespace fs = std::filesystem;

// Each test gets a fresh directory of its own (tests/temp_dir_test.h).
using Safetensors = testing_util::TempDirTest;

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A file as the format defines it: u64 little-endian header length, the header padded with spaces
// to a multiple of 8, then the data.
std::string file_bytes(std::string header, const std::string& data) {
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return out + header + data;
}

Tensor f32_tensor(const Shape& shape, float start) {
  Tensor t = Tensor::empty(shape);
  for (std::int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = start + 0.5f * static_cast<float>(i);
  return t;
}

Tensor bf16_tensor(const Shape& shape) {
  Tensor t = Tensor::empty(shape, DType::kBF16);
  for (std::int64_t i = 0; i < t.numel(); ++i) t.data<bf16>()[i] = to_bf16(0.25f * static_cast<float>(i) - 3.0f);
  return t;
}

Tensor i32_tensor(const Shape& shape) {
  Tensor t = Tensor::empty(shape, DType::kI32);
  for (std::int64_t i = 0; i < t.numel(); ++i) t.data<std::int32_t>()[i] = static_cast<std::int32_t>(7 * i - 100);
  return t;
}

void expect_same(const Tensor& got, const Tensor& want, const std::string& name) {
  ASSERT_EQ(got.dtype(), want.dtype()) << name;
  ASSERT_EQ(got.shape(), want.shape()) << name << ": " << got.shape().str() << " vs " << want.shape().str();
  EXPECT_TRUE(got.device().is_cpu()) << name;
  EXPECT_EQ(std::memcmp(got.raw(), want.raw(), want.nbytes()), 0) << name;
}

// The message of the trident::Error that f throws ("" and a failure if it throws none).
template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a trident::Error";
  return "";
}

#define EXPECT_CONTAINS(text, needle) \
  EXPECT_NE(std::string(text).find(needle), std::string::npos) << "'" << (text) << "' lacks '" << (needle) << "'"

TEST_F(Safetensors, RoundTripsDtypesShapesAndMetadata) {
  const std::vector<std::pair<std::string, Tensor>> tensors = {
      {"w.f32", f32_tensor({3, 4}, -2.0f)},   {"scalar", f32_tensor({}, 42.0f)},
      {"empty", f32_tensor({0, 5}, 0.0f)},    {"h.bf16", bf16_tensor({2, 3, 2})},
      {"ids", i32_tensor({7})},               {"deep", f32_tensor({1, 2, 1, 2, 1, 2}, 1.0f)},
      {"empty_i32", i32_tensor({0})},         {"odd_bf16", bf16_tensor({3})},  // 6 bytes: later data unaligned
  };
  const std::map<std::string, std::string> meta = {{"format", "pt"}, {"step", "1200"}, {"note", "ünï \"q\" {}"}};
  const std::string path = file("model.safetensors");
  write_safetensors(path, tensors, meta);

  const SafetensorsFile f(path);
  EXPECT_EQ(f.path(), path);
  EXPECT_EQ(f.metadata(), meta);
  EXPECT_EQ(f.names(), (std::vector<std::string>{"deep", "empty", "empty_i32", "h.bf16", "ids", "odd_bf16", "scalar",
                                                 "w.f32"}));
  EXPECT_FALSE(f.contains("nope"));
  for (const auto& [name, want] : tensors) {
    SCOPED_TRACE(name);
    EXPECT_TRUE(f.contains(name));
    EXPECT_EQ(f.shape(name), want.shape());
    EXPECT_EQ(f.dtype(name), want.dtype());
    expect_same(f.read(name), want, name);
    Tensor into = Tensor::empty(want.shape(), want.dtype());
    f.read_into(name, into);
    expect_same(into, want, name);
  }
  // Copies share the open file.
  const SafetensorsFile copy = f;
  expect_same(copy.read("ids"), tensors[4].second, "ids via a copy");
}

TEST_F(Safetensors, WritesNoMetadataKeyWhenThereIsNone) {
  const std::string path = file("plain.safetensors");
  write_safetensors(path, {{"x", f32_tensor({1}, 1.0f)}});
  EXPECT_EQ(read_bytes(path).find("__metadata__"), std::string::npos);
  EXPECT_TRUE(SafetensorsFile(path).metadata().empty());
  write_safetensors(file("none.safetensors"), {});  // no tensors at all is a valid file too
  EXPECT_TRUE(SafetensorsFile(file("none.safetensors")).names().empty());
}

// The exact bytes: header length, JSON (sorted keys, compact), space padding to 8, data in name
// order at the offsets the header gives.
TEST_F(Safetensors, WritesTheReferenceByteLayout) {
  Tensor a = Tensor::empty({2});
  a.data<float>()[0] = 1.0f;
  a.data<float>()[1] = -2.0f;
  Tensor b = Tensor::empty({1, 2}, DType::kI32);
  b.data<std::int32_t>()[0] = 7;
  b.data<std::int32_t>()[1] = -1;
  const std::string path = file("layout.safetensors");
  write_safetensors(path, {{"b", b}, {"a", a}}, {{"format", "pt"}});

  const std::string bytes = read_bytes(path);
  ASSERT_GE(bytes.size(), 8u);
  std::uint64_t n = 0;
  for (std::size_t i = 0; i < 8; ++i) n |= std::uint64_t{static_cast<unsigned char>(bytes[i])} << (8 * i);
  const std::string json =
      R"({"__metadata__":{"format":"pt"},"a":{"data_offsets":[0,8],"dtype":"F32","shape":[2]},)"
      R"("b":{"data_offsets":[8,16],"dtype":"I32","shape":[1,2]}})";
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(n, (json.size() + 7) / 8 * 8);
  ASSERT_EQ(bytes.size(), 8 + n + 16);
  EXPECT_EQ(bytes.substr(8, json.size()), json);
  EXPECT_EQ(bytes.substr(8 + json.size(), n - json.size()), std::string(n - json.size(), ' '));
  const std::string data = bytes.substr(8 + n);
  EXPECT_EQ(data.substr(0, 8), std::string("\x00\x00\x80\x3f\x00\x00\x00\xc0", 8));  // 1.0f, -2.0f
  EXPECT_EQ(data.substr(8), std::string("\x07\x00\x00\x00\xff\xff\xff\xff", 8));      // 7, -1
}

// A file as the Python/Rust reference writes it: __metadata__ first, keys in dtype, shape,
// data_offsets order, and a BF16 tensor.
TEST_F(Safetensors, ReadsTheReferenceKeyOrder) {
  const std::string path = file("reference.safetensors");
  write_bytes(path, file_bytes(R"({"__metadata__":{"format":"pt"},"x":{"dtype":"BF16","shape":[2,2],)"
                               R"("data_offsets":[0,8]},"s":{"dtype":"I32","shape":[],"data_offsets":[8,12]}})",
                               std::string("\x80\x3f\x00\x40\x40\x40\x80\xbf\x05\x00\x00\x00", 12)));
  const SafetensorsFile f(path);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  const Tensor x = f.read("x");
  ASSERT_EQ(x.shape(), (Shape{2, 2}));
  EXPECT_EQ(from_bf16(x.data<bf16>()[0]), 1.0f);
  EXPECT_EQ(from_bf16(x.data<bf16>()[1]), 2.0f);
  EXPECT_EQ(from_bf16(x.data<bf16>()[2]), 3.0f);
  EXPECT_EQ(from_bf16(x.data<bf16>()[3]), -1.0f);
  const Tensor s = f.read("s");
  EXPECT_EQ(s.ndim(), 0);
  EXPECT_EQ(s.data<std::int32_t>()[0], 5);
}

// Each corruption is reported on open with the file's name and what is wrong with it.
TEST_F(Safetensors, RejectsCorruptFilesNamingTheProblem) {
  const std::string good = file("good.safetensors");
  write_safetensors(good, {{"a", f32_tensor({2}, 1.0f)}, {"b", i32_tensor({2})}});
  const std::string bytes = read_bytes(good);
  const std::string bad = file("bad.safetensors");
  auto open_error = [&](const std::string& contents) {
    write_bytes(bad, contents);
    const std::string msg = error_of([&] { SafetensorsFile f(bad); });
    EXPECT_CONTAINS(msg, bad);
    return msg;
  };
  const std::string f32x2 = R"("dtype":"F32","shape":[2])";

  EXPECT_CONTAINS(open_error("abc"), "truncated: the file has 3 bytes, fewer than the 8-byte header length");
  std::string longer = bytes;
  longer[1] = '\x10';  // header length + 4096
  EXPECT_CONTAINS(open_error(longer), "truncated: the header length says");
  EXPECT_CONTAINS(open_error(bytes.substr(0, bytes.size() - 4)),
                  "truncated: header says 16 bytes of data but the file has 12 (tensor 'b'");
  EXPECT_CONTAINS(open_error(file_bytes("{not json", "")), "the header is not valid JSON");
  EXPECT_CONTAINS(open_error(file_bytes("[1, 2]", "")), "the header is a JSON array, not an object");
  EXPECT_CONTAINS(open_error(file_bytes(R"({"a":3})", "")), "tensor 'a' is a JSON number");
  EXPECT_CONTAINS(open_error(file_bytes(R"({"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})", "1234")),
                  "tensor 'a' has dtype \"F16\", which trident does not read");
  EXPECT_CONTAINS(open_error(file_bytes(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", "12345678")),
                  "tensor 'a' has data_offsets [0,8] but F32 [3] takes 12 bytes");
  EXPECT_CONTAINS(open_error(file_bytes(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", "12345678")),
                  "extents must be non-negative integers");
  EXPECT_CONTAINS(open_error(file_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8]}})", "12345678")),
                  "needs \"data_offsets\" as [begin, end]");
  EXPECT_CONTAINS(open_error(file_bytes(R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", "12345678")),
                  "tensor 'a' needs \"shape\"");
  EXPECT_CONTAINS(open_error(file_bytes(R"({"a":{)" + f32x2 + R"(,"data_offsets":[0,8]},"b":{)" + f32x2 +
                                            R"(,"data_offsets":[4,12]}})",
                                        "123456789abc")),
                  "tensors 'a' [0, 8) and 'b' [4, 12) overlap");
  EXPECT_CONTAINS(open_error(file_bytes(R"({"__metadata__":{"step":12}})", "")),
                  "metadata 'step' is a JSON number; safetensors metadata values are strings");
  EXPECT_CONTAINS(error_of([&] { SafetensorsFile f(file("missing.safetensors")); }), "No such file or directory");

  // Problems found on use of a good file.
  const SafetensorsFile f(good);
  const std::string missing = error_of([&] { f.read("c"); });
  EXPECT_CONTAINS(missing, good + ": no tensor 'c' (the file holds 2: a, b)");
  EXPECT_CONTAINS(error_of([&] { f.shape("c"); }), "no tensor 'c'");
  EXPECT_CONTAINS(error_of([&] { f.read_into("a", Tensor::empty({3})); }),
                  "tensor 'a' is f32 [2] but the destination is f32 [3]");
  EXPECT_CONTAINS(error_of([&] { f.read_into("a", Tensor::empty({2}, DType::kBF16)); }),
                  "tensor 'a' is f32 [2] but the destination is bf16 [2]");
}

TEST_F(Safetensors, EmptyTensorsMayShareAnOffset) {
  const std::string path = file("empties.safetensors");
  write_bytes(path, file_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                               R"("e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}})",
                               "12345678"));
  EXPECT_EQ(SafetensorsFile(path).read("e").numel(), 0);
}

TEST_F(Safetensors, AtomicWriteReplacesTheWholeFileAndLeavesNoTempFile) {
  const std::string path = file("ckpt.safetensors");
  write_safetensors(path, {{"big", f32_tensor({1000}, 0.0f)}, {"other", i32_tensor({10})}}, {{"step", "1"}});
  const Tensor small = f32_tensor({2}, 5.0f);
  write_safetensors(path, {{"big", small}}, {{"step", "2"}});
  EXPECT_EQ(listing(), std::vector<std::string>{"ckpt.safetensors"});
  const SafetensorsFile f(path);
  EXPECT_EQ(f.names(), std::vector<std::string>{"big"});
  EXPECT_EQ(f.metadata().at("step"), "2");
  expect_same(f.read("big"), small, "big");
  EXPECT_EQ(fs::file_size(path), read_bytes(path).size());
  EXPECT_LT(fs::file_size(path), 1000u);
}

TEST_F(Safetensors, WriteErrorsNameThePathAndLeaveNothingBehind) {
  const std::string nowhere = file("no/such/dir/x.safetensors");
  const std::string msg = error_of([&] { write_safetensors(nowhere, {{"a", f32_tensor({2}, 0.0f)}}); });
  EXPECT_CONTAINS(msg, nowhere);
  EXPECT_CONTAINS(msg, "No such file or directory");

  // Renaming onto a non-empty directory fails after the data is written: the temp file must go.
  const std::string occupied = file("occupied");
  fs::create_directories(fs::path(occupied) / "inside");
  const std::string rename_msg = error_of([&] { write_safetensors(occupied, {{"a", f32_tensor({2}, 0.0f)}}); });
  EXPECT_CONTAINS(rename_msg, "cannot rename " + occupied + ".tmp.");
  EXPECT_CONTAINS(rename_msg, occupied);
  EXPECT_EQ(listing(), std::vector<std::string>{"occupied"});

  const std::string path = file("dup.safetensors");
  EXPECT_CONTAINS(error_of([&] { write_safetensors(path, {{"a", f32_tensor({1}, 0.0f)}, {"a", i32_tensor({1})}}); }),
                  "duplicate tensor name 'a'");
  EXPECT_CONTAINS(error_of([&] { write_safetensors(path, {{"__metadata__", f32_tensor({1}, 0.0f)}}); }),
                  "is reserved for the metadata");
  EXPECT_CONTAINS(error_of([&] { write_safetensors(path, {{"u", Tensor()}}); }), "tensor 'u' is undefined");
  EXPECT_EQ(listing(), std::vector<std::string>{"occupied"});
}

}  // namespace
}  // namespace trident
