#include "parallel/mpi/mpi_communicator.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "core/allocator.h"
#include "core/nvtx.h"
#include "parallel/comm_checks.h"
#include "parallel/mpi/host_staging.h"
#include "parallel/mpi/mpi_watchdog.h"
#include "parallel/poll_backoff.h"

namespace trident {

using Clock = std::chrono::steady_clock;

// ---- runtime ------------------------------------------------------------------------------------

MpiRuntime::MpiRuntime(int* argc, char*** argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  TRIDENT_CHECK(!initialized, "MPI is already initialised: create exactly one MpiRuntime, at the start of main()");
  // A communication thread waiting in a collective shares its rank's core with the compute thread:
  // Open MPI's progress loop then yields the core between polls instead of spinning on it (the
  // default only when it sees more ranks than cores). Set OMPI_MCA_mpi_yield_when_idle=0 to spin.
  setenv("OMPI_MCA_mpi_yield_when_idle", "1", /*overwrite=*/0);
  // The host allocator's malloc settings (one arena, large blocks kept in the heap) must hold before
  // MPI and its threads allocate anything: MPI's per-call scratch lives under them too.
  (void)allocator_for(Device::cpu());
  int provided = 0;
  const int rc = MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided);
  TRIDENT_CHECK(rc == MPI_SUCCESS, "MPI_Init_thread failed with MPI error ", rc,
                ": run under an MPI launcher (mpirun -np N ...) with a working MPI installation");
  if (provided < MPI_THREAD_MULTIPLE) {
    MPI_Finalize();
    TRIDENT_FAIL("this MPI library provides thread level ", provided, " but trident needs MPI_THREAD_MULTIPLE (",
                 MPI_THREAD_MULTIPLE, ": communication threads run collectives beside the main thread): use an MPI "
                 "built with thread support (Open MPI and MPICH are by default)");
  }
  mpi::install_termination_note();
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
  std::shared_ptr<std::atomic<double>> busy;  // the communicator's busy-time counter

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

// Element type for moving bytes: bf16 travels as opaque 2-byte words.
MPI_Datatype transfer_type(DType t) {
  switch (t) {
    case DType::kF32: return MPI_FLOAT;
    case DType::kI32: return MPI_INT;
    case DType::kBF16: return MPI_UINT16_T;
    case DType::kF64: return MPI_DOUBLE;
  }
  return MPI_BYTE;
}

// Element type for reductions (kAvg is a sum divided at completion, in f32 only).
MPI_Datatype reduction_type(DType t, ReduceOp op, const OpDesc& desc, const CommInfo& comm) {
  comm::check_reduce_op(t, op, desc, comm.str());
  TRIDENT_CHECK(t == DType::kF32 || op != ReduceOp::kAvg, "MPI backend averages f32 only: ", desc.str(), " on ",
                comm.str(), " cannot be averaged; sum it (kSum) and scale, or average an f32 copy");
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


// ---- collectives --------------------------------------------------------------------------------

// One collective: prepared on the calling thread (arguments checked, CUDA tensors staged to host),
// run() as a blocking MPI call on whichever thread executes it (the caller, or the group's
// communication thread), finish() on the calling thread again (staged results go back to their
// device tensors on the compute stream, in the caller's program order).
class Collective {
 public:
  Collective(CommInfo comm, OpDesc desc, std::vector<Tensor> keep)
      : comm_(std::move(comm)), desc_(desc), keep_(std::move(keep)) {}

  // The host memory MPI uses for `t`: the tensor itself, or a pinned copy of a CUDA tensor (filled
  // now when `fill`; written back by finish() when `write_back`).
  void* stage(const Tensor& t, bool fill, bool write_back) {
    staged_.emplace_back(t, fill, write_back);
    return staged_.back().data();
  }
  // After the call: `n` elements of `elem_bytes` that MPI left at `from` move to `to` (an in-place
  // reduce-scatter leaves its result at the start of the buffer), then kAvg divides n f32 there.
  void move_result(void* from, void* to, std::int64_t n, std::size_t elem_bytes) {
    move_from_ = from, move_to_ = to, move_bytes_ = static_cast<std::size_t>(n) * elem_bytes;
  }
  void average(void* data, std::int64_t n) {
    if (comm_.size > 1) average_ = static_cast<float*>(data), average_count_ = n;
  }
  void set_call(const char* name, std::function<int()> call) { call_name_ = name, call_ = std::move(call); }

  void run() {
    const Clock::time_point start = Clock::now();
    {
      const mpi::CallWatch watch(desc_.str(), comm_.str(), comm_.timeout);
      check_mpi(call_(), call_name_, comm_);
    }
    if (move_from_ != move_to_ && move_bytes_ > 0) std::memmove(move_to_, move_from_, move_bytes_);
    if (average_) {
      const float inv = 1.0f / static_cast<float>(comm_.size);
      for (std::int64_t i = 0; i < average_count_; ++i) average_[i] *= inv;
    }
    if (comm_.busy) *comm_.busy += std::chrono::duration<double>(Clock::now() - start).count();
  }

  void finish() {
    for (StagedTensor& s : staged_) s.copy_back();
  }

 private:
  CommInfo comm_;
  OpDesc desc_;
  std::vector<Tensor> keep_;  // the tensors MPI reads and writes live until the call is over
  std::vector<StagedTensor> staged_;
  const char* call_name_ = "";
  std::function<int()> call_;
  void* move_from_ = nullptr;
  void* move_to_ = nullptr;
  std::size_t move_bytes_ = 0;
  float* average_ = nullptr;
  std::int64_t average_count_ = 0;
};

// A collective queued on the group's communication thread.
class CollectiveRequest final : public Request::Impl {
 public:
  CollectiveRequest(std::shared_ptr<Collective> c, std::shared_ptr<mpi::Completion> done)
      : collective_(std::move(c)), done_(std::move(done)) {}

  bool test() override {
    if (finished_) return true;
    if (!done_->test()) return false;
    finish();
    return true;
  }
  void wait() override {
    if (finished_) return;
    done_->wait();
    finish();
  }

 private:
  void finish() {
    finished_ = true;
    collective_->finish();
  }

  // Shared with the queued task: the buffers outlive the call even if this request is dropped.
  std::shared_ptr<Collective> collective_;
  std::shared_ptr<mpi::Completion> done_;
  bool finished_ = false;
};

std::shared_ptr<Collective> prepare_all_reduce(const CommInfo& comm, MPI_Comm handle, const Tensor& x, ReduceOp op) {
  const OpDesc desc{"all_reduce", x.defined() ? x.numel() : 0, x.dtype()};
  check_mpi_tensor(x, "the tensor", desc, comm);
  const MPI_Datatype type = reduction_type(x.dtype(), op, desc, comm);
  auto c = std::make_shared<Collective>(comm, desc, std::vector<Tensor>{x});
  void* data = c->stage(x, /*fill=*/true, /*write_back=*/true);
  if (op == ReduceOp::kAvg) c->average(data, x.numel());
  const int count = count_of(x);
  const MPI_Op mop = mpi_op(op, x.dtype());
  c->set_call("MPI_Allreduce",
              [=] { return MPI_Allreduce(MPI_IN_PLACE, data, count, type, mop, handle); });
  return c;
}

std::shared_ptr<Collective> prepare_all_gather(const CommInfo& comm, MPI_Comm handle, const Tensor& in,
                                               const Tensor& out) {
  const OpDesc desc{"all_gather", in.defined() ? in.numel() : 0, in.dtype()};
  check_mpi_tensor(in, "in", desc, comm);
  check_mpi_tensor(out, "out", desc, comm);
  const bool in_place = comm::check_all_gather(in, out, comm.rank, comm.size, desc, comm.str());
  const MPI_Datatype type = transfer_type(in.dtype());
  auto c = std::make_shared<Collective>(comm, desc, std::vector<Tensor>{in, out});
  // A staged `out` is a separate host buffer, so MPI gathers into it from a staged `in` (never in
  // place); host tensors gather in place when `in` is this rank's slot of `out`.
  void* out_data = c->stage(out, /*fill=*/false, /*write_back=*/true);
  const bool host_in_place = in_place && !out.device().is_cuda();
  const void* in_data = host_in_place ? MPI_IN_PLACE : c->stage(in, /*fill=*/true, /*write_back=*/false);
  const int count = count_of(in);
  c->set_call("MPI_Allgather",
              [=] { return MPI_Allgather(in_data, count, type, out_data, count, type, handle); });
  return c;
}

std::shared_ptr<Collective> prepare_reduce_scatter(const CommInfo& comm, MPI_Comm handle, const Tensor& in,
                                                   const Tensor& out, ReduceOp op) {
  const OpDesc desc{"reduce_scatter", in.defined() ? in.numel() : 0, in.dtype()};
  check_mpi_tensor(in, "in", desc, comm);
  check_mpi_tensor(out, "out", desc, comm);
  const bool in_place = comm::check_reduce_scatter(in, out, comm.rank, comm.size, desc, comm.str());
  const MPI_Datatype type = reduction_type(in.dtype(), op, desc, comm);
  auto c = std::make_shared<Collective>(comm, desc, std::vector<Tensor>{in, out});
  const int count = count_of(out);
  const MPI_Op mop = mpi_op(op, in.dtype());
  void* result = nullptr;
  if (in_place) {
    // MPI_IN_PLACE takes the input from the receive buffer (all of `in`) and leaves the result at
    // its start; it then moves to this rank's slot. `out` lies inside `in`: staging `in` covers it.
    char* data = static_cast<char*>(c->stage(in, /*fill=*/true, /*write_back=*/true));
    result = data + static_cast<std::size_t>(comm.rank) * out.nbytes();
    c->move_result(data, result, out.numel(), dtype_size(out.dtype()));
    c->set_call("MPI_Reduce_scatter_block", [=] {
      return MPI_Reduce_scatter_block(MPI_IN_PLACE, data, count, type, mop, handle);
    });
  } else {
    const void* in_data = c->stage(in, /*fill=*/true, /*write_back=*/false);
    result = c->stage(out, /*fill=*/false, /*write_back=*/true);
    c->set_call("MPI_Reduce_scatter_block", [=] {
      return MPI_Reduce_scatter_block(in_data, result, count, type, mop, handle);
    });
  }
  if (op == ReduceOp::kAvg) c->average(result, out.numel());
  return c;
}

// ---- point-to-point -----------------------------------------------------------------------------


// One MPI point-to-point request and everything it needs until completion: its tensor and the host
// memory MPI works on (the tensor itself, or a pinned copy of a CUDA tensor).
class P2pRequest final : public Request::Impl {
 public:
  P2pRequest(bool recv, CommInfo comm, OpDesc desc, Tensor x) : recv_(recv), comm_(std::move(comm)), desc_(desc) {
    buffers_.push_back(std::move(x));
  }
  ~P2pRequest() override { abandon(); }

  MPI_Request* handle() { return &request_; }
  void* stage(const Tensor& t, bool fill, bool write_back) {
    staged_.emplace_back(t, fill, write_back);
    return staged_.back().data();
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

  void wait() override {
    PollBackoff backoff;
    // A wait past the spin phase is named to the watchdog, so that a job ended by a silent peer says
    // which transfer this rank was blocked in; the timeout stays this loop's (CommTimeout below).
    std::optional<mpi::CallWatch> watch;
    while (!test()) {
      if (backoff.elapsed() >= comm_.timeout) throw CommTimeout(timeout_message());
      if (!watch && backoff.elapsed() >= PollBackoff::kYield)
        watch.emplace(desc_.str(), comm_.str(), comm_.timeout, mpi::TimeoutOwner::kCaller);
      backoff.pause();
    }
    if (comm_.busy) *comm_.busy += std::chrono::duration<double>(backoff.elapsed()).count();
  }

 private:
  void complete(const MPI_Status& status) {
    done_ = true;
    if (recv_) {
      int received = 0;
      MPI_Get_count(&status, transfer_type(desc_.dtype), &received);
      TRIDENT_CHECK(received == desc_.count, desc_.str(), " on ", comm_.str(), " got ", received,
                    " elements: the sender's tensor has a different size");
    }
    for (StagedTensor& s : staged_) s.copy_back();  // a device tensor gets what arrived (compute stream)
  }

  std::string timeout_message() const {
    return detail::concat("CommTimeout: ", desc_.str(), " on ", comm_.str(), " did not complete within ",
                          static_cast<double>(comm_.timeout.count()) / 1000.0,
                          " s: a peer may have died, be stuck, or have called a different operation. If steps are "
                          "just slow (large messages, many ranks per core), raise TRIDENT_COMM_TIMEOUT_S (seconds).",
                          mpi::with_liveness_note());
  }

  // Drops an unfinished request without waiting (after a timeout, or while an exception unwinds).
  // A receive is cancelled; a send cannot be (Open MPI ignores MPI_Cancel on sends) and is freed to
  // finish on its own. Whatever may still touch the buffers keeps them alive.
  void abandon() noexcept {
    if (done_ || request_ == MPI_REQUEST_NULL || mpi_finalized()) return;
    if (recv_) {
      MPI_Cancel(&request_);
      // Cancelling an unmatched receive completes at once; a matched one finishes its transfer.
      PollBackoff backoff;
      int flag = 0;
      while (MPI_Test(&request_, &flag, MPI_STATUS_IGNORE) == MPI_SUCCESS && !flag &&
             backoff.elapsed() < std::chrono::milliseconds(100))
        backoff.pause();
      if (flag) return;
    }
    MPI_Request_free(&request_);
    for (StagedTensor& s : staged_) s.abandon();
    try {
      keep_forever(std::move(buffers_));
    } catch (...) {
      // Out of memory while failing: nothing better to do than let the buffers go.
    }
  }

  bool recv_;
  CommInfo comm_;
  OpDesc desc_;
  std::vector<Tensor> buffers_;
  std::vector<StagedTensor> staged_;
  MPI_Request request_ = MPI_REQUEST_NULL;
  bool done_ = false;
};

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
  thread_.reset();  // runs what is queued, then joins: nothing uses comm_ afterwards
  // Static communicators may outlive MpiRuntime; MPI cannot free anything after MPI_Finalize.
  if (comm_ != MPI_COMM_NULL && !mpi_finalized()) MPI_Comm_free(&comm_);
}

mpi::CollectiveThread& MpiCommunicator::thread() {
  if (!thread_) thread_ = std::make_unique<mpi::CollectiveThread>("comm:" + name_);
  return *thread_;
}

void MpiCommunicator::drain() {
  if (thread_) thread_->drain();
}

namespace {

// Runs a prepared collective on the caller's thread, after the group's queued ones.
void run_here(Collective& c) {
  c.run();
  c.finish();
}

Request run_queued(mpi::CollectiveThread& thread, std::shared_ptr<Collective> c) {
  auto done = thread.submit([c] { c->run(); });
  return Request(std::make_unique<CollectiveRequest>(std::move(c), std::move(done)));
}

NvtxRange comm_range(const std::string& group, const char* op, const Tensor& t) {
  return NvtxRange(comm::range_name(group, OpDesc{op}, t.defined() ? t.nbytes() : 0), NvtxColor::kCommunication);
}

}  // namespace

void MpiCommunicator::all_reduce(const Tensor& x, ReduceOp op) {
  const NvtxRange range = comm_range(name_, "all_reduce", x);
  drain();
  run_here(*prepare_all_reduce(info_of(*this), comm_, x, op));
}

Request MpiCommunicator::all_reduce_async(const Tensor& x, ReduceOp op) {
  const NvtxRange range = comm_range(name_, "all_reduce", x);
  return run_queued(thread(), prepare_all_reduce(info_of(*this), comm_, x, op));
}

void MpiCommunicator::all_gather(const Tensor& in, const Tensor& out) {
  const NvtxRange range = comm_range(name_, "all_gather", out);
  drain();
  run_here(*prepare_all_gather(info_of(*this), comm_, in, out));
}

Request MpiCommunicator::all_gather_async(const Tensor& in, const Tensor& out) {
  const NvtxRange range = comm_range(name_, "all_gather", out);
  return run_queued(thread(), prepare_all_gather(info_of(*this), comm_, in, out));
}

void MpiCommunicator::reduce_scatter(const Tensor& in, const Tensor& out, ReduceOp op) {
  const NvtxRange range = comm_range(name_, "reduce_scatter", in);
  drain();
  run_here(*prepare_reduce_scatter(info_of(*this), comm_, in, out, op));
}

Request MpiCommunicator::reduce_scatter_async(const Tensor& in, const Tensor& out, ReduceOp op) {
  const NvtxRange range = comm_range(name_, "reduce_scatter", in);
  return run_queued(thread(), prepare_reduce_scatter(info_of(*this), comm_, in, out, op));
}

void MpiCommunicator::broadcast(const Tensor& x, int root) {
  const CommInfo comm = info_of(*this);
  const OpDesc desc{"broadcast", x.defined() ? x.numel() : 0, x.dtype(), "from root", root};
  const NvtxRange range(comm::range_name(name_, desc, x.defined() ? x.nbytes() : 0), NvtxColor::kCommunication);
  check_mpi_tensor(x, "the tensor", desc, comm);
  comm::check_root(root, size_, desc, comm.str());
  drain();
  Collective c(comm, desc, {x});
  // The root's data goes out; everyone else's comes back in.
  void* data = c.stage(x, /*fill=*/rank_ == root, /*write_back=*/rank_ != root);
  const int count = count_of(x);
  const MPI_Datatype type = transfer_type(x.dtype());
  const MPI_Comm handle = comm_;
  c.set_call("MPI_Bcast", [=] { return MPI_Bcast(data, count, type, root, handle); });
  run_here(c);
}

Request MpiCommunicator::send(const Tensor& x, int peer, int tag) {
  const CommInfo comm = info_of(*this);
  const OpDesc desc{"send", x.defined() ? x.numel() : 0, x.dtype(), "to", peer, tag};
  const NvtxRange range(comm::range_name(name_, desc, x.defined() ? x.nbytes() : 0), NvtxColor::kCommunication);
  check_mpi_tensor(x, "the tensor", desc, comm);
  check_peer_and_tag(peer, tag, size_, desc, comm);
  auto request = std::make_unique<P2pRequest>(/*recv=*/false, comm, desc, x);
  const void* data = request->stage(x, /*fill=*/true, /*write_back=*/false);
  check_mpi(MPI_Isend(data, count_of(x), transfer_type(x.dtype()), peer, tag, comm_, request->handle()), "MPI_Isend",
            comm);
  return Request(std::move(request));
}

Request MpiCommunicator::recv(const Tensor& x, int peer, int tag) {
  const CommInfo comm = info_of(*this);
  const OpDesc desc{"recv", x.defined() ? x.numel() : 0, x.dtype(), "from", peer, tag};
  const NvtxRange range(comm::range_name(name_, desc, x.defined() ? x.nbytes() : 0), NvtxColor::kCommunication);
  check_mpi_tensor(x, "the tensor", desc, comm);
  check_peer_and_tag(peer, tag, size_, desc, comm);
  auto request = std::make_unique<P2pRequest>(/*recv=*/true, comm, desc, x);
  void* data = request->stage(x, /*fill=*/false, /*write_back=*/true);
  check_mpi(MPI_Irecv(data, count_of(x), transfer_type(x.dtype()), peer, tag, comm_, request->handle()), "MPI_Irecv",
            comm);
  return Request(std::move(request));
}

void MpiCommunicator::barrier() {
  const NvtxRange range(comm::range_name(name_, OpDesc{"barrier"}, 0), NvtxColor::kCommunication);
  drain();
  Collective c(info_of(*this), OpDesc{"barrier"}, {});
  const MPI_Comm handle = comm_;
  c.set_call("MPI_Barrier", [=] { return MPI_Barrier(handle); });
  run_here(c);
}

std::unique_ptr<Communicator> MpiCommunicator::split(int color, int key, std::string name) {
  drain();
  MPI_Comm out = MPI_COMM_NULL;
  {
    const mpi::CallWatch watch("split", comm::where(name_, rank_, size_), timeout());
    check_mpi(MPI_Comm_split(comm_, color < 0 ? MPI_UNDEFINED : color, key, &out), "MPI_Comm_split",
              info_of(*this));
  }
  if (out == MPI_COMM_NULL) return nullptr;
  auto group = std::make_unique<MpiCommunicator>(out, std::move(name));
  group->set_timeout(timeout());  // a group waits as long as the communicator it came from
  return group;
}

}  // namespace trident
