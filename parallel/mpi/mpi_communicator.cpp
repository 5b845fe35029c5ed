#include "parallel/mpi/mpi_communicator.h"

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "core/nvtx.h"
#include "parallel/comm_checks.h"
#include "parallel/mpi/host_staging.h"

namespace trident {

// ---- runtime ------------------------------------------------------------------------------------

MpiRuntime::MpiRuntime(int* argc, char*** argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  TRIDENT_CHECK(!initialized, "MPI is already initialised: create exactly one MpiRuntime, at the start of main()");
  int provided = 0;
  const int rc = MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided);
  TRIDENT_CHECK(rc == MPI_SUCCESS, "MPI_Init_thread failed with MPI error ", rc,
                ": run under an MPI launcher (mpirun -np N ...) with a working MPI installation");
  if (provided < MPI_THREAD_SERIALIZED) {
    MPI_Finalize();
    TRIDENT_FAIL("this MPI library provides thread level ", provided, " but trident needs MPI_THREAD_SERIALIZED (",
                 MPI_THREAD_SERIALIZED, "): use an MPI built with thread support");
  }
}

MpiRuntime::~MpiRuntime() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

void MpiRuntime::abort(int code) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  const bool live = initialized && !finalized;
  int rank = -1;
  if (live) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::fprintf(stderr, "trident: rank %d ends all ranks with exit code %d\n", rank, code);
  std::fflush(stderr);
  if (live) MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);  // MPI_Abort does not return; this covers a process without MPI
}

// ---- helpers ------------------------------------------------------------------------------------

namespace {

bool mpi_finalized() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  return finalized != 0;
}

std::string mpi_error_string(int rc) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) return "MPI error " + std::to_string(rc);
  return std::string(text, static_cast<std::size_t>(len));
}

// Identity of a communicator, copied into each request so its messages need no live communicator.
struct CommInfo {
  std::string name;
  int rank = 0;
  int size = 1;
  std::chrono::milliseconds timeout{};
  std::shared_ptr<std::atomic<double>> busy;  // the communicator's blocked-time counter

  std::string str() const { return comm::where(name, rank, size); }
};

CommInfo info_of(const Communicator& c) { return {c.name(), c.rank(), c.size(), c.timeout(), c.busy_counter()}; }

void check_mpi(int rc, const char* call, const CommInfo& comm) {
  TRIDENT_CHECK(rc == MPI_SUCCESS, call, " failed on ", comm.str(), ": ", mpi_error_string(rc));
}

using comm::OpDesc;

// Host tensors go to MPI as they are; CUDA tensors are staged through pinned host buffers
// (parallel/mpi/host_staging.h), the slow fallback when NCCL is not used.
void check_mpi_tensor(const Tensor& t, const char* what, const OpDesc& op, const CommInfo& comm) {
  comm::check_defined(t, what, op, comm.str());
  TRIDENT_CHECK(t.numel() <= INT_MAX, op.op, " on ", comm.str(), ": ", what, " has ", t.numel(),
                " elements, more than MPI's int count allows; split it into chunks");
}

// The NVTX range of an MPI operation: "dp all_reduce 6.0 MiB".
NvtxRange comm_range(const std::string& group, const OpDesc& op, std::size_t bytes) {
  return NvtxRange(comm::range_name(group, op, bytes), NvtxColor::kCommunication);
}

// Element type for moving bytes: bf16 travels as opaque 2-byte words.
MPI_Datatype transfer_type(DType t) {
  switch (t) {
    case DType::kF32: return MPI_FLOAT;
    case DType::kI32: return MPI_INT;
    case DType::kBF16: return MPI_UINT16_T;
  }
  return MPI_BYTE;
}

// Element type for reductions (kAvg is a sum divided at completion, in f32 only).
MPI_Datatype reduction_type(DType t, ReduceOp op, const OpDesc& desc, const CommInfo& comm) {
  TRIDENT_CHECK(t != DType::kBF16 || op != ReduceOp::kAvg, "MPI backend averages f32 only: ", desc.str(), " on ",
                comm.str(), " cannot be averaged; sum it (kSum) and scale, or average an f32 copy");
  comm::check_reduce_op(t, op, desc, comm.str());
  return transfer_type(t);
}

