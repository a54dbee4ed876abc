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
    set_dsack(seq, seq_min(end, rcv_nxt_));
    r.dsack = true;
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
  return off == 0 ? accept_in_order(end, payload, r) : accept_out_of_order(seq, end, payload, r);
}

RxResult Receiver::accept_in_order(SeqNum end, Bytes payload, RxResult r) {
  if (!ring_.reserve(readable() + payload.size())) {
    r.dropped = r.no_memory = true;
    return r;
  }
  // The one copy of client payload: from the segment into the ring (delivery reads it in place).
  ring_.write_at(readable(), payload);
  const SeqNum old = rcv_nxt_;
  rcv_nxt_ = end;
  if (!ranges_.empty() && ranges_.front().left <= rcv_nxt_) {
    // RFC 2883 §4: part of it was held already, beyond the hole it filled.
    const SeqRange first = ranges_.front();
    if (!r.dsack && first.left < end) {
      set_dsack(first.left, seq_min(end, first.right));
      r.dsack = true;
    }
    // The hole before the first island is filled: rcv_nxt moves past every island it reaches.
    std::size_t popped = 0;
    while (!ranges_.empty() && ranges_.front().left <= rcv_nxt_) {
      rcv_nxt_ = seq_max(rcv_nxt_, ranges_.front().right);
      ranges_.pop_front();
      ++popped;
    }
    hint_ = hint_ != SeqRangeSet::npos && hint_ >= popped ? hint_ - popped : SeqRangeSet::npos;
    drop_stale_recent();
    r.filled_hole = true;
  }
  r.advanced = static_cast<std::uint32_t>(rcv_nxt_ - old);
  return r;
}

RxResult Receiver::accept_out_of_order(SeqNum seq, SeqNum end, Bytes payload, RxResult r) {
  const auto off = static_cast<std::uint32_t>(seq - rcv_nxt_);
  const SeqRangeSet::Span where = ranges_.locate(seq, end, hint_);
  if (!where.empty()) {
    const SeqRange first = ranges_[where.first];
    if (first.left <= seq && end <= first.right) {
      // RFC 2883 §4.2: a duplicate of out-of-order data; the island holding it comes second.
      set_dsack(seq, end);
      r.dsack = r.duplicate = true;
      hint_ = where.first;
      note_recent(seq, first);
      return r;
    }
    // RFC 2883 §4: a partial duplicate reports the first part already held.
    for (std::size_t k = where.first; k < where.last && k < where.first + 2 && !r.dsack; ++k) {
      const SeqRange g = ranges_[k];
      if (g.left < end && seq < g.right) {
        set_dsack(seq_max(seq, g.left), seq_min(end, g.right));
        r.dsack = true;
      }
    }
  } else if (!ranges_.reserve_one(range_limit())) {
    // A new island with range_limit() held (or no memory for the table): the client
    // retransmits it later. The islands held stay (RFC 2018 §8: no reneging).
    r.dropped = true;
    r.no_memory = ranges_.size() < range_limit();
    return r;
  }
  if (!ring_.reserve(readable() + off + payload.size())) {
    r.dropped = r.no_memory = true;
    return r;
  }
  // The one copy of client payload, as in accept_in_order.
  ring_.write_at(readable() + off, payload);
  hint_ = ranges_.insert(seq, end, where);
  note_recent(seq, ranges_[hint_]);
  r.out_of_order = true;
  return r;
}

bool Receiver::note_duplicate(SeqNum seq, SeqNum end) {
  if (!(seq < rcv_nxt_)) return false;
  set_dsack(seq, seq_min(end, rcv_nxt_));
  return true;
}

void Receiver::set_dsack(SeqNum l, SeqNum rgt) {
  dsack_ = {l, rgt};
  dsack_pending_ = true;
}

void Receiver::note_recent(SeqNum seq, SeqRange island) {
  // Like Linux's selective_acks: the island just changed goes first and absorbs the entries of
  // islands it merged; the oldest falls off the end.
  std::array<SeqNum, kRecent> kept{};
  std::size_t n = 0;
  kept[n++] = seq;
  for (std::size_t i = 0; i < nrecent_ && n < kRecent; ++i) {
    if (!(island.left <= recent_[i] && recent_[i] < island.right)) kept[n++] = recent_[i];
  }
  recent_ = kept;
  nrecent_ = n;
}

void Receiver::drop_stale_recent() {
  std::size_t n = 0;
  for (std::size_t i = 0; i < nrecent_; ++i)
    if (recent_[i] >= rcv_nxt_) recent_[n++] = recent_[i];
  nrecent_ = n;
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
    out[n++] = dsack_;  // RFC 2883 §4: the D-SACK block first, reported once
    dsack_pending_ = false;
  }
  const std::size_t first_island = n;
  const auto listed = [&](const SeqRange& g) {
    for (std::size_t k = first_island; k < n; ++k)
      if (out[k].left == g.left) return true;
    return false;
  };
  // RFC 2018 §4: the island holding the newest segment, then the most recently changed others
  // (repeated in every ACK until newer ones displace them, so each is reported several times).
  for (std::size_t i = 0; i < nrecent_ && n < out.size(); ++i) {
    const std::size_t idx = ranges_.find(recent_[i]);
    if (idx != SeqRangeSet::npos && !listed(ranges_[idx])) out[n++] = {ranges_[idx].left, ranges_[idx].right};
  }
  // Room left: the lowest islands, which bound the holes the client should fill first.
  for (std::size_t i = 0; i < ranges_.size() && n < out.size(); ++i) {
    if (!listed(ranges_[i])) out[n++] = {ranges_[i].left, ranges_[i].right};
  }
  return n;
}

}  // namespace tunstack::tcp
