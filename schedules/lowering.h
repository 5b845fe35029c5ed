// Lowering: adds the point-to-point communication to a compute-only schedule.
//
// For every F(mb, c) whose input comes from another stage, RECV_F(mb, c) goes right before it on
// its stage, and SEND_F(mb, c−1) right after F(mb, c−1) on the producer's stage; likewise for the
// input gradient of B/I(mb, c): SEND_B(mb, c) after it, RECV_B(mb, c−1) right before the consumer's
// B/I(mb, c−1). An overlapped FB gets its halves' receives before it and their sends after it.
// Chunks adjacent on the same stage (the V placement's turn) hand over in memory.
// The pass writes both ends of every transfer, so sends and receives agree by construction.
#pragma once

#include "schedules/schedule.h"

namespace trident {

Schedule lower(const Schedule& compute_only);
// The compute actions only (inverse of lower).
Schedule strip_communication(const Schedule& s);

}  // namespace trident