// MPI has no bf16 arithmetic: user-defined reductions widen each pair to f32, combine, and round
// back to nearest even, as NCCL does at each step of its bf16 reductions. (TP all-reduces of bf16
// activations go through here when ranks share a GPU over the MPI backend.)
template <bool kMaxOp>
void bf16_reduce(void* in, void* inout, int* len, MPI_Datatype*) {
  const auto* a = static_cast<const bf16*>(in);
  auto* b = static_cast<bf16*>(inout);
  for (int i = 0; i < *len; ++i) {
    const float x = from_bf16(a[i]), y = from_bf16(b[i]);
    b[i] = to_bf16(kMaxOp ? std::max(x, y) : x + y);
  }
}

MPI_Op mpi_op(ReduceOp op, DType t) {
  if (t == DType::kBF16) {
    // Created once, after MPI_Init (the first bf16 reduction); commutative, so MPI may reorder.
    static const MPI_Op sum = [] {
      MPI_Op o;
      MPI_Op_create(&bf16_reduce<false>, 1, &o);
      return o;
    }();
    static const MPI_Op max = [] {
      MPI_Op o;
      MPI_Op_create(&bf16_reduce<true>, 1, &o);
      return o;
    }();
    return op == ReduceOp::kMax ? max : sum;
  }
  return op == ReduceOp::kMax ? MPI_MAX : MPI_SUM;
}

int count_of(const Tensor& t) { return static_cast<int>(t.numel()); }

// Buffers of requests given up on (timeout, exception) whose transfer may still land: kept for the
// life of the process so MPI never writes into freed memory. Only failing runs get here.
void keep_forever(std::vector<Tensor> buffers) {
  static std::mutex mutex;
  static auto* kept = new std::vector<Tensor>();  // never freed on purpose, see above
  std::lock_guard<std::mutex> lock(mutex);
  for (Tensor& t : buffers) kept->push_back(std::move(t));
}

enum class Kind { kCollective, kSend, kRecv };

// One MPI request and everything it needs until completion: its tensors, the host buffers MPI
// works on (the tensors themselves, or pinned copies of CUDA tensors), and for kAvg the f32 buffer
// whose sum becomes the mean.
class MpiRequest final : public Request::Impl {
 public:
  MpiRequest(Kind kind, CommInfo comm, OpDesc desc, std::vector<Tensor> buffers)
      : kind_(kind), comm_(std::move(comm)), desc_(desc), buffers_(std::move(buffers)) {}
  ~MpiRequest() override { abandon(); }

  MPI_Request* handle() { return &request_; }

  // Stages `t` for this request and returns the host memory MPI is to use; copied back into `t`
  // at completion when `write_back`.
  void* stage(const Tensor& t, bool fill, bool write_back) {
    staged_.emplace_back(t, fill, write_back);
    return staged_.back().data();
  }
  // kAvg: `data` (n f32, host memory MPI writes) is divided by the group size at completion.
  void average(void* data, std::int64_t n) {
    if (comm_.size > 1) {
      average_ = static_cast<float*>(data);
      average_count_ = n;
    }
  }

  bool test() override {
    if (done_) return true;
    int flag = 0;
    MPI_Status status;
    const int rc = MPI_Test(&request_, &flag, &status);
    if (rc != MPI_SUCCESS) {
      done_ = true;  // MPI is done with the request; nothing left to wait for or cancel
      TRIDENT_FAIL(desc_.str(), " failed on ", comm_.str(), ": ", mpi_error_string(rc));
    }
    if (flag) complete(status);
    return done_;
  }

  // Polls with back-off: a short spin catches fast completions, then yielding and growing sleeps
  // hand the core to other ranks (oversubscribed CPU runs have more ranks than cores).
  void wait() override {
    using Clock = std::chrono::steady_clock;
    using std::chrono::microseconds;
    const Clock::time_point start = Clock::now();
    const Clock::time_point deadline = start + comm_.timeout;
    microseconds nap(10);
    while (!test()) {
      const Clock::time_point now = Clock::now();
      if (now >= deadline) throw CommTimeout(timeout_message());
      const Clock::duration waited = now - start;
      if (waited < microseconds(20)) continue;
      if (waited < microseconds(200)) {
        sched_yield();
        continue;
      }
      std::this_thread::sleep_for(nap);
      nap = std::min(nap * 2, microseconds(200));
    }
    if (comm_.busy) *comm_.busy += std::chrono::duration<double>(Clock::now() - start).count();
  }

