#pragma once
// The receive side of a connection: in-order and out-of-order data in one ring (the ring is the
// reassembly buffer, so no per-segment allocation), SACK blocks (RFC 2018) with D-SACK
// (RFC 2883), and the advertised window with receiver-side silly-window avoidance
// (RFC 9293 §3.8.6.2.2).
//
// Every in-window segment is kept: the islands beyond holes are a sorted range table
// (seq_ranges.hpp says why a table and not a bitmap) whose size follows the window, not a small
// fixed count, so a sender under loss with a multi-megabyte window does not have to retransmit
// data we had room for. Bounds, for a receive buffer of capacity C bytes:
//  - island data lives in the ring, so at most C bytes (the window);
//  - islands: at most range_limit() = C / kBytesPerRange + kMaxRanges (C/64 + 16: 65,552 for
//    4 MiB), 8 bytes each, so the table holds at most C/8 + 128 bytes. A sender of full-sized
//    segments never gets near it (each island and each hole is at least one segment, so with
//    MSS >= 64 there are at most C/128 islands); a client that sends one-byte islands on purpose
//    does, and a segment that would start one more island is then dropped and counted
//    (RxResult::dropped), while the islands held (already SACKed) stay.
#include <array>
#include <cstdint>
#include <span>

#include "stack/core/seq.hpp"
#include "stack/tcp/ring.hpp"
#include "stack/tcp/seq_ranges.hpp"
#include "stack/wire/tcp.hpp"

namespace tunstack::tcp {

/// What accept() did with a segment's payload.
struct RxResult {
  std::uint32_t advanced = 0;  ///< bytes by which rcv_nxt moved
  bool out_of_order = false;   ///< stored beyond a hole (ACK at once: RFC 5681 §4.2)
  bool filled_hole = false;    ///< advanced past previously queued data (ACK at once)
  bool duplicate = false;      ///< all of it was already received (D-SACK)
  bool dsack = false;          ///< some of it was already received: a D-SACK block is queued
  bool dropped = false;        ///< some of it did not fit (window, or range_limit() islands held)
  bool no_memory = false;      ///< the buffer could not grow: dropped, the client retransmits
};

/// Receive buffer and reassembly for one connection.
class Receiver {
 public:
  /// Islands always allowed, however small the buffer (this used to be the whole limit;
  /// range_limit() adds one per kBytesPerRange of capacity). Islands held are never forgotten,
  /// because they have been SACKed and a sender that sees SACKed data vanish (reneging,
  /// RFC 2018 §8) discards its whole scoreboard and waits for a timeout.
  static constexpr std::size_t kMaxRanges = 16;
  /// Buffer bytes per island allowed beyond kMaxRanges (see the bound at the top).
  static constexpr std::uint32_t kBytesPerRange = 64;

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
  bool empty() const { return readable() == 0 && ranges_.empty(); }
  std::uint32_t capacity() const { return static_cast<std::uint32_t>(ring_.capacity()); }
  /// Bytes of ring storage held now.
  std::size_t allocated() const { return ring_.allocated(); }
  /// Raises the buffer size (receive-buffer auto-tuning); the window follows.
  void grow_capacity(std::uint32_t capacity) { ring_.grow_capacity(capacity); }
  /// Frees the ring and island-table storage when nothing is buffered; returns whether it is
  /// now free.
  bool release_if_empty() {
    if (!empty()) return false;
    ring_.release();
    ranges_.release();
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
  /// holds the most recently received segment (RFC 2018 §4), then the other most recently
  /// changed islands, then the lowest ones not yet listed. Returns how many were written.
  std::size_t sack_blocks(std::span<wire::SackBlock> out);
  bool has_ooo() const { return !ranges_.empty(); }
  /// The out-of-order islands held, in sequence order.
  const SeqRangeSet& ooo_ranges() const { return ranges_; }
  /// Most islands held at once: a segment that would start one more is dropped.
  std::size_t range_limit() const { return ring_.capacity() / kBytesPerRange + kMaxRanges; }
  /// Bytes of island-table storage held now (apart from allocated(), the ring's).
  std::size_t reassembly_bytes() const { return ranges_.allocated_bytes(); }

 private:
  /// How many recently changed islands SACK repeats (RFC 2018 §4), as Linux's selective_acks.
  static constexpr std::size_t kRecent = wire::kTcpMaxSackBlocks;

  RxResult accept_in_order(SeqNum end, Bytes payload, RxResult r);
  RxResult accept_out_of_order(SeqNum seq, SeqNum end, Bytes payload, RxResult r);
  void set_dsack(SeqNum l, SeqNum r);
  /// Moves the island [l, r) (where the segment at `seq` landed) to the front of recent_.
  void note_recent(SeqNum seq, SeqRange island);
  /// Forgets recent points that rcv_nxt has passed.
  void drop_stale_recent();

  ByteRing ring_;
  SeqNum read_seq_;   ///< first byte not yet delivered
  SeqNum rcv_nxt_;
  SeqNum rcv_adv_;
  SeqRangeSet ranges_;                        ///< out-of-order islands
  std::size_t hint_ = SeqRangeSet::npos;      ///< index of the island touched last
  std::array<SeqNum, kRecent> recent_{};      ///< a byte in each recently changed island, newest first
  std::size_t nrecent_ = 0;
  bool dsack_pending_ = false;
  wire::SackBlock dsack_{};
};

}  // namespace tunstack::tcp
