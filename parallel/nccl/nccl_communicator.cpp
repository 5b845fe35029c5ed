#include "parallel/nccl/nccl_communicator.h"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <utility>

#include "core/cuda/cuda_check.h"
#include "core/cuda/cuda_context.h"
#include "core/nvtx.h"
#include "parallel/nccl/nccl_check.h"
#include "parallel/nccl/nccl_request.h"
#include "parallel/nccl/nccl_util.h"
#include "parallel/nccl/nccl_watchdog.h"

namespace trident {

using comm::OpDesc;
using nccl::check_device_tensor;
using nccl::comm_range;
using nccl::count_of;
using nccl::nccl_op;
using nccl::nccl_type;

namespace {

// World ranks of a new communicator's members, by an all-gather of each member's world rank (also a
// first use that checks the communicator works). Host-blocking, watched.
std::vector<int> exchange_world_ranks(const std::shared_ptr<nccl::CommState>& state, cudaStream_t stream,
                                      const std::string& stream_name, int my_world_rank,
                                      std::chrono::milliseconds timeout) {
  const std::size_t n = static_cast<std::size_t>(state->size);
  std::int32_t* ranks = nullptr;
  // Stream-ordered allocation: unlike cudaMalloc/cudaFree it never synchronises the device, which
  // could wait on another communicator's kernel that waits on us.
  TRIDENT_CUDA_CHECK(cudaMallocAsync(reinterpret_cast<void**>(&ranks), n * sizeof(std::int32_t), stream));
  std::vector<std::int32_t> host(n, -1);
  host[static_cast<std::size_t>(state->rank)] = my_world_rank;
  TRIDENT_CUDA_CHECK(cudaMemcpyAsync(ranks + state->rank, &host[static_cast<std::size_t>(state->rank)],
                                     sizeof(std::int32_t), cudaMemcpyHostToDevice, stream));
  auto op = std::make_shared<nccl::WatchedOp>(state, "member exchange (all_gather of world ranks)", stream_name,
                                              timeout, nullptr, nullptr);
  op->record_start(stream);
  nccl::Watchdog::get().add(op);
  try {
    TRIDENT_NCCL_CHECK(ncclAllGather(ranks + state->rank, ranks, 1, ncclInt32, state->comm, stream), state->where());
    op->record_end(stream);
  } catch (...) {
    nccl::Watchdog::get().drop(op.get());
    throw;
  }
  op->set_enqueued();
  nccl::wait_on_host(*op);
  nccl::Watchdog::get().drop(op.get());
  TRIDENT_CUDA_CHECK(cudaMemcpyAsync(host.data(), ranks, n * sizeof(std::int32_t), cudaMemcpyDeviceToHost, stream));
  TRIDENT_CUDA_CHECK(cudaFreeAsync(ranks, stream));
  stream_synchronize(stream);
  return std::vector<int>(host.begin(), host.end());
}

}  // namespace

// ---- construction and teardown -----------------------------------------------------------------

NcclCommunicator::NcclCommunicator(ncclComm_t comm, std::string name, int device, std::vector<int> members,
                                   std::chrono::milliseconds timeout)
    : name_(std::move(name)), device_(device) {
  set_timeout(timeout);
  try {
    TRIDENT_CHECK(comm != nullptr, "NcclCommunicator '", name_, "' was given a null ncclComm_t");
    CudaContext& ctx = CudaContext::get(device_);
    compute_ = ctx.compute_stream();
    const std::string where = "communicator '" + name_ + "'";
    TRIDENT_NCCL_CHECK(ncclCommCount(comm, &size_), where);
    TRIDENT_NCCL_CHECK(ncclCommUserRank(comm, &rank_), where);
    TRIDENT_CHECK(members.empty() || static_cast<int>(members.size()) == size_, "NcclCommunicator '", name_,
                  "': ", members.size(), " member world ranks for a communicator of ", size_);
    auto state = std::make_shared<nccl::CommState>();
    state->comm = comm;
    state->name = name_;
    state->rank = rank_;
    state->size = size_;
    state->device = device_;
    state->members = std::move(members);
    group_ = Channel{state, ctx.stream(name_), name_, -1};
    nccl::Watchdog::get().watch_comm(state);
  } catch (...) {
    ncclCommAbort(comm);  // not yet ours to destroy collectively; abort does not wait for the peers
    throw;
  }
}

NcclCommunicator::~NcclCommunicator() {
  // Process exit after the watchdog stopped: the driver reclaims everything, and NCCL teardown this
  // late (CUDA may already be unloading) could only crash or hang.
  if (nccl::Watchdog::stopped()) return;
  try {
    CudaDeviceGuard guard(device_);
    synchronize();
    if (barrier_word_) TRIDENT_CUDA_CHECK(cudaFreeAsync(barrier_word_, group_.stream));
    barrier_word_ = nullptr;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "trident: NCCL communicator '%s': waiting for its work before teardown failed: %s\n",
                 name_.c_str(), e.what());
    return;  // the communicator is broken: leave it to the watchdog and the process exit
  }
  // Channels first, in creation order, then the group's own: the same order on every rank.
  for (Channel& c : ring_) destroy(c.state);
  destroy(group_.state);
}

