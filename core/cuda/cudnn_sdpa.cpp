// cuDNN fused causal attention through the backend graph API (cudnn_graph_v9.h).
//
// Which graph. cuDNN 9.19's dedicated SDPA_FWD / SDPA_BWD operation descriptors take a mask only as
// a score-modifier subgraph or diagonal-band descriptor from cuDNN 9.21 on (neither exists in
// 9.19's headers), and their BLOCK_MASK input is a block-sparsity map, not a causal mask. So both
// directions are expressed as the decomposed graph that cudnn-frontend's composite SDPA nodes lower
// `sdpa` / `sdpa_backward` to for cuDNN < 9.21 (node/scaled_dot_product_flash_attention.h, with the
// causal mask of node/diagonal_band_mask.h's composite form and the softmax of node/softmax.h):
// cuDNN's fused flash-attention engines recognise exactly that pattern and run it as one kernel
// (two to three for backward). Virtual tensors are never materialised; their dtypes follow the
// frontend (intermediates f32; P before P·V, and Pᵀ / dSᵀ before their matmuls, in the I/O dtype).
//
// Forward (S = Q·Kᵀ, scores [B, nh, S, S]):
//   S·scale → causal mask (GEN_INDEX rows/cols, CMP_GE, BINARY_SELECT −inf) → max → sub → exp →
//   sum → stats = max + log(sum) → P = exp / sum (bf16) → O = P·V
// Backward:
//   softmax_sum = rowsum(dO ∘ O)                                   (f32 [B, nh, S, 1], workspace)
//   P = exp(mask(S·scale − stats)),  dV = Pᵀ·dO
//   dS = P ∘ (dO·Vᵀ − softmax_sum) · scale,  dK = dSᵀ·Q,  dQ = dS·K  (dQ accumulated in f32
//   workspace dQ_accum, then converted: the frontend's default, non-deterministic-dQ form)
//
// Layouts. Q, K, V are strided views of qkv [B, S, 3, nh, hd]: dims [B, nh, S, hd], strides
// [S·3·nh·hd, hd, 3·nh·hd, 1] at element offsets 0, nh·hd, 2·nh·hd. The backend wants Kᵀ (and Vᵀ in
// backward), which is the same memory with the last two dims and strides swapped. O and dO are
// [B, nh, S, hd] views of [B, S, nh, hd]: strides [S·nh·hd, hd, nh·hd, 1]. dQ, dK, dV are views of
// dqkv like Q, K, V. Stats are packed [B, nh, S, 1] (cuDNN < 9.26 supports only packed stats).
#include "core/cuda/cudnn_sdpa.h"

#include <array>
#include <cmath>
#include <compare>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/cuda/cuda_check.h"
#include "core/error.h"
#include "core/tensor.h"

namespace trident {

namespace {

using Dims = std::array<std::int64_t, 4>;

// Unique ids of the non-virtual tensors (the variant pack binds a pointer to each); virtual
// tensors are numbered from kFirstVirtualUid.
enum Uid : std::int64_t {
  kQ = 1,
  kK,
  kV,
  kO,
  kStats,
  kScale,
  kNegInf,
  kDO,
  kDQ,
  kDK,
  kDV,
  kOne,
  kSoftmaxSum,
  kDQAccum,
};
constexpr std::int64_t kFirstVirtualUid = 100;
constexpr std::int64_t kWorkspaceAlign = 256;  // bytes, for each buffer carved out of the workspace

std::string status_text(cudnnStatus_t s) {
  char detail[1024] = {};
  cudnnGetLastErrorString(detail, sizeof(detail));
  std::string text = std::string(cudnnGetErrorString(s)) + " (" + std::to_string(static_cast<int>(s)) + ")";
  if (detail[0] != '\0') text += ": " + std::string(detail);
  return text;
}

std::string describe(const char* direction, const SdpaShape& s) {
  return std::string("SDPA ") + direction + " graph for B=" + std::to_string(s.batch) +
         ", nh=" + std::to_string(s.heads) + ", S=" + std::to_string(s.seq) + ", hd=" + std::to_string(s.head_dim) +
         " (bf16, causal; cuDNN " + std::to_string(cudnnGetVersion()) + ")";
}

// Owns one backend descriptor.
class BackendDesc {
 public:
  BackendDesc(cudnnBackendDescriptorType_t type, const std::string& context) {
    const cudnnStatus_t s = cudnnBackendCreateDescriptor(type, &desc_);
    if (s != CUDNN_STATUS_SUCCESS)
      TRIDENT_FAIL("cuDNN ", context, ": creating backend descriptor type ", static_cast<int>(type),
                   " failed: ", status_text(s));
  }
  ~BackendDesc() {
    if (desc_) cudnnBackendDestroyDescriptor(desc_);
  }
  BackendDesc(const BackendDesc&) = delete;
  BackendDesc& operator=(const BackendDesc&) = delete;
  cudnnBackendDescriptor_t get() const { return desc_; }

