#include "parallel/nccl/nccl_check.h"

#include <string_view>

#include "core/error.h"

namespace trident::nccl {

namespace {

const char* result_name(ncclResult_t r) {
  switch (r) {
    case ncclSuccess: return "ncclSuccess";
    case ncclUnhandledCudaError: return "ncclUnhandledCudaError";
    case ncclSystemError: return "ncclSystemError";
    case ncclInternalError: return "ncclInternalError";
    case ncclInvalidArgument: return "ncclInvalidArgument";
    case ncclInvalidUsage: return "ncclInvalidUsage";
    case ncclRemoteError: return "ncclRemoteError";
    case ncclInProgress: return "ncclInProgress";
    default: return "ncclResult";
  }
}

}  // namespace

std::string result_string(ncclResult_t result) {
  const char* text = ncclGetErrorString(result);
  return detail::concat(result_name(result), " (", text ? text : "no description", ")");
}

void fail(const char* file, int line, const char* expr, ncclResult_t result, const std::string& where) {
  std::string message = detail::concat("NCCL call failed on ", where, ": ", expr, " returned ",
                                       static_cast<int>(result), " = ", result_string(result));
  // NCCL keeps a more specific text of its last failure ("Duplicate GPU detected", …).
  const char* last = ncclGetLastError(nullptr);
  if (last && *last) message += detail::concat(": ", last);
  if (last && std::string_view(last).find("Duplicate GPU") != std::string_view::npos)
    message += ". NCCL needs a GPU of its own for each rank: run one rank per GPU, or set comm to \"mpi\"";
  if (result == ncclSystemError || result == ncclRemoteError)
    message += ". A peer may have died or the network failed; NCCL_DEBUG=WARN prints NCCL's own report";
  detail::throw_error(file, line, message);
}

}  // namespace trident::nccl
