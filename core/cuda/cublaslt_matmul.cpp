// cuBLASLt GEMMs with a per-problem plan cache.
//
// Row-major onto column-major: a row-major R x C matrix with row stride L, read column-major, is
// the C x R matrix Xᵀ with leading dimension L. The row-major C[M, N] = op(A)·op(B) is therefore the
// column-major Cᵀ[N, M] = op(B)ᵀ·op(A)ᵀ, which is what we ask cuBLAS for: its first operand is our
// b (stored as read: N x K, or K x N when trans_b), its second our a (K x M, or M x K when trans_a),
// cuBLAS m = N, n = M, and the two transpose flags pass through unchanged (trans_b becomes cuBLAS's
// transa, trans_a its transb) — the same swap cblas performs for CblasRowMajor.
//
// Plans: the first call of a problem (shapes, leading dims, batch strides, dtypes, transposes,
// operand alignment) builds the matmul descriptor and the three matrix layouts and runs the
// heuristic once; later calls reuse them, so a training step never re-runs heuristics. Alignment
// is part of the key because cuBLASLt algorithms may need 16-byte operands: the preference tells
// the heuristic how aligned this problem's pointers (and batch strides) really are.
//
// Compute type CUBLAS_COMPUTE_32F with f32 scale for every dtype: bf16 inputs multiply on tensor
// cores with f32 accumulation; f32 inputs stay true f32 (CUBLAS_COMPUTE_32F_FAST_TF32 is never
// requested, and cuBLASLt ignores the legacy handle's math mode), so f32 GEMMs agree with OpenBLAS
// to f32 rounding.
//
// Fallback: when the heuristic returns no algorithm for a problem (CUBLAS_STATUS_NOT_SUPPORTED or an
// empty result — unusual shapes or alignments), the plan records that and the GEMM runs through
// cublasGemmStridedBatchedEx_64 with the same compute type on the same stream and workspace.
#include "core/cuda/cublaslt_matmul.h"

#include <compare>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <mutex>

#include "core/cuda/cuda_check.h"
#include "core/cuda/gemm_kernels.h"
#include "core/error.h"

namespace trident {

namespace {

cudaDataType_t cuda_type(DType t) { return t == DType::kBF16 ? CUDA_R_16BF : CUDA_R_32F; }

// Largest power of two (<= 256, cuBLASLt's default assumption) dividing the address of every
// batch entry: the base pointer and, for a batch, the byte stride between entries.
std::uint32_t alignment(const void* p, DType t, std::int64_t batch, std::int64_t stride) {
  std::uint64_t bits = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(p));
  if (batch > 1) bits |= static_cast<std::uint64_t>(stride) * dtype_size(t);
  std::uint32_t a = 256;
  while (a > 1 && bits % a != 0) a /= 2;
  return a;
}

struct GemmKey {
  int device;
  bool trans_a, trans_b;
  DType ab, c;
  std::int64_t batch, m, n, k, lda, ldb, ldc, stride_a, stride_b, stride_c;
  std::uint32_t align_a, align_b, align_c;
  auto operator<=>(const GemmKey&) const = default;
};

// Descriptors and the chosen algorithm of one problem; immutable once built.
class GemmPlan {
 public:
  GemmPlan(cublasLtHandle_t lt, const GemmKey& key, std::size_t workspace_limit);
  ~GemmPlan() {
    if (layout_c_) cublasLtMatrixLayoutDestroy(layout_c_);
    if (layout_b_) cublasLtMatrixLayoutDestroy(layout_b_);
    if (layout_a_) cublasLtMatrixLayoutDestroy(layout_a_);
    if (desc_) cublasLtMatmulDescDestroy(desc_);
  }
  GemmPlan(const GemmPlan&) = delete;
  GemmPlan& operator=(const GemmPlan&) = delete;

  void run(CudaContext& ctx, const GemmKey& key, float alpha, const void* a, const void* b, float beta,
           void* c) const;

