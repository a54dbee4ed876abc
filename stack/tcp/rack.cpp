#include "stack/tcp/rack.hpp"

#include <algorithm>

namespace tunstack::tcp {

void Rack::on_delivered(const SentSeg& s, Instant now, Duration min_rtt) {
  const Duration rtt = now - s.xmit;
  // RFC 8985 §6.2 step 2: an ACK of a retransmitted segment may be for the original; an RTT
  // below the minimum says it is, and that sample is not taken.
  if (s.has(SentSeg::kEverRetrans) && min_rtt > Duration{0} && rtt < min_rtt) return;
  // Step 3: delivered below the highest delivered end, never retransmitted: reordering.
  if (have_ && s.end() < fack_ && !s.has(SentSeg::kEverRetrans)) reord_ = true;
  if (!have_ || s.end() > fack_) fack_ = s.end();
  rtt_ = rtt;
  if (!have_ || sent_after(s.xmit, s.end(), xmit_ts_, end_seq_)) {
    xmit_ts_ = s.xmit;
    end_seq_ = s.end();
  }
  have_ = true;
}

void Rack::on_dsack(SeqNum snd_una, SeqNum snd_nxt) {
  // Step 4: at most one increase per round trip; kept for 16 recoveries.
  if (dsack_round_set_ && snd_una < dsack_round_) return;
  dsack_round_set_ = true;
  dsack_round_ = snd_nxt;
  mult_ = std::min<std::uint32_t>(mult_ + 1, 255);
  persist_ = 16;
}

void Rack::on_recovery_exit() {
  if (persist_ > 0 && --persist_ == 0) mult_ = 1;
}

Duration Rack::reo_wnd(bool in_recovery, std::uint32_t sacked_bytes, std::uint32_t dupthresh_bytes,
                       Duration min_rtt, Duration srtt) const {
  // Step 4: without evidence of reordering, a loss during recovery or one with DupThresh
  // segments SACKed above it is not waited for.
  if (!reord_ && (in_recovery || sacked_bytes >= dupthresh_bytes)) return Duration{0};
  if (min_rtt <= Duration{0}) return Duration{0};
  Duration w = min_rtt / 4 * mult_;
  if (srtt > Duration{0}) w = std::min(w, srtt);
  return w;
}

bool Rack::expired(const SentSeg& s, Instant now, Duration reo_wnd, std::optional<Instant>& timer) const {
  const Instant deadline = s.xmit + rtt_ + reo_wnd;
  if (deadline <= now) return true;
  if (!timer || deadline < *timer) timer = deadline;
  return false;
}

std::uint32_t Rack::detect_loss(Scoreboard& sb, Instant now, Duration reo_wnd, std::uint32_t& segments,
                                std::optional<Instant>& timer) {
  std::uint32_t bytes = 0;
  segments = 0;
  timer.reset();
  if (!have_) return 0;
  // Originals, in the order they left.
  scan_ = std::max(scan_, sb.head());
  for (; scan_ != sb.tail(); ++scan_) {
    SentSeg& s = sb.at(scan_);
    if (s.has(SentSeg::kSacked) || s.has(SentSeg::kLost) || s.has(SentSeg::kEverRetrans)) continue;
    if (!sent_after(xmit_ts_, end_seq_, s.xmit, s.end())) break;  // nothing later was delivered
    if (!expired(s, now, reo_wnd, timer)) break;  // later originals expire later still
    if (sb.mark_lost(s)) {
      bytes += s.len;
      ++segments;
    }
  }
  // Retransmissions (RFC 8985 §6.2 step 5 covers them too: a lost retransmission is detected).
  return bytes + detect_retransmissions(sb, now, reo_wnd, segments, timer);
}

std::uint32_t Rack::detect_retransmissions(Scoreboard& sb, Instant now, Duration reo_wnd, std::uint32_t& segments,
                                           std::optional<Instant>& timer) {
  // The list is in sending order, so, as for the originals, the first entry still in flight that
  // was not sent before the last delivered segment, or has time left, ends the scan: each
  // entry is passed once, and the cost per ACK does not grow with the number outstanding.
  std::uint32_t bytes = 0;
  for (; rhead_ < retrans_.size(); ++rhead_) {
    const Watch& w = retrans_[rhead_];
    if (w.id < sb.head() || w.id >= sb.tail()) continue;  // cumulatively acknowledged
    SentSeg& s = sb.at(w.id);
    // Delivered (SACKed), already marked lost again, or sent once more (a later entry watches).
    if (!s.has(SentSeg::kRetrans) || s.xmit != w.xmit) continue;
    if (!sent_after(xmit_ts_, end_seq_, s.xmit, s.end())) break;
    if (!expired(s, now, reo_wnd, timer)) break;
    if (sb.mark_lost(s)) {
      bytes += s.len;
      ++segments;
    }
  }
  if (rhead_ == retrans_.size()) {
    retrans_.clear();
    rhead_ = 0;
  } else if (rhead_ >= 64 && rhead_ * 2 >= retrans_.size()) {
    // Compact now and then: amortized O(1) per entry, memory bounded by what is in flight.
    retrans_.erase(retrans_.begin(), retrans_.begin() + static_cast<std::ptrdiff_t>(rhead_));
    rhead_ = 0;
  }
  return bytes;
}

}  // namespace tunstack::tcp
