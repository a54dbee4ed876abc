#pragma once
// The receive side of a connection: in-order and out-of-order data in one ring (the ring is the
// reassembly buffer, so no per-segment allocation), SACK blocks (RFC 2018) with D-SACK
// (RFC 2883), and the advertised window with receiver-side silly-window avoidance
// (RFC 9293 §3.8.6.2.2).
#include <array>
#include <cstdint>
#include <span>

#include "stack/core/seq.hpp"
#include "stack/tcp/ring.hpp"
#include "stack/wire/tcp.hpp"

namespace tunstack::tcp {

/// What accept() did with a segment's payload.
struct RxResult {
  std::uint32_t advanced = 0;  ///< bytes by which rcv_nxt moved
  bool out_of_order = false;   ///< stored beyond a hole (ACK at once: RFC 5681 §4.2)
  bool filled_hole = false;    ///< advanced past previously queued data (ACK at once)
  bool duplicate = false;      ///< all of it was already received (D-SACK)
  bool dropped = false;        ///< some of it did not fit (window or range table)
  bool no_memory = false;      ///< the buffer could not grow: dropped, the client retransmits
};

/// Receive buffer and reassembly for one connection.
class Receiver {
 public:
  /// Out-of-order islands kept. A segment that would start one more is dropped (and counted);
  /// islands already held are never forgotten, because they have been SACKed and a sender that
  /// sees SACKed data vanish (reneging, RFC 2018 §8) discards its whole scoreboard and waits
  /// for a timeout.
  static constexpr std::size_t kMaxRanges = 16;

  /// `first` is the sequence number of the first data byte (IRS + 1); `gauge` as in ByteRing.
  Receiver(std::uint32_t capacity, SeqNum first, std::uint64_t* gauge = nullptr);

  SeqNum rcv_nxt() const { return rcv_nxt_; }
  /// Stores payload starting at `seq`; bytes outside [rcv_nxt, rcv_nxt + free) are cut off.
  RxResult accept(SeqNum seq, Bytes payload);
  /// Reports [seq, end) as a duplicate (RFC 2883 D-SACK) without storing anything: for a segment
  /// refused by the window test. False when none of it lies below rcv_nxt.
  bool note_duplicate(SeqNum seq, SeqNum end);

  /// Bytes received in order and not yet handed to the session.
  std::uint32_t readable() const { return static_cast<std::uint32_t>(rcv_nxt_ - read_seq_); }
  /// The contiguous readable bytes at the front (call again after consume for the wrapped rest).
  Bytes peek() const { return ring_.contiguous(0, readable()); }
  /// Marks n readable bytes as delivered: their space returns to the window.
  void consume(std::uint32_t n) { ring_.advance(n); read_seq_ += n; }

  /// The first byte not yet handed to the session (Linux's copied_seq).
  SeqNum read_seq() const { return read_seq_; }
  /// Nothing buffered: no readable and no out-of-order bytes.
  bool empty() const { return readable() == 0 && nranges_ == 0; }
  std::uint32_t capacity() const { return static_cast<std::uint32_t>(ring_.capacity()); }
  /// Bytes of ring storage held now.
  std::size_t allocated() const { return ring_.allocated(); }
  /// Raises the buffer size (receive-buffer auto-tuning); the window follows.
  void grow_capacity(std::uint32_t capacity) { ring_.grow_capacity(capacity); }
  /// Frees the ring storage when nothing is buffered; returns whether storage is now free.
  bool release_if_empty() {
    if (!empty()) return false;
    ring_.release();
    return true;
  }

  /// Free space after rcv_nxt: the most we could advertise.
  std::uint32_t free_space() const { return static_cast<std::uint32_t>(ring_.capacity()) - readable(); }
  /// The window to advertise, in bytes, never moving the right edge left (RFC 9293 §3.8.6.2.2:
  /// grow it only by at least min(capacity/2, mss)). Updates the remembered right edge.
  std::uint32_t window_to_advertise(std::uint32_t mss, std::uint8_t wscale);
  /// The right edge last advertised.
  SeqNum rcv_adv() const { return rcv_adv_; }
  /// True when advertising now would open the window by a worthwhile amount (window update).
  bool window_update_due(std::uint32_t mss) const;

  /// Fills `out` with SACK blocks: a pending D-SACK first (RFC 2883 §4), then the island that
  /// changed most recently (RFC 2018 §4), then the others. Returns how many were written.
  std::size_t sack_blocks(std::span<wire::SackBlock> out);
  bool has_ooo() const { return nranges_ > 0; }

 private:
  void add_range(SeqNum l, SeqNum r);
  /// True when [l, r) overlaps or touches an island already held.
  bool touches_range(SeqNum l, SeqNum r) const;
  void merge_into_rcv_nxt();

  ByteRing ring_;
  SeqNum read_seq_;   ///< first byte not yet delivered
  SeqNum rcv_nxt_;
  SeqNum rcv_adv_;
  struct Range {
    SeqNum left, right;
    std::uint32_t stamp;  ///< recency for SACK block order
  };
  std::array<Range, kMaxRanges> ranges_{};
  std::size_t nranges_ = 0;
  std::uint32_t stamp_ = 0;
  bool dsack_pending_ = false;
  wire::SackBlock dsack_{};
};

}  // namespace tunstack::tcp
