// The schedule IR's unit: one action of one stage.
//
// Compute actions name a micro-batch and a *global* chunk (model stage) index:
//   F(mb, c)  forward of chunk c            B(mb, c)  full backward (input and weight gradients)
//   I(mb, c)  backward for the input only   W(mb, c)  backward for the weights only (after I)
//   FB        an F and a B of two different micro-batches issued as one overlapped action
//             (DualPipe's "F&B" chunk): F(mb, chunk) and B(b_mb, b_chunk). The two halves share
//             no data, so a device backend may run them concurrently; the executor runs them one
//             after the other on the stage's one compute stream (CPU ranks have one compute
//             thread), so today the pairing fixes the order, not a concurrency.
// Communication actions are added by lowering (lowering.h), never written by generators:
//   SEND_F(mb, c)  send chunk c's output activation to the stage of chunk c+1
//   RECV_F(mb, c)  receive chunk c's input activation from the stage of chunk c−1
//   SEND_B(mb, c)  send the gradient of chunk c's input to the stage of chunk c−1
//   RECV_B(mb, c)  receive the gradient of chunk c's output from the stage of chunk c+1
//
// Text form: the type letter(s), the micro-batch, a dot, the chunk: "F3.0", "I0.5", "W2.1",
// "SEND_F0.0", "RECV_B1.2"; an overlapped pair joins its halves with '+': "F3.1+B0.2".
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace trident {

// kFB is last so the other values (and their text names' order) stay as they were.
enum class ActionType : std::uint8_t { kF, kB, kI, kW, kSendF, kRecvF, kSendB, kRecvB, kFB };

struct Action {
  ActionType type = ActionType::kF;
  int mb = 0;
  int chunk = 0;
  int b_mb = 0;     // kFB only: the backward half's micro-batch
  int b_chunk = 0;  // kFB only: the backward half's chunk

  bool is_compute() const { return type <= ActionType::kW || type == ActionType::kFB; }
  bool is_send() const { return type == ActionType::kSendF || type == ActionType::kSendB; }
  bool is_recv() const { return type == ActionType::kRecvF || type == ActionType::kRecvB; }
  // B and I produce the input gradient that travels backward (an FB's backward half does too;
  // code that needs the halves uses parts()).
  bool is_backward_input() const { return type == ActionType::kB || type == ActionType::kI; }

  std::string str() const;
  friend bool operator==(const Action&, const Action&) = default;
};

// The single actions an action stands for, in the order they run: FB gives its F and its B;
// any other action gives itself (count = 1).
struct ActionParts {
  std::array<Action, 2> part;
  int count = 1;
  const Action* begin() const { return part.data(); }
  const Action* end() const { return part.data() + count; }
};
ActionParts parts(const Action& a);

std::string_view action_type_name(ActionType t);  // "F", "B", "I", "W", "SEND_F", …, "FB"
// Parses one action; throws trident::Error naming the token and the accepted form.
Action parse_action(std::string_view token);

inline Action F(int mb, int chunk) { return {ActionType::kF, mb, chunk}; }
inline Action B(int mb, int chunk) { return {ActionType::kB, mb, chunk}; }
inline Action I(int mb, int chunk) { return {ActionType::kI, mb, chunk}; }
inline Action W(int mb, int chunk) { return {ActionType::kW, mb, chunk}; }
// F(mb, chunk) overlapped with B(b_mb, b_chunk).
inline Action FB(int mb, int chunk, int b_mb, int b_chunk) { return {ActionType::kFB, mb, chunk, b_mb, b_chunk}; }

}  // namespace trident