void NcclCommunicator::destroy(const std::shared_ptr<nccl::CommState>& state) noexcept {
  if (!state || !state->comm) return;
  try {
    nccl::Watchdog& watchdog = nccl::Watchdog::get();
    nccl::WatchedHostStep step(state, "teardown (ncclCommFinalize, ncclCommDestroy)", timeout());
    watchdog.begin_close(*state);
    const ncclResult_t finalized = ncclCommFinalize(state->comm);
    const ncclResult_t destroyed = ncclCommDestroy(state->comm);
    step.done();
    if (finalized != ncclSuccess || destroyed != ncclSuccess)
      std::fprintf(stderr, "trident: tearing down %s: ncclCommFinalize returned %s, ncclCommDestroy %s\n",
                   state->where().c_str(), nccl::result_string(finalized).c_str(),
                   nccl::result_string(destroyed).c_str());
    watchdog.unwatch_comm(state.get());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "trident: tearing down %s failed: %s\n", state->where().c_str(), e.what());
  }
  state->comm = nullptr;
}

std::unique_ptr<Communicator> make_nccl_world(Communicator& mpi_world, int device) {
  CudaContext::get(device);  // throws, naming the reason, when the GPU is missing or unusable
  CudaDeviceGuard guard(device);
  const std::string where = comm::where(mpi_world.name(), mpi_world.rank(), mpi_world.size());

  // The unique id travels as a host tensor of its bytes over the MPI world.
  static_assert(sizeof(ncclUniqueId) % sizeof(std::int32_t) == 0);
  ncclUniqueId id{};
  if (mpi_world.rank() == 0) TRIDENT_NCCL_CHECK(ncclGetUniqueId(&id), where);
  Tensor bytes = Tensor::empty({static_cast<std::int64_t>(sizeof(id) / sizeof(std::int32_t))}, DType::kI32);
  std::memcpy(bytes.raw(), &id, sizeof(id));
  mpi_world.broadcast(bytes, 0);
  std::memcpy(&id, bytes.raw(), sizeof(id));

  auto state = std::make_shared<nccl::CommState>();
  state->name = mpi_world.name();
  state->rank = mpi_world.rank();
  state->size = mpi_world.size();
  state->device = device;
  state->members.resize(static_cast<std::size_t>(mpi_world.size()));
  std::iota(state->members.begin(), state->members.end(), 0);

  ncclComm_t comm = nullptr;
  {
    nccl::WatchedHostStep step(state, "creation of the NCCL world (ncclCommInitRank)", mpi_world.timeout());
    TRIDENT_NCCL_CHECK(ncclCommInitRank(&comm, mpi_world.size(), id, mpi_world.rank()), where);
    step.done();
  }
  return std::make_unique<NcclCommunicator>(comm, mpi_world.name(), device, state->members, mpi_world.timeout());
}

std::unique_ptr<Communicator> NcclCommunicator::split(int color, int key, std::string name) {
  CudaDeviceGuard guard(device_);
  ncclComm_t out =
      split_handle(group_.state->comm, color < 0 ? NCCL_SPLIT_NOCOLOR : color, key, "split into '" + name + "'");
  if (!out) return nullptr;  // no color: this rank joins no group
  std::vector<int> members;
  try {
    auto state = std::make_shared<nccl::CommState>();
    state->comm = out;
    state->name = name;
    state->device = device_;
    const std::string new_where = "communicator '" + name + "'";
    TRIDENT_NCCL_CHECK(ncclCommCount(out, &state->size), new_where);
    TRIDENT_NCCL_CHECK(ncclCommUserRank(out, &state->rank), new_where);
    members = exchange_world_ranks(state, CudaContext::get(device_).stream(name), name, world_rank(), timeout());
  } catch (...) {
    ncclCommAbort(out);
    throw;
  }
  return std::make_unique<NcclCommunicator>(out, std::move(name), device_, std::move(members), timeout());
}

