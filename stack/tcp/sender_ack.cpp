// What an ACK does to the sender: the SACK scoreboard (RFC 2018, RFC 2883 D-SACK, RFC 6675),
// RTT samples from send times (RFC 6298, microseconds), delivery-rate samples, loss detection
// (RACK, RFC 8985; DupThresh, RFC 6675; or NewReno's duplicate ACKs, RFC 6582), the recovery
// state (fast recovery with PRR, RFC 6937; RTO recovery), undo of spurious reductions (D-SACK,
// RFC 3708; Eifel, RFC 3522), the tail-loss-probe outcome (RFC 8985 §7.4), and finally one
// RateSample for the congestion controller.
#include <algorithm>

#include "stack/tcp/connection.hpp"
#include "stack/tcp/prr.hpp"
#include "stack/tcp/layer.hpp"

namespace tunstack::tcp {

namespace {
constexpr Duration kMinRttWindow = std::chrono::seconds(10);  // as Linux's tcp_min_rtt_wlen
}

bool Connection::uses_sack() const { return sack_ok_ && layer_.config().recovery != RecoveryMode::NewReno; }

void Connection::sender_on_ack(Instant now, const wire::TcpRepr& seg, SeqNum ack, bool dupack_candidate) {
  AckWork w;
  w.prior_in_flight = sb_.in_flight();
  w.prior_una = snd_una_;
  rate_.begin_ack();
  if (uses_sack() && seg.options.sack_count > 0) process_sack_blocks(now, seg, ack, w);
  if (ack > snd_una_) {
    process_cumulative_ack(now, seg, ack, w);
    if (dead()) return;
  } else if (dupack_candidate && snd_max_ > snd_una_) {
    ++layer_.mutable_stats().dup_acks_in;  // RFC 5681 §2
    ++dupacks_;
  }
  take_rtt_samples(now, w);
  detect_losses(now, w);
  update_recovery_state(now, seg, w);
  feed_congestion_control(now, w);
  if (flight() == 0) {
    rto_at_.reset();  // RFC 6298 §5.2
    tlp_at_.reset();
    reo_at_.reset();
  } else if (ack > w.prior_una) {
    arm_rto(now);  // RFC 6298 §5.3
  }
  arm_tlp(now);
  trace(now, TraceEvent::Ack, 0, 0, w.rtt);
}

void Connection::process_sack_blocks(Instant now, const wire::TcpRepr& seg, SeqNum ack, AckWork& w) {
  TcpStats& st = layer_.mutable_stats();
  const std::size_t n = seg.options.sack_count;
  st.sack_blocks_in += n;
  const auto& b = seg.options.sack;
  // RFC 2883 §4: the first block is a D-SACK when it lies below the cumulative ACK or inside the
  // second block.
  std::size_t first = 0;
  if (b[0].left < b[0].right &&
      (b[0].right <= ack || (n > 1 && b[1].left <= b[0].left && b[0].right <= b[1].right))) {
    first = 1;
    on_dsack(now, b[0].left, b[0].right);
  }
  for (std::size_t i = first; i < n; ++i) {
    // RFC 2018 §4 / RFC 5961-style sanity: a block outside [snd_una, snd_max) is ignored.
    if (!(b[i].left < b[i].right) || b[i].right > snd_max_ || b[i].left < snd_una_) continue;
    w.acked_sacked += sb_.sack(b[i].left, b[i].right, [&](SentSeg& s) { on_segment_delivered(now, s, s.len, false, w); });
  }
}

void Connection::on_dsack(Instant, SeqNum left, SeqNum right) {
  TcpStats& st = layer_.mutable_stats();
  ++st.dsacks_in;
  rack_.on_dsack(snd_una_, snd_nxt_);
  // RFC 3708-style undo: every retransmission of the episode reported back as a duplicate means
  // the originals had arrived and the reduction was not needed.
  const std::uint32_t mss = max_payload();
  const auto segs = std::max<std::uint32_t>(1, (static_cast<std::uint32_t>(right - left) + mss - 1) / mss);
  if (undo_retrans_ > 0) undo_retrans_ = undo_retrans_ > segs ? undo_retrans_ - segs : 0;
  if (tlp_active_ && tlp_retrans_ && right >= tlp_end_ && left < tlp_end_) tlp_dsacked_ = true;
}

void Connection::on_segment_delivered(Instant now, const SentSeg& s, std::uint32_t bytes, bool cumulative, AckWork& w) {
  rate_.on_delivered(s, bytes, now);
  rack_.on_delivered(s, now, min_rtt_);
  if (s.has(SentSeg::kEverRetrans)) return;  // Karn: an ambiguous RTT
  const Duration rtt = now - s.xmit;
  // Linux's tcp_clean_rtx_queue: the RTO estimator takes the oldest newly acknowledged segment
  // (first_ackt), the controller the newest (ca_rtt); SACKed segments stand in when no
  // cumulative progress came.
  if (cumulative && w.seq_rtt < Duration{0}) w.seq_rtt = rtt;
  if (!cumulative && w.sack_rtt < Duration{0}) w.sack_rtt = rtt;
  w.rtt = rtt;
}

void Connection::process_cumulative_ack(Instant now, const wire::TcpRepr& seg, SeqNum ack, AckWork& w) {
  const std::uint32_t acked = static_cast<std::uint32_t>(ack - snd_una_);
  // Drop acknowledged bytes from the send buffer (the SYN and FIN take sequence space only).
  const std::int32_t past_start = ack - sbuf_start();
  const std::uint32_t data_acked = past_start > 0 ? std::min(static_cast<std::uint32_t>(past_start), sbuf_len_) : 0;
  sbuf_.advance(data_acked);
  sbuf_len_ -= data_acked;
  w.acked_sacked += sb_.ack_to(ack, [&](const SentSeg& s, std::uint32_t n) { on_segment_delivered(now, s, n, true, w); });
  // The rest of `acked` (a window probe's byte) was never on the scoreboard.
  (void)acked;
  snd_una_ = ack;
  if (snd_nxt_ < snd_una_) snd_nxt_ = snd_una_;
  retries_ = 0;
  unacked_since_ = now;  // progress: the user timeout counts from here
  // Duplicate ACKs count from the last cumulative progress (RFC 5681 §3.2); in NewReno
  // recovery partial ACKs, not duplicates, drive retransmission.
  dupacks_ = 0;
  // RFC 2018 §8: a SACKed segment at the cumulative ACK point means the client dropped it.
  if (!sb_.empty() && sb_.at(sb_.head()).has(SentSeg::kSacked) && sb_.at(sb_.head()).start == snd_una_) {
    ++layer_.mutable_stats().sack_reneging;
    sb_.clear_sacks();
    rack_.reset_scan(sb_.head());
  }
  // Eifel (RFC 3522): the first ACK after an RTO echoing a timestamp older than the
  // retransmission acknowledges the original: the timeout was spurious.
  if (state_recovery_ == RecoveryState::Loss && loss_undo_armed_ && seg.options.timestamps &&
      seg.options.timestamps->tsecr != 0 &&
      static_cast<std::int32_t>(seg.options.timestamps->tsecr - loss_retrans_tsval_) < 0) {
    ++layer_.mutable_stats().spurious_rtos;
    undo_reduction(now);
  }
  loss_undo_armed_ = false;
  if (state_recovery_ == RecoveryState::Open || state_recovery_ == RecoveryState::Disorder) {
    // RFC 6582: keep recover current so that the "snd_una - 1 >= recover" test stays within the
    // wrap-safe range however long the connection runs without loss.
    if (snd_una_ - 1 > recover_) recover_ = snd_una_ - 1;
  }
  snd_buf_expand();  // also in recovery: a send buffer behind cwnd would make the flow app-limited
  if (data_acked > 0 && sbuf_len_ == 0) buffers_maybe_idle(now);
  maybe_resume_reading();
}

void Connection::take_rtt_samples(Instant now, AckWork& w) {
  const Duration sample = w.seq_rtt >= Duration{0} ? w.seq_rtt : w.sack_rtt;
  if (sample >= Duration{0}) rtt_.sample(sample);
  if (w.rtt >= Duration{0} && (min_rtt_ < Duration{0} || w.rtt <= min_rtt_ || now - min_rtt_stamp_ > kMinRttWindow)) {
    min_rtt_ = w.rtt;
    min_rtt_stamp_ = now;
  }
}

void Connection::detect_losses(Instant now, AckWork& w) {
  const TcpConfig& cfg = layer_.config();
  const std::uint32_t mss = max_payload();
  std::uint32_t segs = 0;
  switch (cfg.recovery) {
    case RecoveryMode::Rack: {
      if (!uses_sack() || sb_.sacked_ranges() == 0) {
        // A client without SACK (or whose SACK blocks a middlebox strips): RFC 6582 on
        // duplicate ACKs, and RACK for whatever SACK information there is.
        detect_losses_dupack(w);
        if (!uses_sack()) break;
      }
      const Duration reo = rack_.reo_wnd(in_fast_or_rto_recovery(), sb_.sacked_bytes(), cfg.dupthresh * mss,
                                         min_rtt_, rtt_.has_sample() ? rtt_.srtt() : Duration{-1});
      std::optional<Instant> reo_timer;
      w.newly_lost += rack_.detect_loss(sb_, now, reo, segs, reo_timer);
      if (reo_timer) reo_at_ = *reo_timer;
      else reo_at_.reset();
      break;
    }
    case RecoveryMode::Sack:
      if (!uses_sack() || sb_.sacked_ranges() == 0) {
        detect_losses_dupack(w);
        if (!uses_sack()) break;
      }
      w.newly_lost += mark_lost_below(sb_.dupthresh_boundary(cfg.dupthresh, mss), segs);
      break;
    case RecoveryMode::NewReno:
      detect_losses_dupack(w);
      break;
  }
  layer_.mutable_stats().lost_segments += segs;
}

std::uint32_t Connection::mark_lost_below(SeqNum boundary, std::uint32_t& segs) {
  // RFC 6675 IsLost for every record ending at or below the boundary; each record is examined
  // once (dupthresh_scan_ only moves forward).
  std::uint32_t bytes = 0;
  Scoreboard::Id id = std::max(dupthresh_scan_, sb_.head());
  for (; id != sb_.tail() && sb_.at(id).end() <= boundary; ++id) {
    SentSeg& s = sb_.at(id);
    if (s.has(SentSeg::kSacked) || s.has(SentSeg::kLost)) continue;
    if (sb_.mark_lost(s)) {
      bytes += s.len;
      ++segs;
    }
  }
  dupthresh_scan_ = id;
  return bytes;
}

void Connection::detect_losses_dupack(AckWork& w) {
  // RFC 6582 §3.2: DupThresh duplicates start recovery (unless they are from before the last
  // recovery point); in recovery a partial ACK means the next segment is lost too.
  if (sb_.empty()) return;
  SentSeg& head = sb_.at(sb_.head());
  const bool partial = state_recovery_ == RecoveryState::Recovery && snd_una_ > w.prior_una && snd_una_ < recover_;
  const bool third = state_recovery_ != RecoveryState::Recovery && dupacks_ >= layer_.config().dupthresh &&
                     snd_una_ - 1 >= recover_;
  if ((partial || third) && sb_.mark_lost(head)) {
    w.newly_lost += head.len;
    ++layer_.mutable_stats().lost_segments;
  }
}

void Connection::update_recovery_state(Instant now, const wire::TcpRepr&, AckWork& w) {
  const RecoveryState before = state_recovery_;
  switch (state_recovery_) {
    case RecoveryState::Open:
    case RecoveryState::Disorder:
      if (w.newly_lost > 0) {
        enter_recovery(now, w);
        break;
      }
      state_recovery_ = sb_.sacked_bytes() > 0 || dupacks_ > 0 ? RecoveryState::Disorder : RecoveryState::Open;
      break;
    case RecoveryState::Recovery:
      if (snd_una_ >= recover_) exit_recovery(now);  // RFC 6675 §5: RecoveryPoint acknowledged
      break;
    case RecoveryState::Loss:
      if (snd_una_ >= recover_) {
        state_recovery_ = RecoveryState::Open;
        dupacks_ = 0;
      }
      break;
  }
  // D-SACK undo (RFC 3708): every retransmission of the episode came back as a duplicate.
  if (undo_armed_ && undo_retrans_ == 0 && undo_retrans_seen_ && layer_.config().undo &&
      state_recovery_ != RecoveryState::Loss)
    undo_reduction(now);
  if (state_recovery_ == RecoveryState::Recovery && before == RecoveryState::Recovery) prr_on_ack(w);
  tlp_on_ack(now, w);
}

void Connection::enter_recovery(Instant now, AckWork& w) {
  const std::uint32_t mss = max_payload();
  state_recovery_ = RecoveryState::Recovery;
  recover_ = snd_max_;  // RFC 6675 §5 step 4.1 RecoveryPoint = HighData
  ++layer_.mutable_stats().recoveries;
  ++layer_.mutable_stats().fast_retransmits;
  cc_->on_congestion(now, w.prior_in_flight, mss);
  // RFC 6937 §3 initialization; this ACK's delivery counts toward the first send quota.
  prr_delivered_ = 0;
  prr_out_ = 0;
  recover_fs_ = std::max(w.prior_in_flight, 1u);
  undo_armed_ = layer_.config().undo;
  undo_retrans_ = 0;
  undo_retrans_seen_ = false;
  tlp_active_ = false;
  prr_on_ack(w);
  trace(now, TraceEvent::RecoveryEnter, 0, 0, Duration{-1});
}

void Connection::exit_recovery(Instant now) {
  state_recovery_ = RecoveryState::Open;
  dupacks_ = 0;
  cc_->on_recovery_exit(now);
  rack_.on_recovery_exit();
  trace(now, TraceEvent::RecoveryExit, 0, 0, Duration{-1});
}

void Connection::prr_on_ack(const AckWork& w) {
  // RFC 6937 §3 (stack/tcp/prr.hpp): the quota becomes the cwnd used while in recovery.
  prr_delivered_ += w.acked_sacked;
  const std::uint64_t pipe = sb_.in_flight();
  const PrrState st{prr_delivered_, prr_out_, recover_fs_};
  const std::int64_t sndcnt = prr_sndcnt(st, w.acked_sacked, pipe, cc_->ssthresh(), max_payload());
  prr_cwnd_ = static_cast<std::uint32_t>(pipe + static_cast<std::uint64_t>(std::max<std::int64_t>(sndcnt, 0)));
}

void Connection::undo_reduction(Instant now) {
  ++layer_.mutable_stats().undos;
  cc_->undo();
  undo_armed_ = false;
  if (state_recovery_ == RecoveryState::Loss) {
    sb_.unmark_lost_not_retransmitted();
    rack_.reset_scan(sb_.head());
  }
  if (state_recovery_ == RecoveryState::Recovery || state_recovery_ == RecoveryState::Loss) {
    state_recovery_ = RecoveryState::Open;
    rack_.on_recovery_exit();
  }
  trace(now, TraceEvent::Undo, 0, 0, Duration{-1});
}

void Connection::tlp_on_ack(Instant now, const AckWork& w) {
  // RFC 8985 §7.4: once the ACK covers the probe, a probe that was a retransmission and came
  // back without a D-SACK repaired a real loss: respond to it as to congestion, once.
  if (!tlp_active_ || snd_una_ < tlp_end_) return;
  tlp_active_ = false;
  if (!tlp_retrans_ || tlp_dsacked_ || in_fast_or_rto_recovery()) return;
  ++layer_.mutable_stats().tlp_recoveries;
  cc_->on_congestion(now, w.prior_in_flight, max_payload());
  cc_->on_recovery_exit(now);
}

void Connection::feed_congestion_control(Instant now, const AckWork& w) {
  if (w.acked_sacked == 0 && w.newly_lost == 0) return;
  // A round ends when what was in flight at its start is delivered: the cwnd-limited bit is
  // kept per round (RFC 7661: no growth while the application or the queue held us back).
  if (rate_.delivered() >= round_end_) {
    cwnd_limited_prev_ = cwnd_limited_now_;
    cwnd_limited_now_ = false;
    round_end_ = rate_.delivered() + sb_.in_flight();
  }
  const RateEstimator::Sample smp = rate_.end_ack(min_rtt_);
  RateSample rs;
  rs.now = now;
  rs.mss = max_payload();
  rs.acked_sacked = w.acked_sacked;
  rs.newly_lost = w.newly_lost;
  rs.prior_in_flight = w.prior_in_flight;
  rs.in_flight = sb_.in_flight();
  rs.delivered = rate_.delivered();
  rs.sample_delivered = smp.delivered;
  rs.interval = smp.interval;
  rs.delivery_rate = smp.rate;
  rs.app_limited = smp.app_limited;
  rs.rtt = w.rtt;
  rs.min_rtt = min_rtt_;
  rs.srtt = rtt_.has_sample() ? rtt_.srtt() : Duration{-1};
  rs.cwnd_limited = cwnd_limited_prev_ || cwnd_limited_now_;
  // In fast recovery PRR governs; after an RTO the controller slow-starts again (Linux).
  rs.in_recovery = state_recovery_ == RecoveryState::Recovery;
  cc_->on_ack(rs);
}

}  // namespace tunstack::tcp
