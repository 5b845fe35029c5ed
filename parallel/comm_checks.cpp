#include "parallel/comm_checks.h"

#include <cstdio>
#include <iterator>
#include <string_view>

namespace trident::comm {

std::string OpDesc::str() const {
  std::string s = op;
  if (std::string_view(op) != "barrier") s += detail::concat(" of ", count, " ", dtype_name(dtype));  // no payload
  if (peer_word) s += detail::concat(" ", peer_word, " rank ", peer);
  if (tag >= 0) s += detail::concat(" (tag ", tag, ")");
  return s;
}

std::string where(const std::string& name, int rank, int size) {
  return detail::concat("communicator '", name, "' (rank ", rank, " of ", size, ")");
}

std::string format_bytes(std::size_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (value >= 1024.0 && unit + 1 < std::size(kUnits)) {
    value /= 1024.0;
    ++unit;
  }
  char text[32];
  if (unit == 0) {
    std::snprintf(text, sizeof(text), "%zu B", bytes);
  } else {
    std::snprintf(text, sizeof(text), "%.1f %s", value, kUnits[unit]);
  }
  return text;
}

std::string range_name(const std::string& group, const OpDesc& op, std::size_t bytes) {
  std::string s = detail::concat(group, " ", op.op);
  if (std::string_view(op.op) != "barrier") s += " " + format_bytes(bytes);
  if (op.peer_word) s += detail::concat(" ", op.peer_word, " ", op.peer);
  return s;
}

bool overlap(const Tensor& a, const Tensor& b) {
  const char* pa = static_cast<const char*>(a.raw());
  const char* pb = static_cast<const char*>(b.raw());
  return a.nbytes() > 0 && b.nbytes() > 0 && a.device() == b.device() && pa < pb + b.nbytes() && pb < pa + a.nbytes();
}

void check_defined(const Tensor& t, const char* what, const OpDesc& op, const std::string& where) {
  TRIDENT_CHECK(t.defined(), op.op, " on ", where, ": ", what, " is an undefined tensor");
}

bool check_all_gather(const Tensor& in, const Tensor& out, int rank, int size, const OpDesc& op,
                      const std::string& where) {
  TRIDENT_CHECK(in.dtype() == out.dtype(), op.str(), " on ", where, ": out is ", dtype_name(out.dtype()), " but in is ",
                dtype_name(in.dtype()));
  TRIDENT_CHECK(out.numel() == size * in.numel(), op.str(), " on ", where, ": out has ", out.numel(),
                " elements but needs size*in = ", size, "*", in.numel(), " = ", size * in.numel(),
                " (out's dim 0 is size x in's dim 0); in is ", in.shape().str(), ", out is ", out.shape().str());
  // `in` may be this rank's own slot of `out` (gathering in place); any other overlap is a bug.
  const bool in_place =
      in.numel() > 0 && in.device() == out.device() && in.raw() == static_cast<char*>(out.raw()) + rank * in.nbytes();
  TRIDENT_CHECK(in_place || !overlap(in, out), op.str(), " on ", where,
                ": in overlaps out other than as this rank's slot of out");
  return in_place;
}

bool check_reduce_scatter(const Tensor& in, const Tensor& out, int rank, int size, const OpDesc& op,
                          const std::string& where) {
  TRIDENT_CHECK(in.dtype() == out.dtype(), op.str(), " on ", where, ": out is ", dtype_name(out.dtype()), " but in is ",
                dtype_name(in.dtype()));
  TRIDENT_CHECK(in.numel() == size * out.numel(), op.str(), " on ", where, ": in has ", in.numel(),
                " elements but needs size*out = ", size, "*", out.numel(), " = ", size * out.numel(),
                " (in's dim 0 is size x out's dim 0); in is ", in.shape().str(), ", out is ", out.shape().str());
  // `out` may be this rank's own slot of `in` (reducing in place); any other overlap is a bug.
  const bool in_place = out.numel() > 0 && in.device() == out.device() &&
                        out.raw() == static_cast<const char*>(in.raw()) + rank * out.nbytes();
  TRIDENT_CHECK(in_place || !overlap(in, out), op.str(), " on ", where,
                ": in and out overlap other than as this rank's slot of in; use separate buffers");
  return in_place;
}

void check_root(int root, int size, const OpDesc& op, const std::string& where) {
  TRIDENT_CHECK(0 <= root && root < size, op.str(), " on ", where, ": root must be in [0, ", size, ")");
}

void check_peer(int peer, int size, const OpDesc& op, const std::string& where) {
  TRIDENT_CHECK(0 <= peer && peer < size, op.str(), " on ", where, ": the peer must be a rank in [0, ", size, ")");
}

void check_reduce_op(DType dtype, ReduceOp op, const OpDesc& desc, const std::string& where) {
  TRIDENT_CHECK(!(dtype == DType::kI32 && op == ReduceOp::kAvg), desc.str(), " on ", where,
                ": kAvg is not defined for i32 (it would truncate); use kSum and divide, or reduce f32");
}

}  // namespace trident::comm