ncclComm_t NcclCommunicator::split_handle(ncclComm_t parent, int color, int key, const std::string& what) {
  // Collective over `parent`: blocks until every member calls it, so it is watched.
  ncclComm_t out = nullptr;
  nccl::WatchedHostStep step(group_.state, what + " (ncclCommSplit)", timeout());
  TRIDENT_NCCL_CHECK(ncclCommSplit(parent, color, key, &out, nullptr), where());
  step.done();
  return out;
}

// ---- helpers ------------------------------------------------------------------------------------

ncclComm_t NcclCommunicator::handle() const { return group_.state->comm; }

std::string NcclCommunicator::where() const { return comm::where(name_, rank_, size_); }

int NcclCommunicator::world_rank() const {
  const std::vector<int>& m = group_.state->members;
  return m.empty() ? -1 : m[static_cast<std::size_t>(rank_)];
}

std::shared_ptr<nccl::WatchedOp> NcclCommunicator::enqueue(const Channel& channel, const OpDesc& desc,
                                                           const std::function<void(ncclComm_t, cudaStream_t)>& issue) {
  CudaDeviceGuard guard(device_);
  // Inputs the compute stream produced are ready, and memory the caching allocator recycled on the
  // compute stream is no longer used there.
  stream_wait(channel.stream, compute_);
  auto op = std::make_shared<nccl::WatchedOp>(channel.state, desc.str(), channel.stream_name, timeout(), busy_, this);
  op->record_start(channel.stream);
  // Watched before the NCCL call: NCCL may block the host in it while it connects to the peers.
  nccl::Watchdog& watchdog = nccl::Watchdog::get();
  watchdog.add(op);
  try {
    issue(channel.state->comm, channel.stream);
    op->record_end(channel.stream);
  } catch (...) {
    watchdog.drop(op.get());
    throw;
  }
  op->set_enqueued();
  return op;
}

void NcclCommunicator::order_compute_after(const nccl::WatchedOp& op) {
  CudaDeviceGuard guard(device_);
  TRIDENT_CUDA_CHECK(cudaStreamWaitEvent(compute_, op.end_event(), 0));
}

Request NcclCommunicator::make_request(std::shared_ptr<nccl::WatchedOp> op, std::vector<Tensor> keep) const {
  return Request(std::make_unique<nccl::NcclRequest>(std::move(op), std::move(keep), device_, compute_));
}

void NcclCommunicator::synchronize() {
  CudaDeviceGuard guard(device_);
  nccl::Watchdog& watchdog = nccl::Watchdog::get();
  for (const auto& op : watchdog.outstanding(this)) nccl::wait_on_host(*op);
  watchdog.collect(this);
}

// ---- collectives --------------------------------------------------------------------------------

std::shared_ptr<nccl::WatchedOp> NcclCommunicator::start_all_reduce(const Tensor& x, ReduceOp op) {
  const OpDesc desc{"all_reduce", x.defined() ? x.numel() : 0, x.dtype()};
  check_device_tensor(x, "the tensor", desc, where(), device_);
  comm::check_reduce_op(x.dtype(), op, desc, where());
  if (x.numel() == 0) return nullptr;  // every member has the same shape: all skip
  const ncclDataType_t type = nccl_type(x.dtype());
  const ncclRedOp_t red = nccl_op(op);
  return enqueue(group_, desc, [&](ncclComm_t c, cudaStream_t s) {
    TRIDENT_NCCL_CHECK(ncclAllReduce(x.raw(), x.raw(), count_of(x), type, red, c, s), where());
  });
}

void NcclCommunicator::all_reduce(const Tensor& x, ReduceOp op) {
  const NvtxRange range = comm_range(name_, OpDesc{"all_reduce"}, x.defined() ? x.nbytes() : 0);
  if (auto started = start_all_reduce(x, op)) order_compute_after(*started);
}

Request NcclCommunicator::all_reduce_async(const Tensor& x, ReduceOp op) {
  const NvtxRange range = comm_range(name_, OpDesc{"all_reduce"}, x.defined() ? x.nbytes() : 0);
  return make_request(start_all_reduce(x, op), {x});
}