 private:
  cublasLtMatmulDesc_t desc_ = nullptr;
  // cuBLAS's operands: A is our b, B is our a, C (and D) our c.
  cublasLtMatrixLayout_t layout_a_ = nullptr, layout_b_ = nullptr, layout_c_ = nullptr;
  cublasLtMatmulAlgo_t algo_{};
  bool has_algo_ = false;
};

// A column-major rows x cols layout with leading dimension ld, batched with `stride` when batch > 1.
cublasLtMatrixLayout_t make_layout(DType t, std::int64_t rows, std::int64_t cols, std::int64_t ld, std::int64_t batch,
                                   std::int64_t stride) {
  cublasLtMatrixLayout_t l = nullptr;
  TRIDENT_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&l, cuda_type(t), static_cast<std::uint64_t>(rows),
                                                  static_cast<std::uint64_t>(cols), ld));
  if (batch > 1) {
    const std::int32_t count = static_cast<std::int32_t>(batch);
    TRIDENT_CUBLAS_CHECK(
        cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)));
    TRIDENT_CUBLAS_CHECK(
        cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride)));
  }
  return l;
}

GemmPlan::GemmPlan(cublasLtHandle_t lt, const GemmKey& key, std::size_t workspace_limit) {
  const std::int32_t op_a = key.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;  // cuBLAS's A = our b
  const std::int32_t op_b = key.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;  // cuBLAS's B = our a
  TRIDENT_CUBLAS_CHECK(cublasLtMatmulDescCreate(&desc_, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  TRIDENT_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof(op_a)));
  TRIDENT_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof(op_b)));
  // Column-major shapes as stored (before the op): our b is N x K (K x N when trans_b), our a is
  // K x M (M x K when trans_a), our c is N x M.
  layout_a_ = make_layout(key.ab, key.trans_b ? key.k : key.n, key.trans_b ? key.n : key.k, key.ldb, key.batch,
                     key.stride_b);
  layout_b_ = make_layout(key.ab, key.trans_a ? key.m : key.k, key.trans_a ? key.k : key.m, key.lda, key.batch,
                     key.stride_a);
  layout_c_ = make_layout(key.c, key.n, key.m, key.ldc, key.batch, key.stride_c);

  cublasLtMatmulPreference_t pref = nullptr;
  TRIDENT_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  struct PrefGuard {
    cublasLtMatmulPreference_t p;
    ~PrefGuard() { cublasLtMatmulPreferenceDestroy(p); }
  } guard{pref};
  const std::uint64_t max_ws = workspace_limit;
  TRIDENT_CUBLAS_CHECK(
      cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &max_ws, sizeof(max_ws)));
  const std::uint32_t align_a = key.align_b, align_b = key.align_a, align_c = key.align_c;  // cuBLAS's A = our b
  TRIDENT_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_a,
                                                            sizeof(align_a)));
  TRIDENT_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_b,
                                                            sizeof(align_b)));
  TRIDENT_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_c,
                                                            sizeof(align_c)));
  TRIDENT_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_c,
                                                            sizeof(align_c)));

  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  const cublasStatus_t s = cublasLtMatmulAlgoGetHeuristic(lt, desc_, layout_a_, layout_b_, layout_c_, layout_c_, pref,
                                                          1, &result, &found);
  if (s == CUBLAS_STATUS_NOT_SUPPORTED) return;  // no Lt algorithm: run() falls back to cublasGemmEx
  TRIDENT_CUBLAS_CHECK(s);
  if (found > 0 && result.state == CUBLAS_STATUS_SUCCESS && result.workspaceSize <= workspace_limit) {
    algo_ = result.algo;
    has_algo_ = true;
  }
}

