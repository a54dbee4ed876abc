#include "stack/tcp/scoreboard.hpp"

#include <algorithm>

namespace tunstack::tcp {

void Scoreboard::grow() {
  // Doubling: allocation happens O(log window) times per connection, never per segment.
  const std::size_t old = ring_.size();
  const std::size_t cap = old == 0 ? 64 : old * 2;
  std::vector<SentSeg> next(cap);
  for (Id id = head_; id != tail_; ++id) next[id & (cap - 1)] = ring_[id & mask_];
  ring_ = std::move(next);
  mask_ = cap - 1;
}

SentSeg& Scoreboard::push(SeqNum start, std::uint32_t len) {
  if (tail_ - head_ == ring_.size()) grow();
  SentSeg& s = ring_[tail_ & mask_];
  s = SentSeg{};
  s.start = start;
  s.len = len;
  ++tail_;
  total_ += len;
  return s;
}

Scoreboard::Id Scoreboard::find(SeqNum seq) const {
  if (empty() || seq < front_seq() || seq >= end()) return tail_;
  // Records are contiguous and nearly all one MSS long: interpolate and step a few records (one
  // or two cache lines, where a binary search over a 50,000-record ring misses on every probe);
  // binary search only when the guess is off further.
  const std::uint64_t off = static_cast<std::uint32_t>(seq - front_seq());
  Id guess = head_ + off * (tail_ - head_) / std::max<std::uint64_t>(total_, 1);
  if (guess >= tail_) guess = tail_ - 1;
  for (int step = 0; step < 4; ++step) {
    const SentSeg& s = at(guess);
    if (seq < s.start) {
      --guess;  // seq >= front_seq(): never below head_
    } else if (seq >= s.end()) {
      ++guess;  // seq < end(): never reaches tail_
    } else {
      return guess;
    }
  }
  Id lo = head_, hi = tail_;
  while (hi - lo > 1) {
    const Id mid = lo + (hi - lo) / 2;
    if (at(mid).start <= seq) lo = mid;
    else hi = mid;
  }
  return lo;
}

bool Scoreboard::mark_lost(SentSeg& s) {
  if (s.has(SentSeg::kSacked)) return false;
  if (s.has(SentSeg::kLost) && !s.has(SentSeg::kRetrans)) return false;
  lost_hint_ = std::min(lost_hint_, id_of(s));
  if (s.has(SentSeg::kRetrans)) {
    // A lost retransmission: it leaves the pipe and waits to be sent again.
    retrans_ -= s.len;
    s.flags = static_cast<std::uint8_t>(s.flags & ~SentSeg::kRetrans);
    return true;  // kLost already set (retransmissions are of lost segments)
  }
  s.flags |= SentSeg::kLost;
  lost_ += s.len;
  return true;
}

void Scoreboard::on_retransmit(SentSeg& s, Instant now) {
  if (!s.has(SentSeg::kLost)) {
    // A retransmission not triggered by loss marking (a tail loss probe): it is in flight twice
    // as far as the pipe is concerned, as in Linux.
    s.flags |= SentSeg::kLost;
    lost_ += s.len;
  }
  if (!s.has(SentSeg::kRetrans)) retrans_ += s.len;
  s.flags |= SentSeg::kRetrans | SentSeg::kEverRetrans;
  s.xmit = now;
}

void Scoreboard::clear_sacks() {
  for (Id id = head_; id != tail_; ++id) at(id).flags &= static_cast<std::uint8_t>(~SentSeg::kSacked);
  sacked_ = 0;
  ranges_.clear();
}

void Scoreboard::mark_all_lost() {
  lost_hint_ = head_;
  for (Id id = head_; id != tail_; ++id) {
    SentSeg& s = at(id);
    if (s.has(SentSeg::kSacked)) continue;
    if (s.has(SentSeg::kRetrans)) retrans_ -= s.len;
    if (!s.has(SentSeg::kLost)) lost_ += s.len;
    s.flags = static_cast<std::uint8_t>((s.flags | SentSeg::kLost) & ~SentSeg::kRetrans);
  }
}

void Scoreboard::unmark_lost_not_retransmitted() {
  lost_hint_ = head_;
  for (Id id = head_; id != tail_; ++id) {
    SentSeg& s = at(id);
    if (!s.has(SentSeg::kLost) || s.has(SentSeg::kRetrans)) continue;
    s.flags = static_cast<std::uint8_t>(s.flags & ~SentSeg::kLost);
    lost_ -= s.len;
  }
}

SeqNum Scoreboard::dupthresh_boundary(std::uint32_t dupthresh, std::uint32_t mss) const {
  // RFC 6675 §4 IsLost: walk the SACKed ranges from the top; the record ending at `boundary` or
  // lower has either DupThresh ranges or more than (DupThresh - 1) * SMSS bytes above it.
  const std::uint64_t bytes_needed = std::uint64_t{dupthresh > 0 ? dupthresh - 1 : 0} * mss + 1;
  std::uint64_t bytes = 0;
  std::uint32_t count = 0;
  for (auto it = ranges_.rbegin(); it != ranges_.rend(); ++it) {
    const auto len = static_cast<std::uint32_t>(it->right - it->left);
    ++count;
    if (bytes + len >= bytes_needed) {
      const SeqNum by_bytes = it->right - static_cast<std::uint32_t>(bytes_needed - bytes);
      // Enough bytes above the boundary inside this range; with DupThresh ranges the whole
      // range's left edge counts.
      return count >= dupthresh ? it->left : seq_min(by_bytes, it->left);
    }
    bytes += len;
    if (count >= dupthresh) return it->left;
  }
  return front_seq();
}

Scoreboard::Id Scoreboard::next_lost() {
  if (lost_ == retrans_) return tail_;  // nothing waits for retransmission
  Id id = std::max(lost_hint_, head_);
  for (; id != tail_; ++id) {
    const SentSeg& s = at(id);
    if (s.has(SentSeg::kLost) && !s.has(SentSeg::kRetrans) && !s.has(SentSeg::kSacked)) break;
  }
  lost_hint_ = id;
  return id;
}

void Scoreboard::release_if_empty() {
  if (!empty()) return;
  std::vector<SentSeg>().swap(ring_);
  std::vector<Range>().swap(ranges_);
  std::vector<Range>().swap(fresh_);
  mask_ = 0;
}

void Scoreboard::add_range(SeqNum l, SeqNum r) {
  // ranges_ is sorted and disjoint (touching ranges are merged). Find the ranges [l, r) meets,
  // report the gaps between them inside [l, r), and replace them by their union.
  fresh_.clear();
  auto first = std::lower_bound(ranges_.begin(), ranges_.end(), l,
                                [](const Range& x, SeqNum v) { return x.right < v; });
  auto last = first;
  SeqNum cursor = l;
  SeqNum lo = l, hi = r;
  while (last != ranges_.end() && last->left <= r) {
    if (last->left > cursor) fresh_.push_back(Range{cursor, last->left});
    cursor = seq_max(cursor, last->right);
    lo = seq_min(lo, last->left);
    hi = seq_max(hi, last->right);
    ++last;
  }
  if (cursor < r) fresh_.push_back(Range{cursor, r});
  if (first == last) {
    ranges_.insert(first, Range{lo, hi});
  } else {
    *first = Range{lo, hi};
    ranges_.erase(first + 1, last);
  }
}

void Scoreboard::trim_ranges(SeqNum ack) {
  std::size_t drop = 0;
  while (drop < ranges_.size() && ranges_[drop].right <= ack) ++drop;
  if (drop > 0) ranges_.erase(ranges_.begin(), ranges_.begin() + static_cast<std::ptrdiff_t>(drop));
  if (!ranges_.empty() && ranges_.front().left < ack) ranges_.front().left = ack;
}

}  // namespace tunstack::tcp
