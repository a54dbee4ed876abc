#pragma once
// The sender's scoreboard (RFC 6675 §3, Linux's retransmission queue): one record per segment
// sent and not yet cumulatively acknowledged, with its SACKed / lost / retransmitted state, its
// last transmission time (RACK, RTT) and the delivery-rate snapshot taken when it left (rate.hpp).
//
// Cost per ACK does not grow with the window: records live in a ring addressed by a monotonic id
// (binary search by sequence number), and what the client has SACKed is also kept as a short
// sorted list of ranges, so a SACK block costs O(ranges + log n) plus one step per record it
// newly covers. Byte counters (sacked, lost, retransmitted) make RFC 6675's pipe O(1).
#include <cstdint>
#include <vector>

#include "stack/core/seq.hpp"
#include "stack/core/time.hpp"

namespace tunstack::tcp {

/// One segment on the scoreboard.
struct SentSeg {
  static constexpr std::uint8_t kSacked = 1;       ///< the client SACKed it
  static constexpr std::uint8_t kLost = 2;         ///< considered lost (RACK, DupThresh or RTO)
  static constexpr std::uint8_t kRetrans = 4;      ///< a retransmission of it is in flight
  static constexpr std::uint8_t kEverRetrans = 8;  ///< retransmitted at least once (Karn)
  static constexpr std::uint8_t kFin = 16;         ///< carries our FIN (its last sequence number)
  static constexpr std::uint8_t kAppLimited = 32;  ///< sent while the sender was app-limited

  SeqNum start;
  std::uint32_t len = 0;  ///< sequence space: payload bytes, plus 1 with kFin
  std::uint8_t flags = 0;
  Instant xmit{};                ///< last (re)transmission
  Instant first_sent{};          ///< rate: first_sent_time of its flight (rate.hpp)
  Instant delivered_time{};      ///< rate: C.delivered_time when it left
  std::uint64_t delivered = 0;   ///< rate: C.delivered when it left

  SeqNum end() const { return start + len; }
  bool has(std::uint8_t f) const { return (flags & f) != 0; }
};

/// See the file comment. Sequence numbers are wrap-safe; ids are monotonic.
class Scoreboard {
 public:
  using Id = std::uint64_t;

  bool empty() const { return head_ == tail_; }
  Id head() const { return head_; }
  Id tail() const { return tail_; }
  SentSeg& at(Id id) { return ring_[id & mask_]; }
  const SentSeg& at(Id id) const { return ring_[id & mask_]; }
  /// The sequence number just past the last record (SND.MAX for data and FIN).
  SeqNum end() const { return empty() ? SeqNum{} : at(tail_ - 1).end(); }

  /// Appends a record for a new segment [start, start + len); start == end() unless empty.
  SentSeg& push(SeqNum start, std::uint32_t len);
  /// The record holding `seq`, or tail() when none does.
  Id find(SeqNum seq) const;

  /// Cumulative ACK: removes records wholly below `ack` (trimming one that straddles it) and
  /// calls `delivered(const SentSeg&, bytes)` for each byte range delivered now that had not been
  /// SACKed before. Returns the bytes removed from the scoreboard.
  template <class F>
  std::uint32_t ack_to(SeqNum ack, F&& delivered);

  /// One SACK block: marks every record wholly inside [left, right) SACKed and calls
  /// `sacked(SentSeg&)` for each one newly marked. Returns the bytes newly SACKed.
  template <class F>
  std::uint32_t sack(SeqNum left, SeqNum right, F&& sacked);

  /// Marks a record lost (no-op when SACKed or already lost and not retransmitted since).
  /// A retransmission marked lost leaves the pipe (RFC 8985 §6.2 Step 5 on a lost retransmit).
  bool mark_lost(SentSeg& s);
  /// A record is being retransmitted.
  void on_retransmit(SentSeg& s, Instant now);
  /// The client discarded what it SACKed (RFC 2018 §8 reneging): forget every SACK mark.
  void clear_sacks();
  /// RTO (RFC 6675 §5.1, Linux's tcp_enter_loss): every record not SACKed is lost.
  void mark_all_lost();
  /// Undoing a spurious RTO: records marked lost and not retransmitted are in flight again.
  void unmark_lost_not_retransmitted();