 private:
  cudnnBackendDescriptor_t desc_ = nullptr;
};

// A finalized execution plan, with every descriptor it was built from kept alive beside it.
struct SdpaPlan {
  std::vector<std::unique_ptr<BackendDesc>> parts;
  std::unique_ptr<BackendDesc> plan;
  std::int64_t workspace_bytes = 0;
};

// Builds one operation graph and its execution plan; errors name the graph (shape included).
class SdpaGraph {
 public:
  explicit SdpaGraph(std::string name) : name_(std::move(name)) {}

  cudnnBackendDescriptor_t tensor(std::int64_t uid, cudnnDataType_t type, const Dims& dims, const Dims& strides,
                                  bool is_virtual = false, bool by_value = false);
  cudnnBackendDescriptor_t virtual_tensor(cudnnDataType_t type, const Dims& dims, const Dims& strides) {
    return tensor(next_uid_++, type, dims, strides, true);
  }
  // A host f32 scalar passed by value at execution.
  cudnnBackendDescriptor_t scalar(std::int64_t uid) {
    const Dims one{1, 1, 1, 1};
    return tensor(uid, CUDNN_DATA_FLOAT, one, one, false, true);
  }

  // y = mode(x[, b][, t]); `axis` only for GEN_INDEX.
  void pointwise(cudnnPointwiseMode_t mode, cudnnBackendDescriptor_t x, cudnnBackendDescriptor_t b,
                 cudnnBackendDescriptor_t t, cudnnBackendDescriptor_t y, cudnnDataType_t math = CUDNN_DATA_FLOAT,
                 std::int64_t axis = -1);
  void reduction(cudnnReduceTensorOp_t op, cudnnBackendDescriptor_t x, cudnnBackendDescriptor_t y);
  void matmul(cudnnBackendDescriptor_t a, cudnnBackendDescriptor_t b, cudnnBackendDescriptor_t c);
  void reshape(cudnnBackendDescriptor_t x, cudnnBackendDescriptor_t y);

  // Finalizes the graph, asks the heuristics (mode A, then the fallback list) for engine configs
  // and returns the first that finalizes into an execution plan.
  std::unique_ptr<SdpaPlan> build(cudnnHandle_t handle);

 private:
  cudnnBackendDescriptor_t make(cudnnBackendDescriptorType_t type) {
    descs_.push_back(std::make_unique<BackendDesc>(type, name_));
    return descs_.back()->get();
  }
  void set(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t attr, cudnnBackendAttributeType_t type,
           std::int64_t count, const void* values, const char* what) {
    const cudnnStatus_t s = cudnnBackendSetAttribute(d, attr, type, count, values);
    if (s != CUDNN_STATUS_SUCCESS) TRIDENT_FAIL("cuDNN ", name_, ": setting ", what, " failed: ", status_text(s));
  }
  void finalize(cudnnBackendDescriptor_t d, const char* what) {
    const cudnnStatus_t s = cudnnBackendFinalize(d);
    if (s != CUDNN_STATUS_SUCCESS) TRIDENT_FAIL("cuDNN ", name_, ": finalizing ", what, " failed: ", status_text(s));
  }
  void set_desc(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t attr, cudnnBackendDescriptor_t value,
                const char* what) {
    set(d, attr, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &value, what);
  }

