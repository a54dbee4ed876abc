// Segments and timers of a connection: segment construction (one copy of payload, from the send
// ring into the packet; headers prepended in its headroom), the ACK policy, zero-window probes,
// delayed ACKs, keepalive, TIME-WAIT and the dispatch of every deadline. What data leaves and
// when is the sender's (sender.cpp).
#include <algorithm>

#include "stack/ip/ip_out.hpp"
#include "stack/tcp/connection.hpp"
#include "stack/tcp/isn.hpp"
#include "stack/tcp/layer.hpp"

namespace tunstack::tcp {

using wire::TcpFlags;

std::uint32_t Connection::max_payload() const {
  // RFC 9293 §3.7.1: the effective send MSS, less the options every segment carries
  // (timestamps: 10 bytes + 2 NOPs).
  const std::uint32_t ours = layer_.our_mss(tuple_.client.addr.version());
  const std::uint32_t mss = std::min<std::uint32_t>(peer_mss_, ours);
  const std::uint32_t opts = ts_ok_ ? 12u : 0u;
  return mss > opts + 16 ? mss - opts : 16;
}

std::uint32_t Connection::ts_now(Instant now) const { return ts_clock(now, layer_.origin(), ts_base_); }

bool Connection::send_segment(Instant now, TcpFlags flags, SeqNum seq, std::uint32_t len) {
  wire::TcpRepr r;
  r.src_port = tuple_.server.port;
  r.dst_port = tuple_.client.port;
  r.seq = seq;
  r.flags = flags;
  if (flags.has(TcpFlags::ACK)) r.ack = ack_value();
  const bool syn = flags.has(TcpFlags::SYN);
  if (ts_ok_) r.options.timestamps = wire::TcpTimestamps{ts_now(now), ts_recent_};
  if (syn) {
    // RFC 9293 §3.7.1 MSS; RFC 7323 §2.2 window scale and §3.2 timestamps only when the client
    // offered them; RFC 2018 §2 SACK-permitted likewise. The SYN's window is never scaled.
    r.options.mss = layer_.our_mss(tuple_.client.addr.version());
    if (wscale_ok_) r.options.wscale = rcv_wscale_;
    r.options.sack_permitted = sack_ok_;
    r.window = static_cast<std::uint16_t>(rx_.window_to_advertise(max_payload(), 0));
  } else {
    r.window = static_cast<std::uint16_t>(rx_.window_to_advertise(max_payload(), rcv_wscale_) >> rcv_wscale_);
    if (sack_ok_ && flags.has(TcpFlags::ACK) && !flags.has(TcpFlags::RST)) {
      std::array<wire::SackBlock, wire::kTcpMaxSackBlocks> blocks{};
      const std::size_t n = rx_.sack_blocks(blocks);
      for (std::size_t i = 0; i < n; ++i) (void)r.options.add_sack(blocks[i]);
      r.options.sack_count = static_cast<std::uint8_t>(r.options.emitted_sack_count());
    }
  }
  // A data segment must still fit the MTU: SACK blocks give way to payload.
  const std::size_t ip_len = ip::ip_header_len(tuple_.client.addr.version());
  if (len > 0 && ip_len + r.size() + len > layer_.config().mtu) r.options.sack_count = 0;
  PacketBuf p = layer_.pool().alloc(len);
  if (!p.valid()) {
    layer_.mutable_stats().drop(DropReason::NoBuffer);
    return false;
  }
  if (len > 0) {
    // The one copy of remote payload toward the client: send ring -> segment buffer.
    sbuf_.read_at(static_cast<std::size_t>(seq - sbuf_start()), p.append(len));
  }
  const std::size_t hlen = r.size();
  MutBytes header = p.prepend(hlen);
  r.emit(header, p.view().subspan(hlen), tuple_.server.addr, tuple_.client.addr);
  if (r.ack) {
    last_ack_sent_ = *r.ack;
    unacked_segments_ = 0;
    ack_now_ = false;
    delack_at_.reset();
  }
  TcpStats& st = layer_.mutable_stats();
  ++st.segments_out;
  st.bytes_out += len;
  layer_.emit(std::move(p), tuple_);
  return true;
}

void Connection::send_synack(Instant now) {
  (void)send_segment(now, TcpFlags::SYN | TcpFlags::ACK, iss_, 0);
  snd_nxt_ = iss_ + 1;
  snd_max_ = seq_max(snd_max_, snd_nxt_);
  if (retries_ == 0 && !timing_) {
    timing_ = true;  // Karn: only the first SYN-ACK is timed
    timed_seq_ = iss_;
    timed_at_ = now;
  } else {
    timing_ = false;
  }
  arm_rto(now);
}

void Connection::send_ack(Instant now) {
  if (state_ == State::SynPending || state_ == State::Closed) return;
  (void)send_segment(now, TcpFlags::ACK, snd_nxt_, 0);
}

void Connection::send_rst(Instant now) {
  if (state_ == State::SynPending) {
    // RFC 9293 §3.10.7.1-style answer to a SYN we never acknowledged: <SEQ=0><ACK=SEG.SEQ+1>.
    (void)send_segment(now, TcpFlags::RST | TcpFlags::ACK, SeqNum{0}, 0);
    return;
  }
  (void)send_segment(now, TcpFlags::RST | TcpFlags::ACK, snd_max_, 0);
}

void Connection::send_challenge_ack(Instant now) {
  // RFC 5961 §7: challenge ACKs share one layer-wide budget, so a flood of spoofed RSTs/SYNs
  // cannot turn the stack into an ACK amplifier.
  if (!layer_.allow_challenge_ack(now)) return;
  send_ack(now);
}

void Connection::abort_with_rst(Instant now, RstReason why) {
  layer_.mutable_stats().rst(why);
  send_rst(now);
  close(true);
}

void Connection::schedule_ack(Instant now, bool immediately) {
  if (immediately || unacked_segments_ >= 2 || quickacks_ > 0) {
    if (quickacks_ > 0) --quickacks_;
    ack_now_ = true;
    return;
  }
  if (!delack_at_) delack_at_ = now + layer_.config().delack_timeout;  // RFC 9293 §3.8.6.3
}

void Connection::arm_rto(Instant now) { rto_at_ = clamp_to_user_timeout(now + rtt_.rto()); }

void Connection::note_unacked(Instant now) {
  if (flight() == 0) unacked_since_ = now;  // the first unacknowledged byte leaves now
}

bool Connection::user_timed_out(Instant now) const {
  const Duration ut = layer_.config().user_timeout;
  return ut > Duration{0} && state_ != State::SynReceived && flight() > 0 && now - unacked_since_ >= ut;
}

Deadline Connection::clamp_to_user_timeout(Instant deadline) const {
  // As Linux (tcp_clamp_rto_to_user_timeout): wake up when the user timeout ends rather than at
  // the next, possibly much later, backed-off timer.
  const Duration ut = layer_.config().user_timeout;
  if (ut <= Duration{0} || state_ == State::SynReceived || flight() == 0) return deadline;
  return std::min(deadline, unacked_since_ + ut);
}

void Connection::on_persist(Instant now) {
  if (snd_wnd_ != 0 || data_end() <= snd_nxt_) {
    persist_backoff_ = 0;
    return;
  }
  if (user_timed_out(now)) {
    // The window stayed shut past the user timeout (Linux tcp_probe_timer).
    ++layer_.mutable_stats().user_timeouts;
    abort_with_rst(now, RstReason::Timeout);
    return;
  }
  ++layer_.mutable_stats().persist_probes;
  note_unacked(now);
  // One byte beyond the closed window (RFC 9293 §3.8.6.1). snd_nxt stays put, snd_max covers the
  // byte so that the ACK of an accepted probe is acceptable.
  (void)send_segment(now, TcpFlags::ACK, snd_nxt_, 1);
  snd_max_ = seq_max(snd_max_, snd_nxt_ + 1);
  ++persist_backoff_;
  try_output(now);  // re-arms the persist deadline with the doubled interval
}

void Connection::on_keepalive(Instant now) {
  if (state_ != State::Established) return;
  // With a user timeout, it bounds the silence instead of the probe count (as Linux).
  const Duration ut = layer_.config().user_timeout;
  const bool give_up = ut > Duration{0} ? keepalive_sent_ > 0 && now - last_rx_ >= ut
                                        : keepalive_sent_ >= layer_.config().keepalive_probes;
  if (give_up) {
    if (ut > Duration{0}) ++layer_.mutable_stats().user_timeouts;
    abort_with_rst(now, RstReason::Timeout);
    return;
  }
  ++keepalive_sent_;
  ++layer_.mutable_stats().keepalive_probes;
  (void)send_segment(now, TcpFlags::ACK, snd_una_ - 1, 0);  // RFC 9293 §3.8.4: SEG.SEQ = SND.NXT-1
  keepalive_at_ = now + layer_.config().keepalive_interval;
}

void Connection::enter_time_wait(Instant now) {
  state_ = State::TimeWait;
  rto_at_.reset();
  persist_at_.reset();
  keepalive_at_.reset();
  tlp_at_.reset();
  reo_at_.reset();
  send_at_.reset();
  sws_at_.reset();
  state_at_ = now + layer_.config().time_wait;
  (void)rx_.release_if_empty();  // nothing more can arrive or leave
  sbuf_.release();
  sb_.release_if_empty();
}

void Connection::on_timer(Instant now) {
  if (dead()) return;
  if (state_at_ && now >= *state_at_) {
    state_at_.reset();
    switch (state_) {
      case State::TimeWait:
        if (rx_.readable() > 0 && !session_done_ && retries_ < kMaxDrainLingers) {
          // The session still has not taken the client's last bytes: wait a little longer.
          ++retries_;
          state_at_ = now + layer_.config().time_wait;
          break;
        }
        close(rx_.readable() > 0);  // data still undelivered: abort rather than lose it quietly
        return;
      case State::SynPending: {
        // The outbound never connected and the client has seen nothing from us: tell it the
        // destination is unreachable (an application gets EHOSTUNREACH instead of retrying
        // SYNs into a silent gateway), as when the outbound itself reports a timeout.
        ++layer_.mutable_stats().icmp_unreachable_requests;
        dispatch::RemoteError why;
        why.kind = dispatch::RemoteError::Kind::HostUnreachable;
        why.remote = tuple_.server;
        why.reporter = tuple_.server.addr;
        layer_.send_unreachable(tuple_, irs_, why);
        layer_.mutable_stats().rst(RstReason::Timeout);
        close(true);
        return;
      }
      case State::SynReceived:
      case State::FinWait2:
        // The client never completed the handshake, or never sent its FIN: give up.
        layer_.mutable_stats().rst(RstReason::Timeout);
        send_rst(now);
        close(true);
        return;
      default:
        if (!connected_) {
          // Past the handshake (immediate SYN-ACK, SYN cookie) but the outbound never came up.
          abort_with_rst(now, RstReason::Timeout);
          return;
        }
        break;
    }
  }
  if (delack_at_ && now >= *delack_at_) {
    delack_at_.reset();
    send_ack(now);
  }
  // The probe first: scheduled in the RTO's place, it re-arms the RTO when it goes out.
  if (tlp_at_ && now >= *tlp_at_) {
    tlp_at_.reset();
    on_tlp(now);
  }
  if (rto_at_ && now >= *rto_at_) {
    rto_at_.reset();
    tlp_at_.reset();
    on_rto(now);
    if (dead()) return;
  }
  if (reo_at_ && now >= *reo_at_) {
    reo_at_.reset();
    on_rack_timer(now);
  }
  if (send_at_ && now >= *send_at_) {
    send_at_.reset();
    on_send_timer(now);
  }
  if (sws_at_ && now >= *sws_at_) {
    sws_at_.reset();
    on_sws_timer(now);
  }
  if (persist_at_ && now >= *persist_at_) {
    persist_at_.reset();
    on_persist(now);
  }
  if (keepalive_at_ && now >= *keepalive_at_) {
    keepalive_at_.reset();
    on_keepalive(now);
    if (dead()) return;
  }
  if (buf_idle_at_ && now >= *buf_idle_at_) {
    buf_idle_at_.reset();
    release_idle_buffers();
    maybe_resume_reading();  // after a failed allocation (on_data) this is the retry
  }
}

std::optional<Instant> Connection::next_deadline() const {
  Instant best = Instant::max();
  for (const Deadline d : {rto_at_, persist_at_, delack_at_, keepalive_at_, state_at_, buf_idle_at_, tlp_at_,
                           reo_at_, send_at_, sws_at_})
    if (d && *d < best) best = *d;
  if (best == Instant::max()) return std::nullopt;
  return best;
}

bool Connection::accepts_new_syn(const wire::TcpRepr& syn) const {
  if (state_ != State::TimeWait) return false;
  // As Linux's tcp_timewait_state_process: a newer timestamp, or without timestamps an ISN
  // beyond the old connection's sequence space (RFC 6191 §2; RFC 9293 §3.10.7.4 TIME-WAIT note).
  if (ts_ok_ && syn.options.timestamps)
    return static_cast<std::int32_t>(syn.options.timestamps->tsval - ts_recent_) > 0;
  return syn.seq > ack_value();
}

}  // namespace tunstack::tcp
