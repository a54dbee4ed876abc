#include "stack/tcp/receiver.hpp"

#include <algorithm>

namespace tunstack::tcp {

Receiver::Receiver(std::uint32_t capacity, SeqNum first, std::uint64_t* gauge)
    : ring_(capacity, gauge), read_seq_(first), rcv_nxt_(first), rcv_adv_(first) {}

RxResult Receiver::accept(SeqNum seq, Bytes payload) {
  RxResult r;
  if (payload.empty()) return r;
  SeqNum end = seq + static_cast<std::uint32_t>(payload.size());
  if (seq < rcv_nxt_) {
    // RFC 2883 §4: report the already-received part as the first SACK block (D-SACK).
    dsack_ = {seq, seq_min(end, rcv_nxt_)};
    dsack_pending_ = true;
    if (end <= rcv_nxt_) {
      r.duplicate = true;
      return r;
    }
    payload = payload.subspan(static_cast<std::size_t>(rcv_nxt_ - seq));
    seq = rcv_nxt_;
  }
  const auto off = static_cast<std::uint32_t>(seq - rcv_nxt_);
  const std::uint32_t room = free_space();
  if (off >= room) {
    r.dropped = true;
    return r;
  }
  if (payload.size() > room - off) {
    payload = payload.first(room - off);
    end = seq + static_cast<std::uint32_t>(payload.size());
    r.dropped = true;
  }
  for (std::size_t i = 0; i < nranges_; ++i) {
    if (ranges_[i].left <= seq && end <= ranges_[i].right) {
      dsack_ = {seq, end};  // RFC 2883 §4.2: a duplicate of out-of-order data
      dsack_pending_ = true;
      r.duplicate = true;
      return r;
    }
  }
  if (off > 0 && nranges_ == kMaxRanges && !touches_range(seq, end)) {
    r.dropped = true;  // a new island with the table full: the client retransmits it later
    return r;
  }
  if (!ring_.reserve(readable() + off + payload.size())) {
    r.dropped = r.no_memory = true;
    return r;
  }
  // The one copy of client payload: from the segment into the ring (delivery reads it in place).
  ring_.write_at(readable() + off, payload);
  if (off == 0) {
    const SeqNum old = rcv_nxt_;
    rcv_nxt_ = end;
    const std::size_t before = nranges_;
    merge_into_rcv_nxt();
    r.filled_hole = nranges_ != before;
    r.advanced = static_cast<std::uint32_t>(rcv_nxt_ - old);
  } else {
    add_range(seq, end);
    r.out_of_order = true;
  }
  return r;
}

bool Receiver::note_duplicate(SeqNum seq, SeqNum end) {
  if (!(seq < rcv_nxt_)) return false;
  dsack_ = {seq, seq_min(end, rcv_nxt_)};
  dsack_pending_ = true;
  return true;
}

void Receiver::add_range(SeqNum l, SeqNum rgt) {
  // Merge every island that overlaps or touches [l, rgt) into one.
  std::size_t out = 0;
  for (std::size_t i = 0; i < nranges_; ++i) {
    Range& g = ranges_[i];
    if (g.right < l || rgt < g.left) {
      ranges_[out++] = g;
    } else {
      l = seq_min(l, g.left);
      rgt = seq_max(rgt, g.right);
    }
  }
  nranges_ = out;
  // accept() refuses a new island when the table is full, so there is room here.
  ranges_[nranges_++] = {l, rgt, ++stamp_};
}

bool Receiver::touches_range(SeqNum l, SeqNum rgt) const {
  for (std::size_t i = 0; i < nranges_; ++i)
    if (!(ranges_[i].right < l || rgt < ranges_[i].left)) return true;
  return false;
}

void Receiver::merge_into_rcv_nxt() {
  bool changed = true;
  while (changed) {
    changed = false;
    for (std::size_t i = 0; i < nranges_; ++i) {
      if (ranges_[i].left <= rcv_nxt_) {
        rcv_nxt_ = seq_max(rcv_nxt_, ranges_[i].right);
        ranges_[i] = ranges_[--nranges_];
        changed = true;
        break;
      }
    }
  }
}

std::uint32_t Receiver::window_to_advertise(std::uint32_t mss, std::uint8_t wscale) {
  const std::uint32_t room = free_space();
  const std::uint32_t cur = rcv_adv_ > rcv_nxt_ ? static_cast<std::uint32_t>(rcv_adv_ - rcv_nxt_) : 0;
  const std::uint32_t sws = std::min(static_cast<std::uint32_t>(ring_.capacity() / 2), mss);
  std::uint32_t win = cur;
  // RFC 9293 §3.8.6.2.2: move the right edge only by a worthwhile amount (and never back).
  if (room >= cur + sws || room == static_cast<std::uint32_t>(ring_.capacity())) win = room;
  const std::uint32_t max_field = 0xffffu << wscale;
  win = std::min(win, max_field);
  // The field can only say multiples of 2^wscale; rounding down may pull the edge back by less
  // than one unit, which accept() tolerates (it checks the real free space).
  win &= ~((1u << wscale) - 1u);
  if (rcv_nxt_ + win > rcv_adv_) rcv_adv_ = rcv_nxt_ + win;
  return win;
}

bool Receiver::window_update_due(std::uint32_t mss) const {
  const std::uint32_t room = free_space();
  const std::uint32_t cur = rcv_adv_ > rcv_nxt_ ? static_cast<std::uint32_t>(rcv_adv_ - rcv_nxt_) : 0;
  const std::uint32_t sws = std::min(static_cast<std::uint32_t>(ring_.capacity() / 2), mss);
  // Like Linux's tcp_cleanup_rbuf: worth an ACK of its own when the window at least doubles and
  // the client is close to stalling (under 4 segments); otherwise the next ACK carries it.
  return room >= cur + sws && room >= 2 * cur && cur < 4 * mss;
}

std::size_t Receiver::sack_blocks(std::span<wire::SackBlock> out) {
  std::size_t n = 0;
  if (dsack_pending_ && n < out.size()) {
    out[n++] = dsack_;
    dsack_pending_ = false;
  }
  // Most recently changed first: pick by stamp (at most kMaxRanges entries, so a selection pass).
  std::uint32_t below = ~0u;
  for (std::size_t k = 0; k < nranges_ && n < out.size(); ++k) {
    std::size_t best = kMaxRanges;
    for (std::size_t i = 0; i < nranges_; ++i)
      if (ranges_[i].stamp < below && (best == kMaxRanges || ranges_[i].stamp > ranges_[best].stamp)) best = i;
    if (best == kMaxRanges) break;
    below = ranges_[best].stamp;
    out[n++] = {ranges_[best].left, ranges_[best].right};
  }
  return n;
}

}  // namespace tunstack::tcp
