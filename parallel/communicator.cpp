#include "parallel/communicator.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>

namespace trident {

std::string_view reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return "sum";
    case ReduceOp::kAvg: return "avg";
    case ReduceOp::kMax: return "max";
  }
  return "?";
}

namespace {

// Finishes `impl` before it is dropped, so its buffers are not freed under a transfer in flight.
// While the stack unwinds from an exception (typically a CommTimeout), it does not wait: one dead
// peer would otherwise cost a full timeout per pending request. The backend's Impl destructor then
// cancels or abandons the transfer and keeps its buffer alive. Never throws: it runs in destructors.
void finish_quietly(std::unique_ptr<Request::Impl>& impl) noexcept {
  if (!impl || std::uncaught_exceptions() > 0) return;
  try {
    if (!impl->test()) impl->wait();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "trident: an unfinished request was dropped and waiting for it failed: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "trident: an unfinished request was dropped and waiting for it failed\n");
  }
}

}  // namespace

Request& Request::operator=(Request&& other) noexcept {
  if (this != &other) {
    finish_quietly(impl_);
    impl_ = std::move(other.impl_);
  }
  return *this;
}

Request::~Request() { finish_quietly(impl_); }

bool Request::test() {
  TRIDENT_CHECK(valid(), "test() on an empty Request: it was default-constructed or moved from; "
                "keep the Request returned by send/recv/all_reduce_async");
  return impl_->test();
}

void Request::wait() {
  TRIDENT_CHECK(valid(), "wait() on an empty Request: it was default-constructed or moved from; "
                "keep the Request returned by send/recv/all_reduce_async");
  impl_->wait();
}

void wait_all(std::vector<Request>& requests) {
  // Empty slots are skipped: callers keep one slot per possible peer and post only some of them.
  std::exception_ptr first;
  for (Request& r : requests) {
    if (!r.valid()) continue;
    try {
      r.wait();
    } catch (...) {
      if (!first) first = std::current_exception();
    }
  }
  if (first) std::rethrow_exception(first);
}

std::chrono::milliseconds Communicator::default_timeout() {
  constexpr const char* kVar = "TRIDENT_COMM_TIMEOUT_S";
  const char* text = std::getenv(kVar);
  if (text == nullptr || *text == '\0') return std::chrono::seconds(300);
  errno = 0;
  char* end = nullptr;
  const double seconds = std::strtod(text, &end);
  const bool valid = end != text && *end == '\0' && errno == 0 && std::isfinite(seconds) && seconds > 0 &&
                     seconds < 1e9;
  TRIDENT_CHECK(valid, kVar, "='", text, "' is not a positive number of seconds; set it to e.g. 300, or unset it ",
                "for the default of 300 s");
  return std::chrono::milliseconds(std::max<long long>(1, std::llround(seconds * 1000.0)));
}

}  // namespace trident
