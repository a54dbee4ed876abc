// Segment arrival for a passively opened connection, in the order of RFC 9293 §3.10.7.4
// ("Other states"), with RFC 5961 (blind in-window attacks) and RFC 7323 (PAWS) checks, plus the
// StreamSink side (bytes and events from the outbound).
#include "stack/tcp/connection.hpp"

#include <algorithm>

#include "stack/tcp/isn.hpp"
#include "stack/tcp/layer.hpp"

namespace tunstack::tcp {

using wire::TcpFlags;

const char* to_string(State s) {
  static constexpr const char* kNames[] = {"SYN-PENDING", "SYN-RECEIVED", "ESTABLISHED",
                                           "FIN-WAIT-1",  "FIN-WAIT-2",   "CLOSE-WAIT",
                                           "CLOSING",     "LAST-ACK",     "TIME-WAIT",
                                           "CLOSED"};
  return kNames[static_cast<std::size_t>(s)];
}

SynInfo SynInfo::from_syn(const wire::TcpRepr& syn) {
  SynInfo s;
  s.irs = syn.seq;
  s.window = syn.window;
  s.mss = syn.options.mss;
  s.wscale = syn.options.wscale;
  s.sack_permitted = syn.options.sack_permitted;
  if (syn.options.timestamps) s.tsval = syn.options.timestamps->tsval;
  return s;
}

Connection::Connection(TcpLayer& layer, const FourTuple& tuple, Instant now, const wire::TcpRepr& syn)
    : Connection(layer, tuple, now, SynInfo::from_syn(syn)) {}

Connection::Connection(TcpLayer& layer, const FourTuple& tuple, Instant now, const SynInfo& syn,
                       std::optional<SeqNum> cookie_iss)
    : layer_(layer),
      tuple_(tuple),
      sbuf_(clamp_buf(layer.config().snd_buf, layer.config()), &layer.mutable_stats().buffer_bytes),
      irs_(syn.irs),
      rx_(clamp_buf(layer.config().rcv_buf, layer.config()), syn.irs + 1, &layer.mutable_stats().buffer_bytes),
      rtt_(layer.config().rto_initial, layer.config().rto_min, layer.config().rto_max),
      quickacks_(layer.config().quickack_segments) {
  const TcpConfig& cfg = layer.config();
  timer.owner = this;
  // RFC 6528 §3 ISN (or the SYN cookie that stood for it); the connection's timestamp clock gets
  // its own random offset.
  iss_ = cookie_iss ? *cookie_iss
         : cfg.fixed_iss ? SeqNum{*cfg.fixed_iss}
                         : make_isn(tuple.client, tuple.server, cfg.secret, now);
  snd_una_ = snd_nxt_ = snd_max_ = recover_ = tlp_end_ = iss_;
  ts_base_ = ts_offset(tuple.client, tuple.server, cfg.secret);
  last_ack_sent_ = rx_.rcv_nxt();
  // RFC 9293 §3.7.1: the peer's MSS, or the default when the option is absent (536 / 1220).
  const std::uint16_t dflt = tuple.client.addr.is_v4() ? 536 : 1220;
  peer_mss_ = std::max<std::uint16_t>(syn.mss.value_or(dflt), 64);
  // RFC 7323 §2.2: scaling is on only when both sides send the option on their SYN; our shift
  // is chosen for the largest buffer auto-tuning may reach (§2.3: it cannot change later).
  if (cfg.window_scale && syn.wscale) {
    wscale_ok_ = true;
    snd_wscale_ = *syn.wscale;
    rcv_wscale_ = rcv_window_shift(cfg);
  }
  sack_ok_ = cfg.sack && syn.sack_permitted;  // RFC 2018 §2
  if (cfg.timestamps && syn.tsval) {          // RFC 7323 §3.2
    ts_ok_ = true;
    ts_recent_ = *syn.tsval;
    ts_recent_stamp_ = now;
  }
  // RFC 9293 §3.10.7.2: the window in a SYN is never scaled.
  snd_wnd_ = max_snd_wnd_ = syn.window;
  snd_wl1_ = syn.irs;
  const std::uint32_t mss = max_payload();
  CcParams ccp = cfg.cc_params;
  ccp.initial_cwnd = cfg.initial_window_segments * mss;
  ccp.mss = mss;
  cc_ = make_cc(cfg.cc, ccp);
  if (!cc_) cc_ = make_cc("newreno", ccp);  // the daemon's settings refuse unknown names
  last_rx_ = now;
  unacked_since_ = now;
  // Auto-tuning starts from what an initial window could bring (Linux: 10 segments).
  rcvq_seq_ = rx_.read_seq();
  rcvq_time_ = now;
  rcvq_space_ = std::min(rx_.capacity(), cfg.initial_window_segments * mss);
  if (cookie_iss) {
    // RFC 4987 §3.6: the SYN-ACK went out statelessly; carry on as if this connection had sent
    // it, with the right edge it advertised, and never count it in the SYN queue.
    state_ = State::SynReceived;
    snd_nxt_ = snd_max_ = iss_ + 1;
    counted_half_open_ = false;
    (void)rx_.window_to_advertise(mss, 0);
  }
}

Connection::~Connection() {
  // The session goes first: it may hold callbacks into this object.
  session_.reset();
}

void Connection::open(Instant now, dispatch::Outbound& outbound, const dispatch::FlowInfo& flow) {
  flow_id_ = flow.id;
  if (TraceSink* sink = layer_.trace_sink(); sink && sink->select(flow.id, tuple_.client, tuple_.server)) trace_ = sink;
  session_ = outbound.open_stream(flow, *this);
  if (!session_) {
    // The outbound does not carry streams: refuse like a closed port.
    layer_.mutable_stats().rst(RstReason::Refused);
    send_rst(now);
    close(false);
    return;
  }
  session_->set_on_writable([this] {
    deliver();
    layer_.touch(*this);
  });
  state_at_ = now + layer_.config().connect_timeout;
  if (state_ == State::SynPending && layer_.config().immediate_synack) {
    state_ = State::SynReceived;
    send_synack(now);
  }
}

// ---------------------------------------------------------------------------------------------
// Segment arrival (RFC 9293 §3.10.7.4).

void Connection::on_segment(Instant now, const wire::TcpRepr& seg, Bytes payload) {
  last_rx_ = now;
  keepalive_sent_ = 0;
  if (state_ == State::SynPending) {
    // No SYN-ACK has gone out yet, so only the client's SYN retransmission or a RST can be
    // meaningful here.
    if (seg.flags.has(TcpFlags::RST) && seg.seq == rx_.rcv_nxt()) {
      ++layer_.mutable_stats().rst_in;
      close(true);
    } else {
      layer_.mutable_stats().drop(DropReason::SynPending);
    }
    return;
  }
  if (state_ == State::SynReceived && seg.flags.has(TcpFlags::SYN) && !seg.flags.has(TcpFlags::ACK) &&
      seg.seq == irs_) {
    send_synack(now);  // the client retransmitted its SYN: our SYN-ACK was lost
    return;
  }
  // Step 1: sequence number check (with PAWS first, RFC 7323 §5.3).
  if (!check_sequence(now, seg, payload)) return;
  // Step 2: RST (RFC 5961 §3.2).
  if (seg.flags.has(TcpFlags::RST)) {
    check_rst(seg);
    return;
  }
  // Step 3: security/compartment does not apply. Step 4: SYN (RFC 5961 §4).
  if (seg.flags.has(TcpFlags::SYN)) {
    check_syn(now, seg);
    return;
  }
  // Step 5: ACK.
  if (!seg.flags.has(TcpFlags::ACK)) {
    layer_.mutable_stats().drop(DropReason::NoAck);
    return;
  }
  if (!process_ack(now, seg, payload)) return;
  if (dead()) return;
  // Step 6: URG is ignored (RFC 6093: the urgent mechanism is deprecated for new applications).
  // Step 7: segment text.
  process_text(now, seg, payload);
  // Step 8: FIN.
  // The first FIN seen marks the end of the client's stream for good (process_text trims data
  // past it); a later FIN elsewhere cannot move it.
  if (seg.flags.has(TcpFlags::FIN) && !peer_fin_seen_) {
    peer_fin_seen_ = true;
    peer_fin_seq_ = seg.seq + seg.payload_len;
  }
  if (peer_fin_seen_ && !peer_fin_done_ && rx_.rcv_nxt() == peer_fin_seq_) process_fin(now);
  if (state_ == State::Established && layer_.config().keepalive_idle > Duration{0})
    keepalive_at_ = now + layer_.config().keepalive_idle;
  try_output(now);
  if (layer_.batching() && !rx_.has_ooo() && !dead()) {
    layer_.defer_delivery(*this);  // one delivery and one ACK for the whole batch
    return;
  }
  flush_deferred(now);
}

void Connection::flush_deferred(Instant now) {
  // Hand the bytes to the session first: the ACK then advertises the room they leave behind
  // (and a window update due after delivery is the same segment).
  deliver();
  if (ack_now_ && !dead()) send_ack(now);
}

bool Connection::disordered_ack(const wire::TcpRepr& seg, Bytes payload, std::uint32_t age) const {
  // As Linux's tcp_disordered_ack(): a pure duplicate ACK that was merely overtaken by a newer
  // segment on a reordering path carries an older timestamp without being a replay; PAWS would
  // drop it and with it the duplicate-ACK signal. Accept it when it is exactly at rcv_nxt,
  // acknowledges nothing new, changes no window and is younger than one RTO (the peer's clock
  // taken as 1 ms per tick, Linux's).
  if (!payload.empty() || seg.flags.any(TcpFlags::SYN | TcpFlags::FIN) || !seg.ack) return false;
  if (seg.seq != ack_value() || *seg.ack != snd_una_) return false;
  if ((std::uint32_t{seg.window} << snd_wscale_) != snd_wnd_) return false;
  const auto rto_ms = std::chrono::duration_cast<std::chrono::milliseconds>(rtt_.rto()).count();
  return age <= static_cast<std::uint64_t>(rto_ms);
}

bool Connection::check_sequence(Instant now, const wire::TcpRepr& seg, Bytes payload) {
  // RFC 7323 §5.3 R1: PAWS, before the window test; RSTs are exempt (as Linux).
  if (ts_ok_ && seg.options.timestamps && !seg.flags.has(TcpFlags::RST)) {
    const auto delta = static_cast<std::int32_t>(seg.options.timestamps->tsval - ts_recent_);
    if (delta < 0 && !ts_recent_stale(now) && !disordered_ack(seg, payload, static_cast<std::uint32_t>(-delta))) {
      layer_.mutable_stats().drop(DropReason::Paws);
      send_ack(now);
      return false;
    }
  }
  // RFC 9293 §3.10.7.4 step 1: the four acceptability cases.
  const SeqNum rcv_nxt = ack_value();
  const std::uint32_t wnd = rx_.rcv_adv() > rx_.rcv_nxt()
                                ? static_cast<std::uint32_t>(rx_.rcv_adv() - rx_.rcv_nxt())
                                : 0;
  const std::uint32_t len = static_cast<std::uint32_t>(payload.size()) +
                            (seg.flags.has(TcpFlags::SYN) ? 1u : 0u) +
                            (seg.flags.has(TcpFlags::FIN) ? 1u : 0u);
  bool ok;
  if (len == 0) {
    ok = wnd == 0 ? seg.seq == rcv_nxt : seg.seq.in_window(rcv_nxt, wnd);
  } else {
    ok = wnd != 0 && (seg.seq.in_window(rcv_nxt, wnd) || (seg.seq + len - 1).in_window(rcv_nxt, wnd));
  }
  // Data before rcv_nxt that reaches into the window is trimmed by the receiver; a segment
  // entirely outside is answered with an ACK (and a D-SACK for an old retransmission).
  if (ok) return true;
  if (seg.flags.has(TcpFlags::RST)) {
    layer_.mutable_stats().drop(DropReason::OutOfWindow);
    return false;
  }
  layer_.mutable_stats().drop(DropReason::OutOfWindow);
  // An old retransmission: report it (RFC 2883 D-SACK) but store nothing. (Handing it to the
  // receiver would accept a byte in the sequence slot of a FIN already received, which
  // rcv_nxt here counts and the receiver does not.)
  if (!payload.empty() && seg.seq < rcv_nxt &&
      rx_.note_duplicate(seg.seq, seg.seq + static_cast<std::uint32_t>(payload.size())))
    ++layer_.mutable_stats().dsacks_sent;
  // RFC 9293 §3.10.7.4 step 1: "special allowance should be made to accept valid ACKs" when the
  // window is zero (or the peer's data ran past it): process the ACK field of a segment at or
  // beyond rcv_nxt (RFC 5961 §5.2 still vets it), else its sender could deadlock against us.
  if (seg.seq >= rcv_nxt && seg.flags.has(TcpFlags::ACK) && state_ != State::SynReceived) {
    if (process_ack(now, seg, {}, false)) try_output(now);  // the ACK may have opened room to send
  }
  if (!dead()) send_ack(now);
  return false;
}

bool Connection::check_rst(const wire::TcpRepr& seg) {
  // RFC 5961 §3.2: reset only on an exact match; in-window otherwise gets a challenge ACK.
  if (seg.seq == ack_value()) {
    ++layer_.mutable_stats().rst_in;
    close(true);
    return true;
  }
  send_challenge_ack(layer_.last_now());
  return false;
}

bool Connection::check_syn(Instant now, const wire::TcpRepr&) {
  // RFC 5961 §4.2: a SYN in a synchronized state gets a challenge ACK, never a reset.
  send_challenge_ack(now);
  return false;
}

bool Connection::process_ack(Instant now, const wire::TcpRepr& seg, Bytes payload, bool may_be_dupack) {
  const SeqNum ack = *seg.ack;
  if (state_ == State::SynReceived) {
    // RFC 9293 §3.10.7.4 step 5, SYN-RECEIVED: an acceptable ACK establishes the connection;
    // otherwise <SEQ=SEG.ACK><CTL=RST>.
    if (!(snd_una_ < ack && ack <= snd_max_)) {
      layer_.reply_rst(tuple_, seg, RstReason::NoConnection);
      return false;
    }
    enter_established(now);
    snd_wnd_ = static_cast<std::uint32_t>(seg.window) << snd_wscale_;
    max_snd_wnd_ = std::max(max_snd_wnd_, snd_wnd_);
    snd_wl1_ = seg.seq;
    snd_wl2_ = ack;
  }
  // RFC 5961 §5.2: an ACK for data never sent is answered with an ACK and dropped; one older
  // than the largest window the peer could have seen is dropped with a challenge ACK.
  if (ack > snd_max_) {
    layer_.mutable_stats().drop(DropReason::BadAck);
    send_ack(now);
    return false;
  }
  if (ack < snd_una_ - std::max(max_snd_wnd_, 1u)) {
    layer_.mutable_stats().drop(DropReason::BadAck);
    send_challenge_ack(now);
    return false;
  }
  update_ts_recent(now, seg);
  // RFC 5681 §2: a duplicate ACK carries no data, no SYN/FIN, the same window, and arrived
  // in window (an out-of-window segment's ACK field is processed but never counted).
  const bool dupack = may_be_dupack && ack == snd_una_ && payload.empty() &&
                      !seg.flags.any(TcpFlags::SYN | TcpFlags::FIN) &&
                      (static_cast<std::uint32_t>(seg.window) << snd_wscale_) == snd_wnd_;
  if (ack >= snd_una_ && state_ != State::SynReceived) {
    sender_on_ack(now, seg, ack, dupack);
    if (dead()) return false;
  }
  // RFC 9293 §3.10.7.4 step 5: window update when the segment is newer (SND.WL1/SND.WL2).
  if (snd_wl1_ < seg.seq || (snd_wl1_ == seg.seq && snd_wl2_ <= ack)) {
    snd_wnd_ = static_cast<std::uint32_t>(seg.window) << snd_wscale_;
    max_snd_wnd_ = std::max(max_snd_wnd_, snd_wnd_);
    snd_wl1_ = seg.seq;
    snd_wl2_ = ack;
    if (snd_wnd_ > 0) {
      persist_at_.reset();
      persist_backoff_ = 0;
    }
  }
  // Step 5, per state: our FIN acknowledged.
  if (fin_acked()) {
    switch (state_) {
      case State::FinWait1:
        state_ = State::FinWait2;
        state_at_ = now + layer_.config().fin_wait2_timeout;
        break;
      case State::Closing:
        enter_time_wait(now);
        break;
      case State::LastAck:
        if (rx_.readable() > 0 && !session_done_) {
          // The session has not taken the client's last bytes yet: linger (as in TIME-WAIT)
          // rather than drop them with the connection.
          enter_time_wait(now);
          return true;
        }
        close(false);
        return false;
      default:
        break;
    }
  }
  return true;
}

void Connection::update_ts_recent(Instant now, const wire::TcpRepr& seg) {
  // RFC 7323 §4.3 (as corrected by Linux): keep the newest timestamp of a segment that covers
  // the last ACK we sent.
  if (!ts_ok_ || !seg.options.timestamps) return;
  const std::uint32_t tsval = seg.options.timestamps->tsval;
  if (seg.seq <= last_ack_sent_ && (static_cast<std::int32_t>(tsval - ts_recent_) >= 0 || ts_recent_stale(now))) {
    ts_recent_ = tsval;
    ts_recent_stamp_ = now;
  }
}

void Connection::process_text(Instant now, const wire::TcpRepr& seg, Bytes payload) {
  if (payload.empty()) return;
  // RFC 9293 §3.10.7.4 step 7: text only in ESTABLISHED, FIN-WAIT-1 and FIN-WAIT-2.
  if (state_ != State::Established && state_ != State::FinWait1 && state_ != State::FinWait2) return;
  if (peer_fin_seen_ && seg.seq + static_cast<std::uint32_t>(payload.size()) > peer_fin_seq_) {
    payload = payload.first(std::max<std::int32_t>(0, peer_fin_seq_ - seg.seq));  // nothing after FIN
  }
  const RxResult r = rx_.accept(seg.seq, payload);
  TcpStats& st = layer_.mutable_stats();
  st.bytes_in += r.advanced;
  if (r.no_memory) st.drop(DropReason::NoBuffer);
  else if (r.dropped) st.drop(DropReason::ReassemblyFull);
  if (r.advanced > 0) rcv_rtt_sample(now, seg, static_cast<std::uint32_t>(payload.size()));
  if (r.duplicate) ++st.dsacks_sent;
  if (r.out_of_order) ++st.ooo_segments;
  // RFC 5681 §4.2 / RFC 9293 §3.8.6.3: ACK at once for out-of-order data, a filled hole, or every
  // second full segment; otherwise delay (quick-ACK mode for the first segments, as Linux).
  const bool now_ack = r.out_of_order || r.filled_hole || r.duplicate || r.dropped || rx_.has_ooo();
  ++unacked_segments_;
  schedule_ack(now, now_ack);
}

void Connection::process_fin(Instant now) {
  // RFC 9293 §3.10.7.4 step 8: the FIN takes one sequence number; the client half-closed.
  peer_fin_done_ = true;
  switch (state_) {
    case State::SynReceived:
    case State::Established:
      state_ = State::CloseWait;
      break;
    case State::FinWait1:
      if (fin_acked()) enter_time_wait(now);
      else state_ = State::Closing;
      break;
    case State::FinWait2:
      enter_time_wait(now);
      break;
    default:
      break;
  }
  schedule_ack(now, true);
}

void Connection::enter_established(Instant now) {
  state_ = State::Established;
  snd_una_ = snd_una_ + 1 > snd_max_ ? snd_max_ : snd_una_ + 1;  // our SYN is acknowledged
  syn_acked_ = true;
  if (snd_nxt_ < snd_una_) snd_nxt_ = snd_una_;
  // The handshake timer ends; without the outbound yet (immediate SYN-ACK or SYN cookie) the
  // connect timeout keeps running.
  if (connected_) state_at_.reset();
  rto_at_.reset();
  retries_ = 0;
  if (timing_) {
    rtt_.sample(now - timed_at_);
    timing_ = false;
  }
  ++layer_.mutable_stats().established;
  trace(now, TraceEvent::Established, 0, 0, rtt_.has_sample() ? rtt_.srtt() : Duration{-1});
  leave_half_open();
  if (fin_queued_) state_ = State::FinWait1;  // the remote closed before the handshake ended
  if (layer_.config().keepalive_idle > Duration{0}) keepalive_at_ = now + layer_.config().keepalive_idle;
}

// ---------------------------------------------------------------------------------------------
// Toward the outbound.

void Connection::deliver() {
  if (!connected_ || !session_) return;
  // Client bytes go from the receive ring straight to the session; what it refuses stays and
  // keeps the advertised window small (back-pressure) until its writable callback.
  bool progressed = false;
  while (rx_.readable() > 0) {
    const Bytes chunk = rx_.peek();
    const std::size_t n = session_->send(chunk);
    if (n == 0) break;
    rx_.consume(static_cast<std::uint32_t>(n));
    progressed = true;
    if (n < chunk.size()) break;
  }
  if (rx_.readable() == 0 && peer_fin_done_ && !shutdown_sent_ && !session_done_) {
    shutdown_sent_ = true;
    session_->shutdown_write();
  }
  if (!progressed || dead()) return;
  const Instant now = layer_.last_now();
  rcv_space_adjust(now);
  if (state_ != State::SynReceived && rx_.window_update_due(max_payload()))
    send_ack(now);  // window update after the reader drained us
  if (rx_.empty()) buffers_maybe_idle(now);
}

void Connection::maybe_resume_reading() {
  if (!reading_paused_ || !session_) return;
  // Resume once a quarter of the buffer is free, so the outbound writes in large chunks.
  if (sbuf_.capacity() - sbuf_len_ >= sbuf_.capacity() / 4) {
    reading_paused_ = false;
    session_->resume_reading();
  }
}

void Connection::close(bool abort_session) {
  if (state_ == State::Closed) return;
  leave_half_open();
  state_ = State::Closed;
  rto_at_.reset();
  persist_at_.reset();
  delack_at_.reset();
  keepalive_at_.reset();
  state_at_.reset();
  tlp_at_.reset();
  reo_at_.reset();
  send_at_.reset();
  sws_at_.reset();
  if (abort_session && session_ && !session_done_) {
    session_done_ = true;
    session_->abort();
  }
  ++layer_.mutable_stats().closed;
  if (trace_ != nullptr) {
    trace(layer_.last_now(), TraceEvent::Closed, 0, 0, Duration{-1});
    trace_->end(flow_id_);
    trace_ = nullptr;
  }
}

void Connection::leave_half_open() {
  if (!counted_half_open_) return;
  counted_half_open_ = false;
  layer_.leave_half_open();
}

// ---------------------------------------------------------------------------------------------
// dispatch::StreamSink: events from the outbound (never re-entrant from open_stream).

void Connection::on_connected() {
  if (dead() || connected_) return;
  connected_ = true;
  const Instant now = layer_.last_now();
  if (state_ == State::SynPending) {
    state_ = State::SynReceived;
    send_synack(now);
  } else if (state_ != State::SynReceived) {
    state_at_.reset();  // the connect timeout of a connection already past its handshake
  }
  deliver();
  layer_.touch(*this);
}

void Connection::on_connect_failed(bool refused, const dispatch::RemoteError& why) {
  if (dead()) return;
  ++layer_.mutable_stats().connect_failed;
  session_done_ = true;  // the session is finished: nothing to abort
  const Instant now = layer_.last_now();
  if (refused || state_ != State::SynPending) {
    // The remote refused (or the client already saw our SYN-ACK): RST, as a closed port would.
    layer_.mutable_stats().rst(RstReason::Refused);
    send_rst(now);
  } else {
    ++layer_.mutable_stats().icmp_unreachable_requests;
    layer_.send_unreachable(tuple_, irs_, why);
  }
  close(false);
  layer_.touch(*this);
}

std::size_t Connection::on_data(Bytes data) {
  if (dead() || fin_queued_) return 0;
  const std::size_t room = sbuf_.capacity() - sbuf_len_;
  const std::size_t n = std::min(room, data.size());
  if (n > 0 && !sbuf_.reserve(sbuf_len_ + n)) {
    // Out of memory: take nothing and retry reading later (the idle-buffer deadline).
    layer_.mutable_stats().drop(DropReason::NoBuffer);
    reading_paused_ = true;
    buf_idle_at_ = layer_.last_now() + rtt_.rto();
    layer_.touch(*this);
    return 0;
  }
  // The first copy of remote bytes: into the send buffer, kept for retransmission.
  sbuf_.write_at(sbuf_len_, data.first(n));
  sbuf_len_ += static_cast<std::uint32_t>(n);
  if (n < data.size()) reading_paused_ = true;
  try_output(layer_.last_now());
  layer_.touch(*this);
  return n;
}

void Connection::on_remote_fin() {
  if (dead() || fin_queued_) return;
  fin_queued_ = true;
  fin_seq_ = data_end();
  // RFC 9293 §3.10.4 CLOSE: ESTABLISHED -> FIN-WAIT-1, CLOSE-WAIT -> LAST-ACK; the FIN goes
  // out after the queued data.
  if (state_ == State::Established) state_ = State::FinWait1;
  else if (state_ == State::CloseWait) state_ = State::LastAck;
  try_output(layer_.last_now());
  layer_.touch(*this);
}

void Connection::on_reset() {
  if (dead()) return;
  session_done_ = true;
  layer_.mutable_stats().rst(RstReason::RemoteReset);
  send_rst(layer_.last_now());
  close(false);
  layer_.touch(*this);
}

}  // namespace tunstack::tcp