 private:
  void complete(const MPI_Status& status) {
    done_ = true;
    if (kind_ == Kind::kRecv) {
      int received = 0;
      MPI_Get_count(&status, transfer_type(desc_.dtype), &received);
      TRIDENT_CHECK(received == desc_.count, desc_.str(), " on ", comm_.str(), " got ", received,
                    " elements: the sender's tensor has a different size");
    }
    if (average_) {
      const float inv = 1.0f / static_cast<float>(comm_.size);
      for (std::int64_t i = 0; i < average_count_; ++i) average_[i] *= inv;
    }
    for (StagedTensor& s : staged_) s.copy_back();  // device tensors get the result (compute stream)
  }

  std::string timeout_message() const {
    return detail::concat("CommTimeout: ", desc_.str(), " on ", comm_.str(), " did not complete within ",
                          static_cast<double>(comm_.timeout.count()) / 1000.0,
                          " s: a peer may have died, be stuck, or have called a different operation. If steps are "
                          "just slow (large messages, many ranks per core), raise TRIDENT_COMM_TIMEOUT_S (seconds).");
  }

  // Drops an unfinished request without waiting (after a timeout, or while an exception unwinds).
  // A receive is cancelled; a send cannot be (Open MPI ignores MPI_Cancel on sends) and is freed to
  // finish on its own; MPI forbids both for a collective, which is left as it is. Whatever may still
  // touch the buffers keeps them alive.
  void abandon() noexcept {
    if (done_ || request_ == MPI_REQUEST_NULL || mpi_finalized()) return;
    if (kind_ == Kind::kRecv) {
      MPI_Cancel(&request_);
      // Cancelling an unmatched receive completes at once; a matched one finishes its transfer.
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
      int flag = 0;
      while (MPI_Test(&request_, &flag, MPI_STATUS_IGNORE) == MPI_SUCCESS && !flag &&
             std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::microseconds(50));
      if (flag) return;
    }
    if (kind_ != Kind::kCollective) MPI_Request_free(&request_);
    for (StagedTensor& s : staged_) s.abandon();
    try {
      keep_forever(std::move(buffers_));
    } catch (...) {
      // Out of memory while failing: nothing better to do than let the buffers go.
    }
  }

  Kind kind_;
  CommInfo comm_;
  OpDesc desc_;
  std::vector<Tensor> buffers_;
  std::vector<StagedTensor> staged_;
  float* average_ = nullptr;
  std::int64_t average_count_ = 0;
  MPI_Request request_ = MPI_REQUEST_NULL;
  bool done_ = false;
};

}  // namespace

// ---- communicator -------------------------------------------------------------------------------

std::unique_ptr<MpiCommunicator> MpiCommunicator::world() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  TRIDENT_CHECK(initialized && !mpi_finalized(),
                "MPI is not running: create an MpiRuntime at the start of main() before MpiCommunicator::world()");
  MPI_Comm dup = MPI_COMM_NULL;
  const int rc = MPI_Comm_dup(MPI_COMM_WORLD, &dup);
  TRIDENT_CHECK(rc == MPI_SUCCESS, "MPI_Comm_dup(MPI_COMM_WORLD) failed: ", mpi_error_string(rc));
  return std::make_unique<MpiCommunicator>(dup, "world");
}