void GemmPlan::run(CudaContext& ctx, const GemmKey& key, float alpha, const void* a, const void* b, float beta,
                   void* c) const {
  if (has_algo_) {
    TRIDENT_CUBLAS_CHECK(cublasLtMatmul(ctx.cublaslt(), desc_, &alpha, b, layout_a_, a, layout_b_, &beta, c, layout_c_,
                                        c, layout_c_, &algo_, ctx.gemm_workspace(), ctx.gemm_workspace_bytes(),
                                        ctx.compute_stream()));
    return;
  }
  // The legacy handle is bound to the compute stream and the same workspace (core/cuda/cuda_context.cpp).
  TRIDENT_CUBLAS_CHECK(cublasGemmStridedBatchedEx_64(
      ctx.cublas(), key.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, key.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, key.n, key.m,
      key.k, &alpha, b, cuda_type(key.ab), key.ldb, key.stride_b, a, cuda_type(key.ab), key.lda, key.stride_a, &beta,
      c, cuda_type(key.c), key.ldc, key.stride_c, key.batch, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

// Plans live for the process and are never destroyed: a plan may be in use by any later GEMM, and
// tearing cuBLAS state down during static destruction could run after the CUDA driver has gone.
const GemmPlan& plan_for(CudaContext& ctx, const GemmKey& key) {
  static std::mutex mutex;
  static auto* plans = new std::map<GemmKey, std::unique_ptr<GemmPlan>>();
  std::lock_guard<std::mutex> lock(mutex);
  auto it = plans->find(key);
  if (it == plans->end())
    it = plans->emplace(key, std::make_unique<GemmPlan>(ctx.cublaslt(), key, ctx.gemm_workspace_bytes())).first;
  return *it->second;
}

}  // namespace

void cublaslt_gemm(CudaContext& ctx, bool trans_a, bool trans_b, const GemmBatch& s, float alpha, const void* a,
                   const void* b, DType ab, float beta, void* c, DType c_dtype) {
  TRIDENT_CHECK(ab == DType::kF32 || ab == DType::kBF16, "cublaslt_gemm: a and b must be f32 or bf16, got ",
                dtype_name(ab));
  TRIDENT_CHECK(c_dtype == DType::kF32 || (c_dtype == DType::kBF16 && ab == DType::kBF16),
                "cublaslt_gemm: c is ", dtype_name(c_dtype), " with ", dtype_name(ab),
                " a and b; c must be f32, or bf16 with bf16 a and b");
  TRIDENT_CHECK(s.batch <= std::numeric_limits<std::int32_t>::max(), "cublaslt_gemm: batch ", s.batch,
                " exceeds cuBLASLt's 32-bit batch count");
  if (s.batch == 0 || s.m == 0 || s.n == 0) return;
  if (s.k == 0) {  // no product: C = beta · C
    if (c_dtype == DType::kF32)
      cuda_kernels::launch_scale_matrices(static_cast<float*>(c), s.batch, s.m, s.n, s.ldc, s.stride_c, beta,
                                          ctx.compute_stream());
    else
      cuda_kernels::launch_scale_matrices(static_cast<__nv_bfloat16*>(c), s.batch, s.m, s.n, s.ldc, s.stride_c, beta,
                                          ctx.compute_stream());
    return;
  }
  const GemmKey key{ctx.device(),
                    trans_a,
                    trans_b,
                    ab,
                    c_dtype,
                    s.batch,
                    s.m,
                    s.n,
                    s.k,
                    s.lda,
                    s.ldb,
                    s.ldc,
                    s.batch > 1 ? s.stride_a : 0,
                    s.batch > 1 ? s.stride_b : 0,
                    s.batch > 1 ? s.stride_c : 0,
                    alignment(a, ab, s.batch, s.stride_a),
                    alignment(b, ab, s.batch, s.stride_b),
                    alignment(c, c_dtype, s.batch, s.stride_c)};
  plan_for(ctx, key).run(ctx, key, alpha, a, b, beta, c);
}

}  // namespace trident
