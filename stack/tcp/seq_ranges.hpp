#pragma once
// The out-of-order islands of a receive buffer: a sorted table of disjoint sequence ranges.
//
// Why a sorted table of ranges and not a bitmap of blocks over the ring:
//  - SACK (RFC 2018) reports island edges, and every ACK during loss carries up to four of them.
//    A bitmap would have to be scanned to find an edge, at a cost that grows with the island's
//    length (an island can be megabytes); the table has the edges as its entries.
//  - Client segments end on any byte (MSS 1448, 1460, 536, odd PMTUs), so a bitmap of blocks
//    larger than one byte cannot say where an island ends, and a bitmap of bytes costs an eighth
//    of the window whether or not anything is missing (512 KiB for a 4 MiB window). The table
//    costs 8 bytes per island actually held.
//
// Cost per segment: the common cases are O(1): a segment that extends the newest island or
// starts one just past it (the caller passes the index of the island it touched last as a
// hint), and popping the first island when the first hole fills (the table is a circular array,
// so the front goes without moving the rest). Other lookups are binary searches, O(log n). Only
// a new island below the newest one or a filled hole other than the first moves entries, and
// then those on the smaller side of it.
//
// Memory: storage is allocated on the first island, grows by doubling (never per segment:
// at most log2(limit / 16) times between two releases) and never beyond the caller's limit on the
// number of islands, so it is bounded by 8 bytes * limit.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "stack/core/seq.hpp"

namespace tunstack::tcp {

/// A half-open sequence range [left, right).
struct SeqRange {
  SeqNum left;
  SeqNum right;
  friend constexpr bool operator==(const SeqRange&, const SeqRange&) = default;
};

/// Disjoint, non-touching sequence ranges in ascending order, all within 2^31 of each other.
class SeqRangeSet {
 public:
  /// The first storage allocated (the old fixed island table's size).
  static constexpr std::size_t kInitialSlots = 16;
  static constexpr std::size_t npos = ~std::size_t{0};

  /// Where a range [l, r) falls: the entries [first, last) overlap or touch it.
  struct Span {
    std::size_t first = 0;
    std::size_t last = 0;
    bool empty() const { return first == last; }
  };

  SeqRangeSet() = default;
  SeqRangeSet(const SeqRangeSet&) = delete;
  SeqRangeSet& operator=(const SeqRangeSet&) = delete;

  std::size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  /// Entry i in ascending order (i < size()).
  const SeqRange& operator[](std::size_t i) const { return slots_[slot(i)]; }
  const SeqRange& front() const { return (*this)[0]; }
  const SeqRange& back() const { return (*this)[n_ - 1]; }
  /// Bytes of storage held now.
  std::size_t allocated_bytes() const { return cap_ * sizeof(SeqRange); }

  /// The entries that overlap or touch [l, r). `hint` is an index to try first (the entry
  /// touched last); a right hint makes this O(1), a wrong one costs a binary search.
  Span locate(SeqNum l, SeqNum r, std::size_t hint = npos) const;
  /// Index of the entry that contains s, or npos.
  std::size_t find(SeqNum s) const;

  /// Ensures room for one more entry, growing storage (doubling) but never past `limit`
  /// entries. False when size() == limit or memory is exhausted.
  [[nodiscard]] bool reserve_one(std::size_t limit);
  /// Adds [l, r) at `where`, the span locate(l, r) returned: a new entry when it is empty
  /// (after reserve_one), else one entry that replaces those it merges. Returns its index.
  std::size_t insert(SeqNum l, SeqNum r, Span where);
  /// Removes the first entry.
  void pop_front();
  /// Frees the storage (only when empty).
  void release();

 private:
  std::size_t slot(std::size_t i) const {
    const std::size_t s = head_ + i;
    return s >= cap_ ? s - cap_ : s;
  }
  SeqRange& at(std::size_t i) { return slots_[slot(i)]; }
  /// Index of the first entry whose right edge is at or after s (touching counts).
  std::size_t first_reaching(SeqNum s, std::size_t from) const;
  /// Index of the first entry at or after `from` whose left edge lies beyond s.
  std::size_t first_beyond(SeqNum s, std::size_t from) const;
  /// Opens a gap of one entry at index i (shifting the smaller side).
  void open_gap(std::size_t i);
  /// Removes the k entries starting at index i (shifting the smaller side).
  void close_gap(std::size_t i, std::size_t k);

  std::unique_ptr<SeqRange[]> slots_;
  std::size_t cap_ = 0;   ///< slots allocated
  std::size_t head_ = 0;  ///< slot of entry 0
  std::size_t n_ = 0;     ///< entries held
};

}  // namespace tunstack::tcp