MpiCommunicator::MpiCommunicator(MPI_Comm comm, std::string name) : comm_(comm), name_(std::move(name)) {
  TRIDENT_CHECK(comm_ != MPI_COMM_NULL, "MpiCommunicator '", name_, "' was given MPI_COMM_NULL");
  // Errors come back as codes and become trident::Error with MPI's own text, instead of aborting.
  const CommInfo where{name_, 0, 0, timeout(), busy_};
  check_mpi(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler", where);
  check_mpi(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank", where);
  check_mpi(MPI_Comm_size(comm_, &size_), "MPI_Comm_size", where);
}

MpiCommunicator::~MpiCommunicator() {
  // Static communicators may outlive MpiRuntime; MPI cannot free anything after MPI_Finalize.
  if (comm_ != MPI_COMM_NULL && !mpi_finalized()) MPI_Comm_free(&comm_);
}

void MpiCommunicator::all_reduce(const Tensor& x, ReduceOp op) {
  const NvtxRange range = comm_range(name_, OpDesc{"all_reduce"}, x.defined() ? x.nbytes() : 0);
  issue_all_reduce(x, op).wait();
}

Request MpiCommunicator::all_reduce_async(const Tensor& x, ReduceOp op) {
  const NvtxRange range = comm_range(name_, OpDesc{"all_reduce"}, x.defined() ? x.nbytes() : 0);
  return issue_all_reduce(x, op);
}

Request MpiCommunicator::issue_all_reduce(const Tensor& x, ReduceOp op) {
  const CommInfo comm = info_of(*this);
  const OpDesc desc{"all_reduce", x.defined() ? x.numel() : 0, x.dtype()};
  check_mpi_tensor(x, "the tensor", desc, comm);
  const MPI_Datatype type = reduction_type(x.dtype(), op, desc, comm);
  auto request = std::make_unique<MpiRequest>(Kind::kCollective, comm, desc, std::vector<Tensor>{x});
  void* data = request->stage(x, /*fill=*/true, /*write_back=*/true);
  if (op == ReduceOp::kAvg) request->average(data, x.numel());
  check_mpi(MPI_Iallreduce(MPI_IN_PLACE, data, count_of(x), type, mpi_op(op, x.dtype()), comm_, request->handle()),
            "MPI_Iallreduce", comm);
  return Request(std::move(request));
}

void MpiCommunicator::all_gather(const Tensor& in, const Tensor& out) {
  const NvtxRange range = comm_range(name_, OpDesc{"all_gather"}, out.defined() ? out.nbytes() : 0);
  const CommInfo comm = info_of(*this);
  const OpDesc desc{"all_gather", in.defined() ? in.numel() : 0, in.dtype()};
  check_mpi_tensor(in, "in", desc, comm);
  check_mpi_tensor(out, "out", desc, comm);
  const bool in_place = comm::check_all_gather(in, out, rank_, size_, desc, comm.str());
  const MPI_Datatype type = transfer_type(in.dtype());
  MpiRequest request(Kind::kCollective, comm, desc, {in, out});
  // A staged `out` is a separate host buffer, so MPI gathers into it from a staged `in` (never in
  // place); host tensors gather in place when `in` is this rank's slot of `out`.
  void* out_data = request.stage(out, /*fill=*/false, /*write_back=*/true);
  const bool host_in_place = in_place && !out.device().is_cuda();
  const void* in_data = host_in_place ? MPI_IN_PLACE : request.stage(in, /*fill=*/true, /*write_back=*/false);
  check_mpi(MPI_Iallgather(in_data, count_of(in), type, out_data, count_of(in), type, comm_, request.handle()),
            "MPI_Iallgather", comm);
  request.wait();
}

void MpiCommunicator::reduce_scatter(const Tensor& in, const Tensor& out, ReduceOp op) {
  const NvtxRange range = comm_range(name_, OpDesc{"reduce_scatter"}, in.defined() ? in.nbytes() : 0);
  issue_reduce_scatter(in, out, op).wait();
}

Request MpiCommunicator::reduce_scatter_async(const Tensor& in, const Tensor& out, ReduceOp op) {
  const NvtxRange range = comm_range(name_, OpDesc{"reduce_scatter"}, in.defined() ? in.nbytes() : 0);
  return issue_reduce_scatter(in, out, op);
}

Request MpiCommunicator::issue_reduce_scatter(const Tensor& in, const Tensor& out, ReduceOp op) {
  const CommInfo comm = info_of(*this);
  const OpDesc desc{"reduce_scatter", in.defined() ? in.numel() : 0, in.dtype()};
  check_mpi_tensor(in, "in", desc, comm);
  check_mpi_tensor(out, "out", desc, comm);
  comm::check_reduce_scatter(in, out, size_, desc, comm.str());
  const MPI_Datatype type = reduction_type(in.dtype(), op, desc, comm);
  auto request = std::make_unique<MpiRequest>(Kind::kCollective, comm, desc, std::vector<Tensor>{in, out});
  const void* in_data = request->stage(in, /*fill=*/true, /*write_back=*/false);
  void* out_data = request->stage(out, /*fill=*/false, /*write_back=*/true);
  if (op == ReduceOp::kAvg) request->average(out_data, out.numel());
  check_mpi(MPI_Ireduce_scatter_block(in_data, out_data, count_of(out), type, mpi_op(op, in.dtype()), comm_, request->handle()),
            "MPI_Ireduce_scatter_block", comm);
  return Request(std::move(request));
}

void MpiCommunicator::broadcast(const Tensor& x, int root) {
  const CommInfo comm = info_of(*this);
  const OpDesc desc{"broadcast", x.defined() ? x.numel() : 0, x.dtype(), "from root", root};
  const NvtxRange range = comm_range(name_, desc, x.defined() ? x.nbytes() : 0);
  check_mpi_tensor(x, "the tensor", desc, comm);
  comm::check_root(root, size_, desc, comm.str());
  MpiRequest request(Kind::kCollective, comm, desc, {x});
  // The root's data goes out; everyone else's comes back in.
  void* data = request.stage(x, /*fill=*/rank_ == root, /*write_back=*/rank_ != root);
  check_mpi(MPI_Ibcast(data, count_of(x), transfer_type(x.dtype()), root, comm_, request.handle()), "MPI_Ibcast",
            comm);
  request.wait();
}

namespace {

void check_peer_and_tag(int peer, int tag, int size, const OpDesc& desc, const CommInfo& comm) {
  comm::check_peer(peer, size, desc, comm.str());
  int* tag_ub = nullptr;
  int found = 0;
  MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, &tag_ub, &found);
  const int max_tag = found && tag_ub ? *tag_ub : 32767;  // 32767: the least MPI guarantees
  TRIDENT_CHECK(0 <= tag && tag <= max_tag, desc.str(), " on ", comm.str(), ": the tag must be in [0, ", max_tag,
                "]");
}

}  // namespace

Request MpiCommunicator::send(const Tensor& x, int peer, int tag) {
  const CommInfo comm = info_of(*this);
  const OpDesc desc{"send", x.defined() ? x.numel() : 0, x.dtype(), "to", peer, tag};
  const NvtxRange range = comm_range(name_, desc, x.defined() ? x.nbytes() : 0);
  check_mpi_tensor(x, "the tensor", desc, comm);
  check_peer_and_tag(peer, tag, size_, desc, comm);
  auto request = std::make_unique<MpiRequest>(Kind::kSend, comm, desc, std::vector<Tensor>{x});
  const void* data = request->stage(x, /*fill=*/true, /*write_back=*/false);
  check_mpi(MPI_Isend(data, count_of(x), transfer_type(x.dtype()), peer, tag, comm_, request->handle()), "MPI_Isend",
            comm);
  return Request(std::move(request));
}

Request MpiCommunicator::recv(const Tensor& x, int peer, int tag) {
  const CommInfo comm = info_of(*this);
  const OpDesc desc{"recv", x.defined() ? x.numel() : 0, x.dtype(), "from", peer, tag};
  const NvtxRange range = comm_range(name_, desc, x.defined() ? x.nbytes() : 0);
  check_mpi_tensor(x, "the tensor", desc, comm);
  check_peer_and_tag(peer, tag, size_, desc, comm);
  auto request = std::make_unique<MpiRequest>(Kind::kRecv, comm, desc, std::vector<Tensor>{x});
  void* data = request->stage(x, /*fill=*/false, /*write_back=*/true);
  check_mpi(MPI_Irecv(data, count_of(x), transfer_type(x.dtype()), peer, tag, comm_, request->handle()), "MPI_Irecv",
            comm);
  return Request(std::move(request));
}

void MpiCommunicator::barrier() {
  const NvtxRange range = comm_range(name_, OpDesc{"barrier"}, 0);
  const CommInfo comm = info_of(*this);
  MpiRequest request(Kind::kCollective, comm, OpDesc{"barrier"}, {});
  check_mpi(MPI_Ibarrier(comm_, request.handle()), "MPI_Ibarrier", comm);
  request.wait();
}

std::unique_ptr<Communicator> MpiCommunicator::split(int color, int key, std::string name) {
  MPI_Comm out = MPI_COMM_NULL;
  check_mpi(MPI_Comm_split(comm_, color < 0 ? MPI_UNDEFINED : color, key, &out), "MPI_Comm_split",
            info_of(*this));
  if (out == MPI_COMM_NULL) return nullptr;
  auto group = std::make_unique<MpiCommunicator>(out, std::move(name));
  group->set_timeout(timeout());  // a group waits as long as the communicator it came from
  return group;
}

}  // namespace trident
