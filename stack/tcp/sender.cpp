// What the sender puts on the wire and when: retransmissions of segments the scoreboard calls
// lost first (RFC 6675 §5 NextSeg rule 1), then new data within the client's window and the
// congestion window (PRR's during fast recovery), with sender-side SWS avoidance and its override
// timer (RFC 9293 §3.8.6.2.1), pacing from the controller's rate released in small bursts per
// timer tick, back-pressure from the TUN output queue (as Linux's TCP small queues), the tail
// loss probe (RFC 8985 §7) and the retransmission timeout (RFC 6298, RFC 6675 §5.1).
#include <algorithm>

#include "stack/tcp/connection.hpp"
#include "stack/tcp/layer.hpp"

namespace tunstack::tcp {

using wire::TcpFlags;

namespace {
/// Pacing releases what is due within this much of now at once: one timer tick, so that a
/// 10 Gbit/s flow needs no timer per segment.
constexpr Duration kPacingSlack = std::chrono::milliseconds(1);
/// Retry after the packet pool ran dry (nothing else may wake the connection).
constexpr Duration kNoBufferRetry = std::chrono::milliseconds(1);
/// RFC 9293 §3.8.6.2.1 override timeout (0.1 - 1 s).
constexpr Duration kSwsOverride = std::chrono::milliseconds(200);
/// RFC 8985 §7.2 WCDelAckT: the worst-case delayed-ACK time of a single outstanding segment.
constexpr Duration kWorstDelayedAck = std::chrono::milliseconds(200);
/// Segments of room kept free in the output queue for pure ACKs and other connections.
constexpr std::size_t kOutputReserve = 4;
}  // namespace

bool Connection::can_send_state() const {
  switch (state_) {
    case State::Established:
    case State::CloseWait:
    case State::FinWait1:
    case State::Closing:
    case State::LastAck:
      return true;
    default:
      return false;
  }
}

std::uint32_t Connection::send_cwnd() const {
  // During fast recovery with PRR the quota computed per ACK (pipe + sndcnt) is the window.
  if (state_recovery_ == RecoveryState::Recovery && layer_.config().prr && !cc_->sets_cwnd_in_recovery())
    return prr_cwnd_;
  return cc_->cwnd();
}

std::uint64_t Connection::pacing_rate() const {
  const TcpConfig& cfg = layer_.config();
  if (cfg.pacing == PacingMode::Off) return 0;
  if (const std::uint64_t r = cc_->pacing_rate(); r > 0) return r;
  if (cfg.pacing != PacingMode::On || !rtt_.has_sample()) return 0;
  // Linux's default: 200% of cwnd / srtt in slow start, 120% after.
  const auto srtt_ns = static_cast<double>(std::max<std::int64_t>(rtt_.srtt().count(), 1000));
  const double gain = cc_->cwnd() < cc_->ssthresh() ? 2.0 : 1.2;
  return static_cast<std::uint64_t>(gain * cc_->cwnd() * 1e9 / srtt_ns);
}

bool Connection::output_gate(Instant now) {
  if (layer_.output_room() < kOutputReserve) {
    layer_.block_on_output(*this);  // resumed by TcpLayer::on_output_room
    return false;
  }
  const std::uint64_t rate = pacing_rate();
  if (rate > 0 && pace_next_ > now + kPacingSlack) {
    send_at_ = pace_next_ - kPacingSlack;
    return false;
  }
  return true;
}

void Connection::after_send(Instant now, std::uint32_t len) {
  if (const std::uint64_t rate = pacing_rate(); rate > 0) {
    const auto ns = static_cast<std::int64_t>(static_cast<double>(len) * 1e9 / static_cast<double>(rate));
    pace_next_ = std::max(pace_next_, now - kPacingSlack) + Duration{ns};
  }
  if (state_recovery_ == RecoveryState::Recovery) prr_out_ += len;
  if (!rto_at_) arm_rto(now);
}

void Connection::try_output(Instant now) {
  if (!can_send_state()) return;
  const std::uint32_t mss = max_payload();
  for (;;) {
    const std::uint32_t cwnd = send_cwnd();
    const std::uint32_t pipe = sb_.in_flight();
    const Scoreboard::Id lost = sb_.next_lost();
    if (lost != sb_.tail()) {
      if (pipe >= cwnd) {
        cwnd_limited_now_ = true;
        break;
      }
      if (!output_gate(now) || !retransmit(now, lost)) break;
      continue;
    }
    const SendStep step = send_new_data(now, cwnd, pipe, mss);
    if (step == SendStep::Sent) continue;
    if (step == SendStep::CwndLimited) cwnd_limited_now_ = true;
    // Out of data, or held by the client's receive window, with cwnd to spare: the delivery
    // rates that follow say nothing about the path, so they are marked app-limited (the draft's
    // rule extended to the receive window: a Linux receiver opens its window over several
    // RTTs, and BBR would otherwise take the plateau for a full pipe and leave startup early).
    if ((step == SendStep::NoData || step == SendStep::WindowLimited) && pipe < cwnd)
      rate_.mark_app_limited(pipe);
    break;
  }
  arm_tlp(now);
  // RFC 9293 §3.8.6.1: with data queued, a zero window and nothing outstanding, probe it.
  const bool pending = data_end() > snd_nxt_;
  if (snd_wnd_ == 0 && pending && snd_nxt_ == snd_una_ && !persist_at_) {
    Duration d = rtt_.rto();
    for (std::uint32_t i = 0; i < persist_backoff_ && d < layer_.config().rto_max; ++i) d *= 2;
    persist_at_ = clamp_to_user_timeout(now + std::min(d, layer_.config().rto_max));
  }
}

Connection::SendStep Connection::send_new_data(Instant now, std::uint32_t cwnd, std::uint32_t pipe, std::uint32_t mss) {
  const SeqNum end = data_end();
  const std::uint32_t remaining = end > snd_nxt_ ? static_cast<std::uint32_t>(end - snd_nxt_) : 0;
  const bool fin_due = fin_queued_ && !fin_sent_;
  if (remaining == 0 && !fin_due) return SendStep::NoData;
  // RFC 9293 §3.8.6.2.1: the usable window is the client's offer beyond what is outstanding.
  const SeqNum right = snd_una_ + snd_wnd_;
  const std::uint32_t wnd_room = right > snd_nxt_ ? static_cast<std::uint32_t>(right - snd_nxt_) : 0;
  const std::uint32_t cwnd_room = cwnd > pipe ? cwnd - pipe : 0;
  const std::uint32_t len = std::min({mss, remaining, wnd_room, cwnd_room});
  const bool fin = fin_due && snd_nxt_ + len == fin_seq_;
  if (len == 0 && !fin) return cwnd_room == 0 ? SendStep::CwndLimited : SendStep::WindowLimited;
  if (len == 0 && cwnd_room == 0) return SendStep::CwndLimited;  // a FIN takes cwnd like data
  // Sender SWS avoidance: a short segment only when it is all we have or at least half the
  // largest window the client has offered, or when the override timer fired.
  if (len > 0 && len < mss && len < remaining && len < max_snd_wnd_ / 2 && !sws_override_) {
    if (flight() == 0 && !sws_at_) sws_at_ = now + kSwsOverride;
    return len == cwnd_room ? SendStep::CwndLimited : SendStep::WindowLimited;
  }
  if (!output_gate(now)) return SendStep::Blocked;
  TcpFlags flags = TcpFlags::ACK;
  if (len > 0 && len == remaining) flags |= TcpFlags::PSH;
  if (fin) flags |= TcpFlags::FIN;
  note_unacked(now);
  if (!transmit(now, flags, snd_nxt_, len)) return SendStep::Blocked;
  SentSeg& s = sb_.push(snd_nxt_, len + (fin ? 1u : 0u));
  if (fin) s.flags |= SentSeg::kFin;
  s.xmit = now;
  rate_.on_send(s, now, pipe);
  trace(now, TraceEvent::Send, static_cast<std::uint32_t>(snd_nxt_ - (iss_ + 1)), len, Duration{-1});
  snd_nxt_ += len + (fin ? 1u : 0u);
  if (fin) fin_sent_ = true;
  snd_max_ = seq_max(snd_max_, snd_nxt_);
  sws_at_.reset();
  after_send(now, len);
  return SendStep::Sent;
}

bool Connection::retransmit(Instant now, Scoreboard::Id id) {
  SentSeg& s = sb_.at(id);
  const bool fin = s.has(SentSeg::kFin);
  const std::uint32_t len = s.len - (fin ? 1u : 0u);
  TcpFlags flags = TcpFlags::ACK;
  if (fin) flags |= TcpFlags::FIN;
  if (!transmit(now, flags, s.start, len)) return false;
  const std::uint32_t pipe = sb_.in_flight();
  sb_.on_retransmit(s, now);
  rate_.on_send(s, now, pipe);
  rack_.on_retransmit(id, now);
  ++layer_.mutable_stats().retransmits;
  if (undo_armed_) {
    ++undo_retrans_;
    undo_retrans_seen_ = true;
  }
  if (state_recovery_ == RecoveryState::Loss && !loss_retrans_sent_) {
    loss_retrans_sent_ = true;
    loss_retrans_tsval_ = ts_now(now);  // Eifel compares the echo with this
  }
  trace(now, TraceEvent::Retransmit, static_cast<std::uint32_t>(s.start - (iss_ + 1)), len, Duration{-1});
  after_send(now, s.len);
  return true;
}

bool Connection::transmit(Instant now, wire::TcpFlags flags, SeqNum seq, std::uint32_t len) {
  if (send_segment(now, flags, seq, len)) return true;
  // The packet pool is empty: nothing else may wake this connection, so retry shortly.
  ++layer_.mutable_stats().output_no_buffer;
  send_at_ = now + kNoBufferRetry;
  return false;
}

void Connection::on_send_timer(Instant now) { try_output(now); }

void Connection::on_sws_timer(Instant now) {
  sws_override_ = true;  // RFC 9293 §3.8.6.2.1: send what the window allows
  try_output(now);
  sws_override_ = false;
}

void Connection::arm_tlp(Instant now) {
  // RFC 8985 §7.2: schedule a probe when new data or an ACK leaves the sender in the open state
  // with data in flight and no probe outstanding.
  const TcpConfig& cfg = layer_.config();
  if (!cfg.tlp || cfg.recovery != RecoveryMode::Rack || !uses_sack() || tlp_active_ ||
      state_recovery_ == RecoveryState::Recovery || state_recovery_ == RecoveryState::Loss ||
      sb_.empty() || !rtt_.has_sample()) {
    tlp_at_.reset();
    return;
  }
  Duration pto = std::max<Duration>(2 * rtt_.srtt(), std::chrono::milliseconds(10));
  if (sb_.total_bytes() <= max_payload()) pto += kWorstDelayedAck;
  const Instant at = now + pto;
  // RFC 8985 §7.2 (and Linux): when the RTO would come first, the probe takes its place; it
  // re-arms the RTO when it is sent. With one segment in flight the PTO includes the worst
  // delayed ACK (200 ms) and would otherwise never beat a 200 ms RTO: tail losses of short
  // flights would all cost an RTO.
  tlp_at_ = rto_at_ && at >= *rto_at_ ? *rto_at_ : at;
}

void Connection::on_tlp(Instant now) {
  if (sb_.empty() || in_fast_or_rto_recovery() || !can_send_state()) return;
  // RFC 8985 §7.3: new data if the window allows, else the last segment again.
  const std::uint32_t mss = max_payload();
  const SeqNum before = snd_nxt_;
  bool sent = send_new_data(now, std::numeric_limits<std::uint32_t>::max(), 0, mss) == SendStep::Sent;
  bool retrans = false;
  if (!sent) {
    const Scoreboard::Id last = sb_.tail() - 1;
    if (sb_.at(last).has(SentSeg::kSacked) || !retransmit(now, last)) return;
    sent = retrans = true;
  }
  ++layer_.mutable_stats().tlp_probes;
  tlp_active_ = true;
  tlp_retrans_ = retrans;
  tlp_dsacked_ = false;
  tlp_end_ = snd_max_;
  trace(now, TraceEvent::Tlp, static_cast<std::uint32_t>((retrans ? sb_.at(sb_.tail() - 1).start : before) - (iss_ + 1)),
        retrans ? sb_.at(sb_.tail() - 1).len : static_cast<std::uint32_t>(snd_nxt_ - before), Duration{-1});
  arm_rto(now);  // RFC 8985 §7.3: the RTO is re-armed after the probe
}

void Connection::on_rack_timer(Instant now) {
  // RFC 8985 §6.3: the reordering window has passed for a segment: detect again.
  ++layer_.mutable_stats().rack_reorder_timeouts;
  AckWork w;
  w.prior_in_flight = sb_.in_flight();
  w.prior_una = snd_una_;
  detect_losses(now, w);
  if (w.newly_lost > 0 &&
      (state_recovery_ == RecoveryState::Open || state_recovery_ == RecoveryState::Disorder))
    enter_recovery(now, w);
  try_output(now);
}

void Connection::on_rto(Instant now) {
  ++layer_.mutable_stats().rto_expired;
  if (state_ == State::SynReceived) {
    if (retries_ >= layer_.config().synack_retries) {
      layer_.mutable_stats().rst(RstReason::Timeout);
      close(true);
      return;
    }
    ++retries_;
    rtt_.backoff();  // RFC 6298 §5.5
    send_synack(now);
    return;
  }
  if (flight() == 0) return;
  // RFC 5482 / TCP_USER_TIMEOUT: when set, time (not the retry count) decides.
  const bool give_up = layer_.config().user_timeout > Duration{0} ? user_timed_out(now)
                                                                  : retries_ >= layer_.config().max_retries;
  if (give_up) {
    if (layer_.config().user_timeout > Duration{0}) ++layer_.mutable_stats().user_timeouts;
    abort_with_rst(now, RstReason::Timeout);
    return;
  }
  ++retries_;
  enter_loss(now);
  rtt_.backoff();  // RFC 6298 §5.5
  rto_at_.reset();
  try_output(now);
  if (!rto_at_ && flight() > 0) arm_rto(now);  // a zero window: the probe timer is the RTO
}

void Connection::enter_loss(Instant now) {
  // RFC 5681 §3.1 (eq. 4) through the controller, once per episode of timeouts; RFC 6675 §5.1:
  // everything not SACKed is lost and is retransmitted in order as the window reopens.
  if (state_recovery_ != RecoveryState::Loss || !loss_retrans_sent_) {
    cc_->on_rto(now, std::max(sb_.in_flight(), max_payload()), max_payload());
    loss_undo_armed_ = layer_.config().undo && ts_ok_;
  } else {
    loss_undo_armed_ = false;  // a second timeout: the first was not spurious
  }
  state_recovery_ = RecoveryState::Loss;
  recover_ = snd_max_;
  loss_retrans_sent_ = false;
  undo_armed_ = false;
  tlp_active_ = false;
  tlp_at_.reset();
  reo_at_.reset();
  sb_.mark_all_lost();
  rack_.reset_scan(sb_.tail());
  layer_.mutable_stats().lost_segments += static_cast<std::uint32_t>(sb_.tail() - sb_.head());
  trace(now, TraceEvent::Rto, 0, 0, Duration{-1});
}

void Connection::trace(Instant now, TraceEvent e, std::uint32_t seq, std::uint32_t len, Duration rtt) {
  if (trace_ == nullptr) return;
  TraceSample t;
  t.at = now;
  t.flow_id = flow_id_;
  t.event = e;
  t.recovery = state_recovery_;
  const SeqNum base = iss_ + 1;
  t.snd_una = static_cast<std::uint32_t>(snd_una_ - base);
  t.snd_nxt = static_cast<std::uint32_t>(snd_nxt_ - base);
  t.seg_seq = seq;
  t.seg_len = len;
  t.cwnd = send_cwnd();
  t.ssthresh = cc_->ssthresh();
  t.in_flight = sb_.in_flight();
  t.sacked = sb_.sacked_bytes();
  t.lost = sb_.lost_bytes() - sb_.retrans_bytes();
  t.snd_wnd = snd_wnd_;
  t.pacing_rate = pacing_rate();
  t.delivery_rate = rate_.last_rate();
  t.delivered = rate_.delivered();
  t.srtt = rtt_.srtt();
  t.rttvar = rtt_.rttvar();
  t.rto = rtt_.rto();
  t.min_rtt = min_rtt_;
  t.rtt = rtt;
  t.cc_phase = cc_->phase();
  trace_->record(t);
}

}  // namespace tunstack::tcp