  std::string name_;
  std::vector<std::unique_ptr<BackendDesc>> descs_;
  std::vector<cudnnBackendDescriptor_t> ops_;
  std::int64_t next_uid_ = kFirstVirtualUid;
};

cudnnBackendDescriptor_t SdpaGraph::tensor(std::int64_t uid, cudnnDataType_t type, const Dims& dims,
                                           const Dims& strides, bool is_virtual, bool by_value) {
  const cudnnBackendDescriptor_t t = make(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  const std::int64_t alignment = 16;
  set(t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type, "tensor data type");
  set(t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims.data(), "tensor dims");
  set(t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides.data(), "tensor strides");
  set(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid, "tensor uid");
  set(t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &alignment, "tensor alignment");
  set(t, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &is_virtual, "tensor is_virtual");
  if (by_value) set(t, CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, 1, &by_value, "tensor is_by_value");
  finalize(t, "a tensor descriptor");
  return t;
}

void SdpaGraph::pointwise(cudnnPointwiseMode_t mode, cudnnBackendDescriptor_t x, cudnnBackendDescriptor_t b,
                          cudnnBackendDescriptor_t t, cudnnBackendDescriptor_t y, cudnnDataType_t math,
                          std::int64_t axis) {
  const cudnnBackendDescriptor_t pw = make(CUDNN_BACKEND_POINTWISE_DESCRIPTOR);
  set(pw, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode, "pointwise mode");
  set(pw, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &math, "pointwise math precision");
  if (axis >= 0) set(pw, CUDNN_ATTR_POINTWISE_AXIS, CUDNN_TYPE_INT64, 1, &axis, "pointwise axis");
  finalize(pw, "a pointwise descriptor");
  const cudnnBackendDescriptor_t op = make(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
  set_desc(op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, pw, "pointwise op descriptor");
  set_desc(op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, x, "pointwise x");
  if (b) set_desc(op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, b, "pointwise b");
  if (t) set_desc(op, CUDNN_ATTR_OPERATION_POINTWISE_TDESC, t, "pointwise t");
  set_desc(op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, y, "pointwise y");
  finalize(op, "a pointwise operation");
  ops_.push_back(op);
}

void SdpaGraph::reduction(cudnnReduceTensorOp_t mode, cudnnBackendDescriptor_t x, cudnnBackendDescriptor_t y) {
  const cudnnBackendDescriptor_t red = make(CUDNN_BACKEND_REDUCTION_DESCRIPTOR);
  const cudnnDataType_t comp = CUDNN_DATA_FLOAT;
  set(red, CUDNN_ATTR_REDUCTION_OPERATOR, CUDNN_TYPE_REDUCTION_OPERATOR_TYPE, 1, &mode, "reduction operator");
  set(red, CUDNN_ATTR_REDUCTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &comp, "reduction compute type");
  finalize(red, "a reduction descriptor");
  const cudnnBackendDescriptor_t op = make(CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR);
  set_desc(op, CUDNN_ATTR_OPERATION_REDUCTION_XDESC, x, "reduction x");
  set_desc(op, CUDNN_ATTR_OPERATION_REDUCTION_YDESC, y, "reduction y");
  set_desc(op, CUDNN_ATTR_OPERATION_REDUCTION_DESC, red, "reduction descriptor");
  finalize(op, "a reduction operation");
  ops_.push_back(op);
}

void SdpaGraph::matmul(cudnnBackendDescriptor_t a, cudnnBackendDescriptor_t b, cudnnBackendDescriptor_t c) {
  const cudnnBackendDescriptor_t mm = make(CUDNN_BACKEND_MATMUL_DESCRIPTOR);
  const cudnnDataType_t comp = CUDNN_DATA_FLOAT;
  set(mm, CUDNN_ATTR_MATMUL_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &comp, "matmul compute type");
  finalize(mm, "a matmul descriptor");
  const cudnnBackendDescriptor_t op = make(CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR);
  set_desc(op, CUDNN_ATTR_OPERATION_MATMUL_ADESC, a, "matmul a");
  set_desc(op, CUDNN_ATTR_OPERATION_MATMUL_BDESC, b, "matmul b");
  set_desc(op, CUDNN_ATTR_OPERATION_MATMUL_CDESC, c, "matmul c");
  set_desc(op, CUDNN_ATTR_OPERATION_MATMUL_DESC, mm, "matmul descriptor");
  finalize(op, "a matmul operation");
  ops_.push_back(op);
}

void SdpaGraph::reshape(cudnnBackendDescriptor_t x, cudnnBackendDescriptor_t y) {
  const cudnnBackendDescriptor_t op = make(CUDNN_BACKEND_OPERATION_RESHAPE_DESCRIPTOR);
  set_desc(op, CUDNN_ATTR_OPERATION_RESHAPE_XDESC, x, "reshape x");
  set_desc(op, CUDNN_ATTR_OPERATION_RESHAPE_YDESC, y, "reshape y");
  finalize(op, "a reshape operation");
  ops_.push_back(op);
}

std::unique_ptr<SdpaPlan> SdpaGraph::build(cudnnHandle_t handle) {
  const cudnnBackendDescriptor_t graph = make(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
  set(graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, static_cast<std::int64_t>(ops_.size()),
      ops_.data(), "the graph's operations");
  set(graph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle, "the graph's handle");
  finalize(graph, "the operation graph");

  std::string tried;  // what each heuristic mode and engine config said, for the error message
  for (const cudnnBackendHeurMode_t mode : {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK}) {
    const char* mode_name = mode == CUDNN_HEUR_MODE_A ? "heuristics mode A" : "fallback heuristics";
    auto heur = std::make_unique<BackendDesc>(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, name_);
    set_desc(heur->get(), CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, graph, "heuristics graph");
    set(heur->get(), CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode, "heuristics mode");
    cudnnStatus_t s = cudnnBackendFinalize(heur->get());
    if (s != CUDNN_STATUS_SUCCESS) {
      tried += std::string("; ") + mode_name + ": " + status_text(s);
      continue;
    }
    std::int64_t count = 0;
    s = cudnnBackendGetAttribute(heur->get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &count,
                                 nullptr);
    if (s != CUDNN_STATUS_SUCCESS || count <= 0) {
      tried += std::string("; ") + mode_name + ": " +
               (s != CUDNN_STATUS_SUCCESS ? status_text(s) : std::string("no engine config"));
      continue;
    }
    std::vector<std::unique_ptr<BackendDesc>> configs;
    std::vector<cudnnBackendDescriptor_t> raw;
    for (std::int64_t i = 0; i < count; ++i) {
      configs.push_back(std::make_unique<BackendDesc>(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, name_));
      raw.push_back(configs.back()->get());
    }
    std::int64_t got = 0;
    s = cudnnBackendGetAttribute(heur->get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, count,
                                 &got, raw.data());
    if (s != CUDNN_STATUS_SUCCESS) {
      tried += std::string("; ") + mode_name + " results: " + status_text(s);
      continue;
    }
    for (std::int64_t i = 0; i < got && i < count; ++i) {
      auto plan = std::make_unique<BackendDesc>(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, name_);
      set(plan->get(), CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle, "the plan's handle");
      set_desc(plan->get(), CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, raw[static_cast<std::size_t>(i)],
               "the plan's engine config");
      s = cudnnBackendFinalize(plan->get());
      if (s != CUDNN_STATUS_SUCCESS) {
        tried += std::string("; ") + mode_name + " config " + std::to_string(i) + ": " + status_text(s);
        continue;
      }
      auto result = std::make_unique<SdpaPlan>();
      std::int64_t n = 0;
      s = cudnnBackendGetAttribute(plan->get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, &n,
                                   &result->workspace_bytes);
      if (s != CUDNN_STATUS_SUCCESS) TRIDENT_FAIL("cuDNN ", name_, ": reading the plan's workspace size failed: ",
                                                  status_text(s));
      result->plan = std::move(plan);
      result->parts = std::move(descs_);
      result->parts.push_back(std::move(heur));
      for (auto& c : configs) result->parts.push_back(std::move(c));
      return result;
    }
  }
  TRIDENT_FAIL("cuDNN ", name_, ": no fused attention engine accepts this graph (", tried.empty() ? "" : tried.substr(2),
               "). cuDNN's flash attention needs sm_80+, bf16, and a head dim that is a multiple of 8 up to 128 "
               "(256 on sm_90); use f32 activations for other shapes");
}

// Common dims and strides of one shape.
struct Layout {
  Dims qkv_dims, qkv_strides;    // Q, K, V (and dQ, dK, dV) as [B, nh, S, hd] views of [B, S, 3, nh, hd]
  Dims kt_dims, kt_strides;      // Kᵀ (Vᵀ): the same memory as [B, nh, hd, S]
  Dims o_strides;                // O, dO as [B, nh, S, hd] views of [B, S, nh, hd]
  Dims score_dims, score_strides, score_t_strides;  // [B, nh, S, S] packed, and its transpose's strides
  Dims row_dims, row_strides;    // [B, nh, S, 1] packed (stats, row sums)
  Dims packed_strides;           // [B, nh, S, hd] packed (dQ_accum)

  explicit Layout(const SdpaShape& s) {
    const std::int64_t b = s.batch, h = s.heads, n = s.seq, d = s.head_dim;
    const std::int64_t ld3 = 3 * h * d, ld = h * d;
    qkv_dims = {b, h, n, d};
    qkv_strides = {n * ld3, d, ld3, 1};
    kt_dims = {b, h, d, n};
    kt_strides = {n * ld3, d, 1, ld3};
    o_strides = {n * ld, d, ld, 1};
    score_dims = {b, h, n, n};
    score_strides = {h * n * n, n * n, n, 1};
    score_t_strides = {h * n * n, n * n, 1, n};
    row_dims = {b, h, n, 1};
    row_strides = {h * n, n, 1, 1};
    packed_strides = {h * n * d, n * d, d, 1};
  }
};

// Causal mask of the composite diagonal-band node: keep scores where row >= col, −inf elsewhere.
cudnnBackendDescriptor_t causal_mask(SdpaGraph& g, const Layout& l, cudnnBackendDescriptor_t scores,
                                     cudnnBackendDescriptor_t neg_inf) {
  const auto row = g.virtual_tensor(CUDNN_DATA_INT32, l.score_dims, l.score_strides);
  g.pointwise(CUDNN_POINTWISE_GEN_INDEX, scores, nullptr, nullptr, row, CUDNN_DATA_FLOAT, 2);
  const auto col = g.virtual_tensor(CUDNN_DATA_INT32, l.score_dims, l.score_strides);
  g.pointwise(CUDNN_POINTWISE_GEN_INDEX, scores, nullptr, nullptr, col, CUDNN_DATA_FLOAT, 3);
  const auto keep = g.virtual_tensor(CUDNN_DATA_BOOLEAN, l.score_dims, l.score_strides);
  g.pointwise(CUDNN_POINTWISE_CMP_GE, row, col, nullptr, keep, CUDNN_DATA_BOOLEAN);
  const auto masked = g.virtual_tensor(CUDNN_DATA_FLOAT, l.score_dims, l.score_strides);
  g.pointwise(CUDNN_POINTWISE_BINARY_SELECT, scores, neg_inf, keep, masked);  // keep ? scores : −inf
  return masked;
}

std::unique_ptr<SdpaPlan> build_forward(cudnnHandle_t handle, const SdpaShape& shape) {
  const Layout l(shape);
  SdpaGraph g(describe("forward", shape));
  const auto q = g.tensor(kQ, CUDNN_DATA_BFLOAT16, l.qkv_dims, l.qkv_strides);
  const auto kt = g.tensor(kK, CUDNN_DATA_BFLOAT16, l.kt_dims, l.kt_strides);
  const auto v = g.tensor(kV, CUDNN_DATA_BFLOAT16, l.qkv_dims, l.qkv_strides);
  const auto o = g.tensor(kO, CUDNN_DATA_BFLOAT16, l.qkv_dims, l.o_strides);
  const auto stats = g.tensor(kStats, CUDNN_DATA_FLOAT, l.row_dims, l.row_strides);
  const auto scale = g.scalar(kScale);
  const auto neg_inf = g.scalar(kNegInf);

  const auto s = g.virtual_tensor(CUDNN_DATA_FLOAT, l.score_dims, l.score_strides);
  g.matmul(q, kt, s);
  const auto scaled = g.virtual_tensor(CUDNN_DATA_FLOAT, l.score_dims, l.score_strides);
  g.pointwise(CUDNN_POINTWISE_MUL, s, scale, nullptr, scaled);
  const auto masked = causal_mask(g, l, scaled, neg_inf);
  // Softmax with statistics (the composite softmax node).
  const auto row_max = g.virtual_tensor(CUDNN_DATA_FLOAT, l.row_dims, l.row_strides);
  g.reduction(CUDNN_REDUCE_TENSOR_MAX, masked, row_max);
  const auto shifted = g.virtual_tensor(CUDNN_DATA_FLOAT, l.score_dims, l.score_strides);
  g.pointwise(CUDNN_POINTWISE_SUB, masked, row_max, nullptr, shifted);
  const auto exps = g.virtual_tensor(CUDNN_DATA_FLOAT, l.score_dims, l.score_strides);
  g.pointwise(CUDNN_POINTWISE_EXP, shifted, nullptr, nullptr, exps);
  const auto row_sum = g.virtual_tensor(CUDNN_DATA_FLOAT, l.row_dims, l.row_strides);
  g.reduction(CUDNN_REDUCE_TENSOR_ADD, exps, row_sum);
  const auto log_sum = g.virtual_tensor(CUDNN_DATA_FLOAT, l.row_dims, l.row_strides);
  g.pointwise(CUDNN_POINTWISE_LOG, row_sum, nullptr, nullptr, log_sum);
  g.pointwise(CUDNN_POINTWISE_ADD, row_max, log_sum, nullptr, stats);
  // P feeds the second matmul in the I/O dtype, as the fused engine requires.
  const auto p = g.virtual_tensor(CUDNN_DATA_BFLOAT16, l.score_dims, l.score_strides);
  g.pointwise(CUDNN_POINTWISE_DIV, exps, row_sum, nullptr, p);
  g.matmul(p, v, o);
  return g.build(handle);
}

std::unique_ptr<SdpaPlan> build_backward(cudnnHandle_t handle, const SdpaShape& shape) {
  const Layout l(shape);
  SdpaGraph g(describe("backward", shape));
  const auto q = g.tensor(kQ, CUDNN_DATA_BFLOAT16, l.qkv_dims, l.qkv_strides);
  const auto kt = g.tensor(kK, CUDNN_DATA_BFLOAT16, l.kt_dims, l.kt_strides);
  const auto vt = g.tensor(kV, CUDNN_DATA_BFLOAT16, l.kt_dims, l.kt_strides);
  const auto o = g.tensor(kO, CUDNN_DATA_BFLOAT16, l.qkv_dims, l.o_strides);
  const auto dout = g.tensor(kDO, CUDNN_DATA_BFLOAT16, l.qkv_dims, l.o_strides);
  const auto stats = g.tensor(kStats, CUDNN_DATA_FLOAT, l.row_dims, l.row_strides);
  const auto dq = g.tensor(kDQ, CUDNN_DATA_BFLOAT16, l.qkv_dims, l.qkv_strides);
  const auto dk = g.tensor(kDK, CUDNN_DATA_BFLOAT16, l.qkv_dims, l.qkv_strides);
  const auto dv = g.tensor(kDV, CUDNN_DATA_BFLOAT16, l.qkv_dims, l.qkv_strides);
  const auto scale = g.scalar(kScale);
  const auto one = g.scalar(kOne);
  const auto neg_inf = g.scalar(kNegInf);
  const auto softmax_sum = g.tensor(kSoftmaxSum, CUDNN_DATA_FLOAT, l.row_dims, l.row_strides);
  const auto dq_accum = g.tensor(kDQAccum, CUDNN_DATA_FLOAT, l.qkv_dims, l.packed_strides);

  // softmax_sum = rowsum(dO ∘ O) · 1 (the 1 is the frontend's dropout-scale slot). The product's
  // strides are the frontend's (virtual, so never laid out in memory).
  const std::int64_t h = shape.heads, n = shape.seq, d = shape.head_dim;
  const auto do_o = g.virtual_tensor(CUDNN_DATA_FLOAT, l.qkv_dims, Dims{h * n * d, n * d, h * d, 1});
  g.pointwise(CUDNN_POINTWISE_MUL, dout, o, nullptr, do_o);
  const auto do_o_sum = g.virtual_tensor(CUDNN_DATA_FLOAT, l.row_dims, l.row_strides);
  g.reduction(CUDNN_REDUCE_TENSOR_ADD, do_o, do_o_sum);
  g.pointwise(CUDNN_POINTWISE_MUL, do_o_sum, one, nullptr, softmax_sum);

  // P = exp(mask(Q·Kᵀ·scale − stats)); dV = Pᵀ·dO.
  const auto s = g.virtual_tensor(CUDNN_DATA_FLOAT, l.score_dims, l.score_strides);
  g.matmul(q, kt, s);
  const auto scaled = g.virtual_tensor(CUDNN_DATA_FLOAT, l.score_dims, l.score_strides);
  g.pointwise(CUDNN_POINTWISE_MUL, s, scale, nullptr, scaled);
  const auto centered = g.virtual_tensor(CUDNN_DATA_FLOAT, l.score_dims, l.score_strides);
  g.pointwise(CUDNN_POINTWISE_SUB, scaled, stats, nullptr, centered);
  const auto masked = causal_mask(g, l, centered, neg_inf);
  const auto p = g.virtual_tensor(CUDNN_DATA_FLOAT, l.score_dims, l.score_strides);
  g.pointwise(CUDNN_POINTWISE_EXP, masked, nullptr, nullptr, p);
  const auto p_t = g.virtual_tensor(CUDNN_DATA_BFLOAT16, l.score_dims, l.score_t_strides);
  g.reshape(p, p_t);
  g.matmul(p_t, dout, dv);

  // dS = P ∘ (dO·Vᵀ − softmax_sum) · scale; dK = dSᵀ·Q.
  const auto dp = g.virtual_tensor(CUDNN_DATA_FLOAT, l.score_dims, l.score_strides);
  g.matmul(dout, vt, dp);
  const auto dp_centered = g.virtual_tensor(CUDNN_DATA_FLOAT, l.score_dims, l.score_strides);
  g.pointwise(CUDNN_POINTWISE_SUB, dp, softmax_sum, nullptr, dp_centered);
  const auto ds_unscaled = g.virtual_tensor(CUDNN_DATA_FLOAT, l.score_dims, l.score_strides);
  g.pointwise(CUDNN_POINTWISE_MUL, dp_centered, p, nullptr, ds_unscaled);
  const auto ds = g.virtual_tensor(CUDNN_DATA_FLOAT, l.score_dims, l.score_strides);
  g.pointwise(CUDNN_POINTWISE_MUL, ds_unscaled, scale, nullptr, ds);
  const auto ds_t = g.virtual_tensor(CUDNN_DATA_BFLOAT16, l.score_dims, l.score_t_strides);
  g.reshape(ds, ds_t);
  g.matmul(ds_t, q, dk);

  // dQ = dS·K into the f32 accumulator, then converted into dqkv. K is Kᵀ reshaped back (a virtual
  // intermediate, f32 like every untyped intermediate of the frontend's graph).
  const auto k = g.virtual_tensor(CUDNN_DATA_FLOAT, l.qkv_dims, l.qkv_strides);
  g.reshape(kt, k);
  g.matmul(ds, k, dq_accum);
  g.pointwise(CUDNN_POINTWISE_IDENTITY, dq_accum, nullptr, nullptr, dq);
  return g.build(handle);
}

struct PlanKey {
  int device;
  bool backward;
  std::int64_t batch, heads, seq, head_dim;
  auto operator<=>(const PlanKey&) const = default;
};

// Plans live for the process (never destroyed: tearing cuDNN plans down during static destruction
// could run after the CUDA driver has shut down).
const SdpaPlan& plan_for(CudaContext& ctx, bool backward, const SdpaShape& s) {
  static std::mutex mutex;
  static auto* plans = new std::map<PlanKey, std::unique_ptr<SdpaPlan>>();
  const PlanKey key{ctx.device(), backward, s.batch, s.heads, s.seq, s.head_dim};
  std::lock_guard<std::mutex> lock(mutex);
  auto it = plans->find(key);
  if (it == plans->end())
    it = plans->emplace(key, backward ? build_backward(ctx.cudnn(), s) : build_forward(ctx.cudnn(), s)).first;
  return *it->second;
}

std::int64_t round_up(std::int64_t bytes) { return (bytes + kWorkspaceAlign - 1) / kWorkspaceAlign * kWorkspaceAlign; }

// Device scratch of at least `bytes` from the caching allocator (stream-ordered reuse on the
// compute stream makes a fresh tensor per call cheap); empty when bytes is 0.
Tensor scratch(const CudaContext& ctx, std::int64_t bytes) {
  if (bytes == 0) return Tensor();
  return Tensor::empty({(bytes + 3) / 4}, DType::kF32, Device::cuda(ctx.device()));
}

void execute(CudaContext& ctx, const SdpaPlan& plan, const char* direction, const SdpaShape& shape,
             const std::vector<std::int64_t>& uids, const std::vector<void*>& pointers, void* workspace) {
  const std::string name = describe(direction, shape);
  BackendDesc pack(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, name);
  auto set = [&](cudnnBackendAttributeName_t attr, cudnnBackendAttributeType_t type, std::int64_t count,
                 const void* values, const char* what) {
    const cudnnStatus_t s = cudnnBackendSetAttribute(pack.get(), attr, type, count, values);
    if (s != CUDNN_STATUS_SUCCESS) TRIDENT_FAIL("cuDNN ", name, ": setting the variant pack's ", what, " failed: ",
                                                status_text(s));
  };
  set(CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, static_cast<std::int64_t>(uids.size()), uids.data(),
      "uids");
  set(CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, static_cast<std::int64_t>(pointers.size()),
      pointers.data(), "data pointers");
  set(CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &workspace, "workspace");
  cudnnStatus_t s = cudnnBackendFinalize(pack.get());
  if (s != CUDNN_STATUS_SUCCESS) TRIDENT_FAIL("cuDNN ", name, ": finalizing the variant pack failed: ", status_text(s));
  s = cudnnBackendExecute(ctx.cudnn(), plan.plan->get(), pack.get());
  if (s != CUDNN_STATUS_SUCCESS) TRIDENT_FAIL("cuDNN ", name, ": execution failed: ", status_text(s));
}

void check_aligned(const char* op, const char* what, const void* p) {
  TRIDENT_CHECK(reinterpret_cast<std::uintptr_t>(p) % 16 == 0, op, ": ", what,
                " is not 16-byte aligned, which cuDNN's fused attention needs (pass a tensor that starts on an "
                "allocation boundary, or whose offset is a multiple of 8 bf16 elements)");
}

char* offset(const void* base, std::int64_t elements) {
  return const_cast<char*>(static_cast<const char*>(base)) + elements * 2;  // bf16 elements
}

}  // namespace

void cudnn_sdpa_check_shape(const char* op, const CudaContext& ctx, const SdpaShape& s) {
  TRIDENT_CHECK(s.head_dim % 8 == 0, op, ": cuDNN's fused attention (the bf16 path) needs a head dim that is a ",
                "multiple of 8, got hd = ", s.head_dim, " (use f32 activations, or a head count that makes hd a "
                "multiple of 8)");
  const std::int64_t max_hd = ctx.compute_capability() / 10 == 9 ? 256 : 128;
  TRIDENT_CHECK(s.head_dim <= max_hd, op, ": cuDNN's fused attention on sm_", ctx.compute_capability(),
                " supports head dims up to ", max_hd, ", got hd = ", s.head_dim, " (use f32 activations)");
}

void cudnn_sdpa_forward(CudaContext& ctx, const SdpaShape& shape, const void* qkv, void* out, float* stats) {
  check_aligned("attention_forward", "qkv", qkv);
  check_aligned("attention_forward", "out", out);
  const SdpaPlan& plan = plan_for(ctx, false, shape);
  const std::int64_t c = shape.heads * shape.head_dim;
  float scale = 1.0f / std::sqrt(static_cast<float>(shape.head_dim));
  float neg_inf = -std::numeric_limits<float>::infinity();
  const Tensor ws = scratch(ctx, plan.workspace_bytes);
  const std::vector<std::int64_t> uids{kQ, kK, kV, kO, kStats, kScale, kNegInf};
  const std::vector<void*> pointers{offset(qkv, 0), offset(qkv, c), offset(qkv, 2 * c), out, stats, &scale, &neg_inf};
  execute(ctx, plan, "forward", shape, uids, pointers, ws.raw());
}

void cudnn_sdpa_backward(CudaContext& ctx, const SdpaShape& shape, const void* qkv, const void* out,
                         const void* dout, const float* stats, void* dqkv) {
  const char* op = "attention_backward";
  check_aligned(op, "qkv", qkv);
  check_aligned(op, "out", out);
  check_aligned(op, "dout", dout);
  check_aligned(op, "dqkv", dqkv);
  const SdpaPlan& plan = plan_for(ctx, true, shape);
  const std::int64_t c = shape.heads * shape.head_dim;
  const std::int64_t rows = shape.batch * shape.heads * shape.seq;
  // Workspace: [plan workspace | softmax_sum f32 [B, nh, S] | dQ_accum f32 [B, nh, S, hd]].
  const std::int64_t sum_offset = round_up(plan.workspace_bytes);
  const std::int64_t accum_offset = sum_offset + round_up(rows * 4);
  const std::int64_t accum_bytes = rows * shape.head_dim * 4;
  const Tensor ws = scratch(ctx, accum_offset + accum_bytes);
  char* base = static_cast<char*>(ws.raw());
  // cuDNN >= 9.6 clears dQ_accum itself (the frontend stopped doing it); clearing it here too costs
  // one memset and keeps the accumulation correct whatever the engine assumes.
  TRIDENT_CUDA_CHECK(cudaMemsetAsync(base + accum_offset, 0, static_cast<std::size_t>(accum_bytes),
                                     ctx.compute_stream()));
  float scale = 1.0f / std::sqrt(static_cast<float>(shape.head_dim));
  float one = 1.0f;
  float neg_inf = -std::numeric_limits<float>::infinity();
  const std::vector<std::int64_t> uids{kQ,  kK,  kV,  kO,    kDO,   kStats,  kDQ,         kDK,
                                       kDV, kScale, kOne, kNegInf, kSoftmaxSum, kDQAccum};
  const std::vector<void*> pointers{offset(qkv, 0),   offset(qkv, c),   offset(qkv, 2 * c),
                                    const_cast<void*>(out), const_cast<void*>(dout), const_cast<float*>(stats),
                                    offset(dqkv, 0),  offset(dqkv, c),  offset(dqkv, 2 * c),
                                    &scale,           &one,             &neg_inf,
                                    base + sum_offset, base + accum_offset};
  execute(ctx, plan, "backward", shape, uids, pointers, plan.workspace_bytes > 0 ? base : nullptr);
}

}  // namespace trident