  std::uint32_t sacked_bytes() const { return sacked_; }
  std::uint32_t lost_bytes() const { return lost_; }
  std::uint32_t retrans_bytes() const { return retrans_; }
  std::uint32_t total_bytes() const { return total_; }
  /// RFC 6675 pipe (Linux's tcp_packets_in_flight, in bytes).
  std::uint32_t in_flight() const { return total_ - sacked_ - lost_ + retrans_; }
  /// The highest sequence number SACKed (RACK's FACK), or the front when nothing is.
  SeqNum highest_sacked() const { return ranges_.empty() ? front_seq() : ranges_.back().right; }
  std::size_t sacked_ranges() const { return ranges_.size(); }
  /// The SACKed ranges above snd_una, lowest first.
  struct Range {
    SeqNum left, right;
  };
  const std::vector<Range>& ranges() const { return ranges_; }

  /// RFC 6675 IsLost boundary: records ending at or below the returned sequence number have
  /// more than (dupthresh - 1) * mss bytes, or dupthresh discontiguous ranges, SACKed above them.
  /// front_seq() when nothing is lost by that rule.
  SeqNum dupthresh_boundary(std::uint32_t dupthresh, std::uint32_t mss) const;
  /// Lowest record that is lost and not retransmitted since (RFC 6675 NextSeg rule 1); tail()
  /// when none. Amortized O(1): a hint follows the lowest record marked lost.
  Id next_lost();

  /// Frees the ring when empty (an idle connection holds no scoreboard memory).
  void release_if_empty();
  std::size_t allocated() const { return ring_.capacity() * sizeof(SentSeg) + ranges_.capacity() * sizeof(Range); }

 private:
  SeqNum front_seq() const { return empty() ? SeqNum{} : at(head_).start; }
  Id id_of(const SentSeg& s) const {
    const auto idx = static_cast<std::uint64_t>(&s - ring_.data());
    return head_ + ((idx - (head_ & mask_)) & mask_);
  }
  void grow();
  /// Adds [l, r) to ranges_; leaves the parts of it not covered before in fresh_.
  void add_range(SeqNum l, SeqNum r);
  void trim_ranges(SeqNum ack);

  std::vector<SentSeg> ring_;
  std::uint64_t mask_ = 0;
  Id head_ = 0;
  Id tail_ = 0;
  std::vector<Range> ranges_;
  std::vector<Range> fresh_;  ///< scratch for sack(): reused, so no allocation per ACK
  Id lost_hint_ = 0;  ///< no record before it is lost and waiting for retransmission
  std::uint32_t total_ = 0;
  std::uint32_t sacked_ = 0;
  std::uint32_t lost_ = 0;
  std::uint32_t retrans_ = 0;
};

template <class F>
std::uint32_t Scoreboard::ack_to(SeqNum ack, F&& delivered) {
  std::uint32_t removed = 0;
  while (!empty()) {
    SentSeg& s = at(head_);
    if (s.start >= ack) break;
    const bool whole = s.end() <= ack;
    const std::uint32_t n = whole ? s.len : static_cast<std::uint32_t>(ack - s.start);
    if (!s.has(SentSeg::kSacked)) delivered(static_cast<const SentSeg&>(s), n);
    // Counters follow the bytes that leave the board.
    if (s.has(SentSeg::kSacked)) sacked_ -= n;
    else if (s.has(SentSeg::kLost)) lost_ -= n;
    if (s.has(SentSeg::kRetrans) && !s.has(SentSeg::kSacked)) retrans_ -= n;
    total_ -= n;
    removed += n;
    if (!whole) {
      s.start = ack;
      s.len -= n;
      break;
    }
    ++head_;
  }
  trim_ranges(ack);
  return removed;
}

template <class F>
std::uint32_t Scoreboard::sack(SeqNum left, SeqNum right, F&& sacked) {
  if (empty() || right <= front_seq() || left >= end() || right <= left) return 0;
  if (left < front_seq()) left = front_seq();
  if (right > end()) right = end();
  add_range(left, right);
  std::uint32_t bytes = 0;
  for (const Range& f : fresh_) {
    for (Id id = find(f.left); id != tail_; ++id) {
      SentSeg& s = at(id);
      if (s.start >= f.right) break;
      // Only whole records: a receiver SACKs whole segments (Linux splits; we do not).
      if (s.has(SentSeg::kSacked) || s.start < left || s.end() > right) continue;
      if (s.has(SentSeg::kLost)) lost_ -= s.len;
      if (s.has(SentSeg::kRetrans)) retrans_ -= s.len;
      s.flags = static_cast<std::uint8_t>((s.flags | SentSeg::kSacked) & ~(SentSeg::kLost | SentSeg::kRetrans));
      sacked_ += s.len;
      bytes += s.len;
      sacked(s);
    }
  }
  return bytes;
}

}  // namespace tunstack::tcp
