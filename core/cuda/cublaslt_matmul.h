// Row-major strided-batched GEMMs on raw device pointers through cuBLASLt: the engine under
// CudaOps::gemm / gemm_strided_batched (core/cuda/cuda_gemm.cpp) and the f32 attention path
// (core/cuda/cuda_attention.cpp). Callers check shapes against their tensors first; this layer only
// maps the row-major problem onto cuBLAS's column-major one and runs it.
//
// Semantics (as GemmBatch in core/ops.h): for i in [0, batch)
//   C_i[m, n] = alpha · op(A_i) · op(B_i) + beta · C_i,  X_i = X + i · stride_x,
// with row strides lda, ldb, ldc in elements. a and b share `ab` (f32 or bf16); c is f32 or bf16
// (bf16 c needs bf16 a and b). Accumulation is always f32 (CUBLAS_COMPUTE_32F), also for f32
// inputs: never TF32, so f32 results match the CPU table to f32 rounding.
//
// Every call enqueues on the compute stream of `ctx` and does not block the host.
#pragma once

#include "core/cuda/cuda_context.h"
#include "core/dtype.h"
#include "core/ops.h"

namespace trident {

void cublaslt_gemm(CudaContext& ctx, bool trans_a, bool trans_b, const GemmBatch& shape, float alpha,
                   const void* a, const void* b, DType ab, float beta, void* c, DType c_dtype);

}  // namespace trident
