#include "experiments/cli/mesh_check.h"

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <string>

namespace trident {

namespace {

std::string list(const std::vector<int>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? " " : "") + std::to_string(v[i]);
  return s + "]";
}

std::vector<int> values(const Tensor& t) {
  const auto* p = t.data<std::int32_t>();
  return std::vector<int>(p, p + t.numel());
}

Tensor ints(const std::vector<int>& v) {
  Tensor t = Tensor::empty({static_cast<std::int64_t>(v.size())}, DType::kI32);
  for (std::size_t i = 0; i < v.size(); ++i) t.data<std::int32_t>()[i] = v[i];
  return t;
}

class Checker {
 public:
  explicit Checker(MeshCheckResult& r) : r_(r) {}
  void expect(const std::string& what, const std::vector<int>& got, const std::vector<int>& want) {
    ++r_.checks;
    if (got != want) r_.failures.push_back(what + ": got " + list(got) + ", expected " + list(want));
  }

 private:
  MeshCheckResult& r_;
};

// Collectives inside one group. `members` are the group's world ranks in group-rank order, as the
// layout says they must be.
void check_group(Communicator& comm, const std::vector<int>& members, int world_rank, Checker& c) {
  const std::string g = comm.name();
  const int n = static_cast<int>(members.size());
  c.expect(g + " size", {comm.size()}, {n});
  int me = -1;
  for (int i = 0; i < n; ++i)
    if (members[static_cast<std::size_t>(i)] == world_rank) me = i;
  c.expect(g + " rank", {comm.rank()}, {me});

  // all_reduce(sum) of world ranks: the sum of the members, so the group holds exactly them.
  Tensor sum = ints({world_rank});
  comm.all_reduce(sum, ReduceOp::kSum);
  c.expect(g + " all_reduce(sum)", values(sum), {std::accumulate(members.begin(), members.end(), 0)});

  // all_reduce(max) on f32.
  Tensor mx = Tensor::empty({1});
  mx.data<float>()[0] = static_cast<float>(world_rank);
  comm.all_reduce(mx, ReduceOp::kMax);
  c.expect(g + " all_reduce(max)", {static_cast<int>(mx.data<float>()[0])},
           {*std::max_element(members.begin(), members.end())});

  // all_gather of world ranks: the members in coordinate order.
  Tensor gathered = Tensor::empty({n}, DType::kI32);
  comm.all_gather(ints({world_rank}), gathered);
  c.expect(g + " all_gather", values(gathered), members);

  // reduce_scatter: rank i contributes world_rank·n + j to slot j; slot `me` sums to Σ members·n + me·n.
  std::vector<int> contrib(static_cast<std::size_t>(n));
  for (int j = 0; j < n; ++j) contrib[static_cast<std::size_t>(j)] = world_rank * n + j;
  Tensor scattered = Tensor::empty({1}, DType::kI32);
  comm.reduce_scatter(ints(contrib), scattered, ReduceOp::kSum);
  c.expect(g + " reduce_scatter", values(scattered),
           {std::accumulate(members.begin(), members.end(), 0) * n + me * n});

  // broadcast from the last group rank.
  Tensor b = ints({world_rank});
  comm.broadcast(b, n - 1);
  c.expect(g + " broadcast", values(b), {members.back()});

  comm.barrier();
}

}  // namespace

MeshCheckResult check_mesh_communicators(const DeviceMesh& mesh) {
  MeshCheckResult result;
  Checker c(result);
  const MeshLayout& layout = mesh.layout();
  const int me = mesh.world().rank();

  std::vector<int> everyone(static_cast<std::size_t>(layout.world_size()));
  std::iota(everyone.begin(), everyone.end(), 0);
  check_group(mesh.world(), everyone, me, c);
  for (MeshAxis axis : {MeshAxis::kTensor, MeshAxis::kPipeline, MeshAxis::kData})
    check_group(mesh.group(axis), layout.group(axis, me), me, c);
  if (Communicator* emb = mesh.embedding_group()) check_group(*emb, layout.embedding_group(me), me, c);
  c.expect("embedding group membership", {mesh.embedding_group() != nullptr},
           {!layout.embedding_group(me).empty()});

  // Pipeline neighbours: each stage sends its world rank to the next stage and receives from the
  // previous one (a ring, so every rank both sends and receives), the pattern of activations in
  // forward and gradients in backward.
  Communicator& pp = mesh.pp_group();
  const int p = pp.size(), stage = pp.rank();
  const std::vector<int> stages = layout.group(MeshAxis::kPipeline, me);
  Tensor from_prev = Tensor::empty({1}, DType::kI32), from_next = Tensor::empty({1}, DType::kI32);
  std::vector<Request> reqs;
  reqs.push_back(pp.recv(from_prev, (stage + p - 1) % p, /*tag=*/1));
  reqs.push_back(pp.recv(from_next, (stage + 1) % p, /*tag=*/2));
  const Tensor mine = ints({me});
  reqs.push_back(pp.send(mine, (stage + 1) % p, /*tag=*/1));
  reqs.push_back(pp.send(mine, (stage + p - 1) % p, /*tag=*/2));
  wait_all(reqs);
  c.expect("pp send/recv from previous stage", values(from_prev), {stages[static_cast<std::size_t>((stage + p - 1) % p)]});
  c.expect("pp send/recv from next stage", values(from_next), {stages[static_cast<std::size_t>((stage + 1) % p)]});
  return result;
}

}  // namespace trident
