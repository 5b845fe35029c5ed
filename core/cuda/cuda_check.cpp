#include "core/cuda/cuda_check.h"

#include <cudnn.h>

#include <string>

#include "core/error.h"

namespace trident::cuda_detail {

void fail(const char* file, int line, const char* expr, const char* library, int code, const char* text) {
  std::string message = std::string(library) + " call failed: " + expr + " returned " + std::to_string(code) +
                        " (" + (text ? text : "no description") + ")";
  if (std::string(library) == "cuDNN") {
    // cuDNN keeps a more specific explanation of the last failure (which attribute, which engine).
    char detail[1024] = {0};
    cudnnGetLastErrorString(detail, sizeof(detail));
    if (detail[0] != '\0') message += ": " + std::string(detail);
  }
  detail::throw_error(file, line, message);
}

}  // namespace trident::cuda_detail
