// Point-to-point of the NCCL communicator: ring channels (connect_ring_neighbors), send/recv through
// a channel or the group's own communicator, and transfers to self. See nccl_communicator.h.
#include <cstdint>
#include <utility>

#include "core/cuda/cuda_check.h"
#include "core/cuda/cuda_context.h"
#include "parallel/nccl/nccl_check.h"
#include "parallel/nccl/nccl_communicator.h"
#include "parallel/nccl/nccl_request.h"
#include "parallel/nccl/nccl_util.h"
#include "parallel/nccl/nccl_watchdog.h"

namespace trident {

using comm::OpDesc;

Request NcclCommunicator::send(const Tensor& x, int peer, int tag) { return post_p2p(/*send=*/true, x, peer, tag); }

Request NcclCommunicator::recv(const Tensor& x, int peer, int tag) { return post_p2p(/*send=*/false, x, peer, tag); }

Request NcclCommunicator::post_p2p(bool send, const Tensor& x, int peer, int tag) {
  // No tag in the description: NCCL cannot carry it, so naming it would mislead.
  const OpDesc desc{send ? "send" : "recv", x.defined() ? x.numel() : 0, x.dtype(), send ? "to" : "from", peer};
  const NvtxRange range = nccl::comm_range(name_, desc, x.defined() ? x.nbytes() : 0);
  nccl::check_device_tensor(x, "the tensor", desc, where(), device_);
  comm::check_peer(peer, size_, desc, where());
  TRIDENT_CHECK(tag >= 0, desc.str(), " on ", where(), ": the tag must be >= 0 (NCCL carries no tags: sends and ",
                "receives between two ranks match in posting order)");
  if (peer == rank_) return post_self(send, x, desc);
  if (x.numel() == 0) return make_request(nullptr, {x});  // the matching side skips as well

  const Channel* channel = ring_channel(peer, send);
  const Channel& on = channel ? *channel : group_;
  const int nccl_peer = channel ? channel->peer : peer;
  const ncclDataType_t type = nccl::nccl_type(x.dtype());
  auto op = enqueue(on, desc, [&](ncclComm_t c, cudaStream_t s) {
    // One transfer per NCCL group. On the group's own communicator it runs in issue order with the
    // collectives (see the header); on a channel it has the stream to itself.
    TRIDENT_NCCL_CHECK(ncclGroupStart(), on.state->where());
    const ncclResult_t posted = send ? ncclSend(x.raw(), nccl::count_of(x), type, nccl_peer, c, s)
                                     : ncclRecv(x.raw(), nccl::count_of(x), type, nccl_peer, c, s);
    const ncclResult_t ended = ncclGroupEnd();
    if (posted != ncclSuccess)
      nccl::fail(__FILE__, __LINE__, send ? "ncclSend" : "ncclRecv", posted, on.state->where());
    if (ended != ncclSuccess) nccl::fail(__FILE__, __LINE__, "ncclGroupEnd", ended, on.state->where());
  });
  return make_request(std::move(op), {x});
}

Request NcclCommunicator::post_self(bool send, const Tensor& x, const OpDesc& desc) {
  if (!self_) self_ = std::make_shared<nccl::SelfMailbox>();
  auto mine = std::make_shared<nccl::SelfTransfer>();
  mine->send = send;
  mine->tensor = x;
  mine->desc = desc;
  auto& counterparts = send ? self_->recvs : self_->sends;
  if (counterparts.empty()) {
    (send ? self_->sends : self_->recvs).push_back(mine);  // matched by the next counterpart posted
  } else {
    const std::shared_ptr<nccl::SelfTransfer> other = counterparts.front();
    const nccl::SelfTransfer& from = send ? *mine : *other;
    const nccl::SelfTransfer& to = send ? *other : *mine;
    TRIDENT_CHECK(from.tensor.numel() == to.tensor.numel() && from.tensor.dtype() == to.tensor.dtype(), to.desc.str(),
                  " on ", where(), " got ", from.desc.count, " ", dtype_name(from.desc.dtype),
                  " elements: the sender's tensor has a different size or dtype");
    counterparts.pop_front();
    std::shared_ptr<nccl::WatchedOp> copy;
    if (to.tensor.nbytes() > 0) {
      copy = enqueue(group_, to.desc, [&](ncclComm_t, cudaStream_t s) {
        TRIDENT_CUDA_CHECK(
            cudaMemcpyAsync(to.tensor.raw(), from.tensor.raw(), to.tensor.nbytes(), cudaMemcpyDeviceToDevice, s));
      });
    }
    mine->op = other->op = copy;
    mine->matched = other->matched = true;
  }
  return Request(std::make_unique<nccl::NcclRequest>(mine, self_, where(), device_, compute_));
}

const NcclCommunicator::Channel* NcclCommunicator::ring_channel(int peer, bool send) const {
  if (!ring_connected_ || ring_.empty()) return nullptr;
  const int next = (rank_ + 1) % size_;
  const int prev = (rank_ + size_ - 1) % size_;
  // With two ranks next == prev: whichever end of the pair this rank is, one of the two is set.
  const int via_next = send ? to_next_ : from_next_;
  const int via_prev = send ? to_prev_ : from_prev_;
  if (peer == next && via_next >= 0) return &ring_[static_cast<std::size_t>(via_next)];
  if (peer == prev && via_prev >= 0) return &ring_[static_cast<std::size_t>(via_prev)];
  return nullptr;
}

int NcclCommunicator::add_channel(ncclComm_t comm, const std::string& name, int pair_rank, std::vector<int> members) {
  auto state = std::make_shared<nccl::CommState>();
  state->comm = comm;
  state->name = name;
  state->device = device_;
  state->members = std::move(members);
  try {
    TRIDENT_NCCL_CHECK(ncclCommCount(comm, &state->size), where());
    TRIDENT_NCCL_CHECK(ncclCommUserRank(comm, &state->rank), where());
    TRIDENT_CHECK(state->size == 2 && state->rank == pair_rank, "ring channel '", name, "' of ", where(),
                  " came out as rank ", state->rank, " of ", state->size, " instead of rank ", pair_rank,
                  " of 2: the NCCL split is broken");
  } catch (...) {
    ncclCommAbort(comm);
    throw;
  }
  ring_.push_back(Channel{state, CudaContext::get(device_).stream(name), name, 1 - pair_rank});
  nccl::Watchdog::get().watch_comm(state);
  return static_cast<int>(ring_.size()) - 1;
}

void NcclCommunicator::connect_ring_neighbors() {
  if (ring_connected_) return;  // every rank has made the same calls, so all return here together
  if (size_ == 1) {             // the only neighbour is oneself: transfers to self are copies
    ring_connected_ = true;
    return;
  }
  const NvtxRange range(name_ + " connect_ring_neighbors", NvtxColor::kCommunication);
  CudaDeviceGuard guard(device_);
  const int n = size_;
  const int next = (rank_ + 1) % n;
  const int prev = (rank_ + n - 1) % n;
  // Ring edge e joins group ranks e and e+1 (mod n). Adjacent edges get different colours (two
  // alternate around an even ring; an odd ring needs a third for its last edge), so in the round of
  // one colour every rank is on at most one edge, and one ncclCommSplit of the group gives every
  // edge of that colour its pair communicator. A second split of each pair gives the other
  // direction. Two ranks: one edge, one round.
  const auto colour = [n](int e) { return n % 2 == 0 ? e % 2 : (e == n - 1 ? 2 : e % 2); };
  const int rounds = n == 2 ? 1 : (n % 2 == 0 ? 2 : 3);
  const std::vector<int>& world = group_.state->members;
  // NCCL connects the two ranks of a channel on its first transfer, a handshake that blocks the host
  // of both until the other also transfers on it. Left to the first real transfer, a ring whose
  // ranks all post their receives first would block every host in that handshake, each waiting for
  // a neighbour that waits too. So each new channel carries one i32 right away, both ends together.
  std::int32_t* word = nullptr;
  TRIDENT_CUDA_CHECK(cudaMallocAsync(reinterpret_cast<void**>(&word), sizeof(std::int32_t), compute_));
  TRIDENT_CUDA_CHECK(cudaMemsetAsync(word, 0, sizeof(std::int32_t), compute_));
  const auto warm_up = [&](const Channel& channel, bool sends) {
    const OpDesc desc{sends ? "send" : "recv", 1, DType::kI32, sends ? "to" : "from", channel.peer};
    auto op = enqueue(channel, desc, [&](ncclComm_t c, cudaStream_t s) {
      TRIDENT_NCCL_CHECK(ncclGroupStart(), channel.state->where());
      const ncclResult_t posted =
          sends ? ncclSend(word, 1, ncclInt32, channel.peer, c, s) : ncclRecv(word, 1, ncclInt32, channel.peer, c, s);
      const ncclResult_t ended = ncclGroupEnd();
      if (posted != ncclSuccess)
        nccl::fail(__FILE__, __LINE__, sends ? "ncclSend" : "ncclRecv", posted, channel.state->where());
      if (ended != ncclSuccess) nccl::fail(__FILE__, __LINE__, "ncclGroupEnd", ended, channel.state->where());
    });
    nccl::wait_on_host(*op);
  };
  for (int round = 0; round < rounds; ++round) {
    int edge = -1;       // the edge this rank is on in this round, if any
    bool first = false;  // this rank is the edge's first rank (e); the other end is its next
    if (n == 2) {
      edge = 0;
      first = rank_ == 0;
    } else if (colour(rank_) == round) {
      edge = rank_;
      first = true;
    } else if (colour(prev) == round) {
      edge = prev;
      first = false;
    }
    const int pair_rank = first ? 0 : 1;  // the key orders the pair: first rank is rank 0
    ncclComm_t forward = split_handle(group_.state->comm, edge >= 0 ? edge : NCCL_SPLIT_NOCOLOR, pair_rank,
                                      detail::concat("ring channel split ", round + 1, " of ", rounds));
    if (!forward) continue;  // no edge this round
    ncclComm_t backward = nullptr;
    try {
      backward = split_handle(forward, 0, pair_rank, detail::concat("second ring channel of edge ", edge));
    } catch (...) {
      ncclCommAbort(forward);
      throw;
    }
    std::vector<int> members;
    if (!world.empty())
      members = {world[static_cast<std::size_t>(edge)], world[static_cast<std::size_t>((edge + 1) % n)]};
    // `forward` carries the edge's first rank → second, `backward` second → first.
    const int peer = first ? next : prev;
    const std::string send_name = detail::concat(name_, ":send:", peer);
    const std::string recv_name = detail::concat(name_, ":recv:", peer);
    int forward_index = -1;
    try {
      forward_index = add_channel(forward, first ? send_name : recv_name, pair_rank, members);
    } catch (...) {
      ncclCommAbort(backward);
      throw;
    }
    const int backward_index = add_channel(backward, first ? recv_name : send_name, pair_rank, members);
    (first ? to_next_ : from_prev_) = forward_index;
    (first ? from_next_ : to_prev_) = backward_index;
    // Both ends warm the forward channel first, then the backward one: the handshakes pair up.
    warm_up(ring_[static_cast<std::size_t>(forward_index)], /*sends=*/first);
    warm_up(ring_[static_cast<std::size_t>(backward_index)], /*sends=*/!first);
  }
  TRIDENT_CUDA_CHECK(cudaFreeAsync(word, compute_));  // the warm-ups completed (host-waited above)
  ring_connected_ = true;
}

}  // namespace trident
