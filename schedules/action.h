// The schedule IR's unit: one action of one stage.
//
// Compute actions name a micro-batch and a *global* chunk (model stage) index:
//   F(mb, c)  forward of chunk c            B(mb, c)  full backward (input and weight gradients)
//   I(mb, c)  backward for the input only   W(mb, c)  backward for the weights only (after I)
// Communication actions are added by lowering (lowering.h), never written by generators:
//   SEND_F(mb, c)  send chunk c's output activation to the stage of chunk c+1
//   RECV_F(mb, c)  receive chunk c's input activation from the stage of chunk c−1
//   SEND_B(mb, c)  send the gradient of chunk c's input to the stage of chunk c−1
//   RECV_B(mb, c)  receive the gradient of chunk c's output from the stage of chunk c+1
//
// Text form: the type letter(s), the micro-batch, a dot, the chunk: "F3.0", "I0.5", "W2.1",
// "SEND_F0.0", "RECV_B1.2".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace trident {

enum class ActionType : std::uint8_t { kF, kB, kI, kW, kSendF, kRecvF, kSendB, kRecvB };

struct Action {
  ActionType type = ActionType::kF;
  int mb = 0;
  int chunk = 0;

  bool is_compute() const { return type <= ActionType::kW; }
  bool is_send() const { return type == ActionType::kSendF || type == ActionType::kSendB; }
  bool is_recv() const { return type == ActionType::kRecvF || type == ActionType::kRecvB; }
  // B and I produce the input gradient that travels backward.
  bool is_backward_input() const { return type == ActionType::kB || type == ActionType::kI; }

  std::string str() const;
  friend bool operator==(const Action&, const Action&) = default;
};

std::string_view action_type_name(ActionType t);  // "F", "B", "I", "W", "SEND_F", …
// Parses one action; throws trident::Error naming the token and the accepted form.
Action parse_action(std::string_view token);

inline Action F(int mb, int chunk) { return {ActionType::kF, mb, chunk}; }
inline Action B(int mb, int chunk) { return {ActionType::kB, mb, chunk}; }
inline Action I(int mb, int chunk) { return {ActionType::kI, mb, chunk}; }
inline Action W(int mb, int chunk) { return {ActionType::kW, mb, chunk}; }

}  // namespace trident
