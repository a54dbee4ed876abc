#pragma once
// Proportional Rate Reduction (RFC 6937 §3), the arithmetic alone: how many bytes recovery may
// send on this ACK. Kept pure so that it is tested against the RFC's equations directly.
#include <algorithm>
#include <cstdint>

namespace tunstack::tcp {

/// The state PRR keeps over one recovery episode, in bytes.
struct PrrState {
  std::uint64_t delivered = 0;   ///< prr_delivered: delivered to the receiver since recovery began
  std::uint64_t out = 0;         ///< prr_out: sent since recovery began
  std::uint64_t recover_fs = 1;  ///< RecoverFS: the pipe when recovery began
};

/// sndcnt for an ACK that delivered `delivered_now` bytes, with `pipe` in flight after it and
/// the controller's `ssthresh`: proportional while pipe > ssthresh, slow start back up to
/// ssthresh after it (PRR-SSRB); at least one segment for the fast retransmit itself. The caller
/// has added `delivered_now` to s.delivered. May be negative (nothing to send).
inline std::int64_t prr_sndcnt(const PrrState& s, std::uint64_t delivered_now, std::uint64_t pipe,
                               std::uint64_t ssthresh, std::uint32_t mss) {
  std::int64_t sndcnt;
  if (pipe > ssthresh) {
    // CEIL(prr_delivered * ssthresh / RecoverFS) - prr_out
    const std::uint64_t fs = std::max<std::uint64_t>(s.recover_fs, 1);
    const std::uint64_t target = (s.delivered * ssthresh + fs - 1) / fs;
    sndcnt = static_cast<std::int64_t>(target) - static_cast<std::int64_t>(s.out);
  } else {
    // MIN(ssthresh - pipe, MAX(prr_delivered - prr_out, DeliveredData) + MSS)
    const std::int64_t limit = std::max<std::int64_t>(static_cast<std::int64_t>(s.delivered) -
                                                          static_cast<std::int64_t>(s.out),
                                                      static_cast<std::int64_t>(delivered_now)) + mss;
    sndcnt = std::min<std::int64_t>(static_cast<std::int64_t>(ssthresh - pipe), limit);
  }
  if (s.out == 0 && sndcnt < static_cast<std::int64_t>(mss)) sndcnt = mss;  // the fast retransmit
  return sndcnt;
}

}  // namespace tunstack::tcp