std::shared_ptr<nccl::WatchedOp> NcclCommunicator::start_all_gather(const Tensor& in, const Tensor& out) {
  const OpDesc desc{"all_gather", in.defined() ? in.numel() : 0, in.dtype()};
  check_device_tensor(in, "in", desc, where(), device_);
  check_device_tensor(out, "out", desc, where(), device_);
  comm::check_all_gather(in, out, rank_, size_, desc, where());  // in place when in is this rank's slot: NCCL's rule
  if (in.numel() == 0) return nullptr;
  const ncclDataType_t type = nccl_type(in.dtype());
  return enqueue(group_, desc, [&](ncclComm_t c, cudaStream_t s) {
    TRIDENT_NCCL_CHECK(ncclAllGather(in.raw(), out.raw(), count_of(in), type, c, s), where());
  });
}

void NcclCommunicator::all_gather(const Tensor& in, const Tensor& out) {
  const NvtxRange range = comm_range(name_, OpDesc{"all_gather"}, out.defined() ? out.nbytes() : 0);
  if (auto started = start_all_gather(in, out)) order_compute_after(*started);
}

Request NcclCommunicator::all_gather_async(const Tensor& in, const Tensor& out) {
  const NvtxRange range = comm_range(name_, OpDesc{"all_gather"}, out.defined() ? out.nbytes() : 0);
  return make_request(start_all_gather(in, out), {in, out});
}

std::shared_ptr<nccl::WatchedOp> NcclCommunicator::start_reduce_scatter(const Tensor& in, const Tensor& out,
                                                                        ReduceOp op) {
  const OpDesc desc{"reduce_scatter", in.defined() ? in.numel() : 0, in.dtype()};
  check_device_tensor(in, "in", desc, where(), device_);
  check_device_tensor(out, "out", desc, where(), device_);
  comm::check_reduce_scatter(in, out, rank_, size_, desc, where());  // in place when out is this rank's slot
  comm::check_reduce_op(in.dtype(), op, desc, where());
  if (out.numel() == 0) return nullptr;
  const ncclDataType_t type = nccl_type(in.dtype());
  const ncclRedOp_t red = nccl_op(op);
  return enqueue(group_, desc, [&](ncclComm_t c, cudaStream_t s) {
    TRIDENT_NCCL_CHECK(ncclReduceScatter(in.raw(), out.raw(), count_of(out), type, red, c, s), where());
  });
}

void NcclCommunicator::reduce_scatter(const Tensor& in, const Tensor& out, ReduceOp op) {
  const NvtxRange range = comm_range(name_, OpDesc{"reduce_scatter"}, in.defined() ? in.nbytes() : 0);
  if (auto started = start_reduce_scatter(in, out, op)) order_compute_after(*started);
}

Request NcclCommunicator::reduce_scatter_async(const Tensor& in, const Tensor& out, ReduceOp op) {
  const NvtxRange range = comm_range(name_, OpDesc{"reduce_scatter"}, in.defined() ? in.nbytes() : 0);
  return make_request(start_reduce_scatter(in, out, op), {in, out});
}

void NcclCommunicator::broadcast(const Tensor& x, int root) {
  const OpDesc desc{"broadcast", x.defined() ? x.numel() : 0, x.dtype(), "from root", root};
  const NvtxRange range = comm_range(name_, desc, x.defined() ? x.nbytes() : 0);
  check_device_tensor(x, "the tensor", desc, where(), device_);
  comm::check_root(root, size_, desc, where());
  if (x.numel() == 0) return;
  const ncclDataType_t type = nccl_type(x.dtype());
  auto op = enqueue(group_, desc, [&](ncclComm_t c, cudaStream_t s) {
    TRIDENT_NCCL_CHECK(ncclBroadcast(x.raw(), x.raw(), count_of(x), type, root, c, s), where());
  });
  order_compute_after(*op);
}

void NcclCommunicator::barrier() {
  const OpDesc desc{"barrier"};
  const NvtxRange range = comm_range(name_, desc, 0);
  CudaDeviceGuard guard(device_);
  if (!barrier_word_) {
    TRIDENT_CUDA_CHECK(cudaMallocAsync(&barrier_word_, sizeof(std::int32_t), group_.stream));
    TRIDENT_CUDA_CHECK(cudaMemsetAsync(barrier_word_, 0, sizeof(std::int32_t), group_.stream));  // 0 + 0 stays 0
  }
  auto op = enqueue(group_, desc, [&](ncclComm_t c, cudaStream_t s) {
    TRIDENT_NCCL_CHECK(ncclAllReduce(barrier_word_, barrier_word_, 1, ncclInt32, ncclSum, c, s), where());
  });
  order_compute_after(*op);
  nccl::wait_on_host(*op);
  nccl::Watchdog::get().collect(this);  // what finished before the barrier now counts in busy_seconds
}

}  // namespace trident
