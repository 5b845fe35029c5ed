#include "core/rng.h"

#include <cmath>
#include <numbers>

namespace trident {

namespace {
std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// 53-bit uniform in [0, 1) from two 32-bit words.
double to_unit(std::uint32_t hi, std::uint32_t lo) {
  const std::uint64_t bits = (static_cast<std::uint64_t>(hi) << 21) ^ (lo >> 11);
  return static_cast<double>(bits & ((1ull << 53) - 1)) * 0x1.0p-53;
}
}  // namespace

std::uint64_t rng_key(std::uint64_t seed, std::string_view stream) {
  std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a offset basis
  for (unsigned char c : stream) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return splitmix64(splitmix64(seed) ^ h);
}

double rng_uniform(std::uint64_t key, std::uint64_t index) {
  const Philox4x32 b = rng_block(key, index);
  return to_unit(b.v[0], b.v[1]);
}

double rng_normal(std::uint64_t key, std::uint64_t index) {
  const Philox4x32 b = rng_block(key, index);
  const double u1 = 1.0 - to_unit(b.v[0], b.v[1]);  // (0, 1]: log is finite
  const double u2 = to_unit(b.v[2], b.v[3]);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

}  // namespace trident
