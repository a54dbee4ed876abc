// A connection's buffers over time: receive-buffer auto-tuning (dynamic right-sizing, as Linux's
// tcp_rcv_space_adjust), send-buffer growth with cwnd (as tcp_sndbuf_expand), and the release of
// ring storage once a ring has stayed empty for a while (ring.hpp).
#include <algorithm>

#include "stack/tcp/connection.hpp"
#include "stack/tcp/layer.hpp"

namespace tunstack::tcp {

Duration Connection::rcv_rtt() const {
  // The receiver's own estimate from timestamps; else the sender's (at least the SYN-ACK's
  // round trip); negative when neither exists yet (no auto-tuning until one does). At least
  // 1 ms: the timestamp clock cannot tell less, and a shorter interval says nothing about rate.
  constexpr Duration kFloor = std::chrono::milliseconds(1);
  if (rcv_rtt_us_ != 0) return std::max<Duration>(std::chrono::microseconds(rcv_rtt_us_), kFloor);
  if (rtt_.has_sample()) return std::max(rtt_.srtt(), kFloor);
  return Duration{-1};
}

void Connection::rcv_rtt_sample(Instant now, const wire::TcpRepr& seg, std::uint32_t len) {
  // Linux's tcp_rcv_rtt_measure_ts: a near-full segment that echoes a TSval we have not sampled
  // yet; the time since we sent that TSval is about one round trip for a window-limited sender.
  if (!ts_ok_ || !seg.options.timestamps || 2 * len < max_payload()) return;
  const std::uint32_t tsecr = seg.options.timestamps->tsecr;
  if (tsecr == 0 || tsecr == rcv_rtt_tsecr_) return;
  rcv_rtt_tsecr_ = tsecr;
  const std::uint32_t ms = ts_now(now) - tsecr;
  if (ms >= 600000) return;  // not an echo of our clock
  const std::uint32_t us = std::max<std::uint32_t>(ms, 1) * 1000;  // 1 ms ticks: less counts as 1
  rcv_rtt_us_ = rcv_rtt_us_ == 0 ? us : rcv_rtt_us_ - rcv_rtt_us_ / 8 + us / 8;
}

void Connection::rcv_space_adjust(Instant now) {
  // Called when the session took bytes. Once per RTT, compare what it took in that RTT with the
  // best so far; when it grew, size the buffer for twice that (loss recovery), 16 segments of
  // cushion and twice the growth (a sender in slow start doubles each RTT).
  const Duration rtt = rcv_rtt();
  if (rtt < Duration{0}) return;
  const Duration elapsed = now - rcvq_time_;
  if (elapsed < rtt) return;
  std::uint64_t copied = static_cast<std::uint32_t>(rx_.read_seq() - rcvq_seq_);
  // After a pause the interval spans many RTTs: scale to one RTT (a burst after idling is not
  // a rate the window must sustain).
  if (elapsed > 2 * rtt) copied = copied * static_cast<std::uint64_t>(rtt.count()) / static_cast<std::uint64_t>(elapsed.count());
  rcvq_seq_ = rx_.read_seq();
  rcvq_time_ = now;
  if (copied <= rcvq_space_) return;
  const TcpConfig& cfg = layer_.config();
  // The window cannot say more than 0xffff << shift (RFC 7323 §2.3).
  const std::uint64_t field_max = std::uint64_t{0xffff} << rcv_wscale_;
  const std::uint64_t limit = std::min<std::uint64_t>(clamp_buf(cfg.rcv_buf_max, cfg), field_max);
  const std::uint64_t mss = max_payload();
  std::uint64_t win = 2 * copied + 16 * mss;
  if (win < limit) win += 2 * (win * (copied - rcvq_space_) / std::max<std::uint64_t>(rcvq_space_, 1));
  rcvq_space_ = static_cast<std::uint32_t>(std::min<std::uint64_t>(copied, 0xffffffffu));
  const auto target = static_cast<std::uint32_t>(std::min(win, limit));
  if (target > rx_.capacity()) {
    rx_.grow_capacity(target);  // storage follows lazily; the right edge only moves right
    ++layer_.mutable_stats().rcv_buf_grown;
  }
}

void Connection::snd_buf_expand() {
  // Two congestion windows: one in flight, one queued behind it, so the outbound's writes keep
  // up with the ACK clock (Linux sizes sk_sndbuf the same way).
  const TcpConfig& cfg = layer_.config();
  const std::uint64_t want = 2 * std::uint64_t{cc_->cwnd()};
  const auto target = static_cast<std::uint32_t>(std::min<std::uint64_t>(want, clamp_buf(cfg.snd_buf_max, cfg)));
  if (target > sbuf_.capacity()) {
    sbuf_.grow_capacity(target);
    ++layer_.mutable_stats().snd_buf_grown;
  }
}

void Connection::buffers_maybe_idle(Instant now) {
  // A ring just became empty. Free its storage after buf_idle_release of quiet, not at once:
  // a connection in use empties its rings between segments (the session drains the receive
  // ring at once; ACKs empty the send ring between two reads from a slower remote), and
  // freeing then would mean an allocation per segment.
  const bool rx_idle = rx_.empty() && rx_.allocated() > 0;
  const bool tx_idle = sbuf_len_ == 0 && sbuf_.allocated() > 0;
  if (!rx_idle && !tx_idle) return;
  const Duration idle = layer_.config().buf_idle_release;
  if (idle <= Duration{0}) release_idle_buffers();
  else buf_idle_at_ = now + idle;
}

void Connection::release_idle_buffers() {
  (void)rx_.release_if_empty();
  if (sbuf_len_ == 0) sbuf_.release();
  sb_.release_if_empty();
}

}  // namespace tunstack::tcp
