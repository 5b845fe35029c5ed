// Error checks for NCCL calls: a failing call throws trident::Error naming the call, NCCL's error
// string, NCCL's last detailed message and the communicator, like TRIDENT_CUDA_CHECK does for CUDA.
#pragma once

#include <nccl.h>

#include <string>

namespace trident::nccl {

// Throws trident::Error("NCCL call failed: <expr> returned <code> (<text>): <last error>; <where>").
[[noreturn]] void fail(const char* file, int line, const char* expr, ncclResult_t result, const std::string& where);

// "ncclRemoteError (remote process exited or there was a network error)"
std::string result_string(ncclResult_t result);

}  // namespace trident::nccl

// `where` names the communicator: "communicator 'tp' (rank 1 of 4)".
#define TRIDENT_NCCL_CHECK(expr, where)                                                                   \
  do {                                                                                                    \
    const ncclResult_t trident_r_ = (expr);                                                               \
    if (trident_r_ != ncclSuccess) ::trident::nccl::fail(__FILE__, __LINE__, #expr, trident_r_, (where)); \
  } while (0)
