#include "stack/tcp/seq_ranges.hpp"

#include <algorithm>
#include <new>

namespace tunstack::tcp {

SeqRangeSet::Span SeqRangeSet::locate(SeqNum l, SeqNum r, std::size_t hint) const {
  // The entry touched last usually is the one this range extends (the client sends in order
  // behind a hole), or the range starts a new island just past it (the next loss): check those
  // before searching.
  std::size_t i;
  if (hint < n_ && (*this)[hint].right >= l && (hint == 0 || (*this)[hint - 1].right < l)) {
    i = hint;
  } else if (hint < n_ && (*this)[hint].right < l && (hint + 1 == n_ || (*this)[hint + 1].right >= l)) {
    i = hint + 1;
  } else {
    i = first_reaching(l, 0);
  }
  if (i == n_ || (*this)[i].left > r) return {i, i};
  if (i + 1 == n_ || (*this)[i + 1].left > r) return {i, i + 1};
  return {i, first_beyond(r, i + 1)};
}

std::size_t SeqRangeSet::find(SeqNum s) const {
  // Ranges are half-open, so an entry "contains" s when left <= s < right.
  std::size_t lo = 0;
  std::size_t hi = n_;
  while (lo < hi) {
    const std::size_t mid = lo + (hi - lo) / 2;
    if ((*this)[mid].right > s) hi = mid;
    else lo = mid + 1;
  }
  return lo < n_ && (*this)[lo].left <= s ? lo : npos;
}

std::size_t SeqRangeSet::first_reaching(SeqNum s, std::size_t from) const {
  std::size_t lo = from;
  std::size_t hi = n_;
  while (lo < hi) {
    const std::size_t mid = lo + (hi - lo) / 2;
    if ((*this)[mid].right >= s) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

std::size_t SeqRangeSet::first_beyond(SeqNum s, std::size_t from) const {
  std::size_t lo = from;
  std::size_t hi = n_;
  while (lo < hi) {
    const std::size_t mid = lo + (hi - lo) / 2;
    if ((*this)[mid].left > s) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

bool SeqRangeSet::reserve_one(std::size_t limit) {
  if (n_ >= limit) return false;
  if (n_ < cap_) return true;
  // Geometric growth: amortized over the islands that filled the old storage, never per segment.
  const std::size_t want = std::min(std::max(kInitialSlots, cap_ * 2), limit);
  auto* fresh = new (std::nothrow) SeqRange[want];
  if (fresh == nullptr) return false;
  for (std::size_t i = 0; i < n_; ++i) fresh[i] = (*this)[i];
  slots_.reset(fresh);
  cap_ = want;
  head_ = 0;
  return true;
}

std::size_t SeqRangeSet::insert(SeqNum l, SeqNum r, Span where) {
  if (where.empty()) {
    open_gap(where.first);
    at(where.first) = {l, r};
    return where.first;
  }
  SeqRange& merged = at(where.first);
  merged.left = seq_min(l, merged.left);
  merged.right = seq_max(r, (*this)[where.last - 1].right);
  // Entries before where.first keep their index whichever side close_gap shifts.
  if (where.last - where.first > 1) close_gap(where.first + 1, where.last - where.first - 1);
  return where.first;
}

void SeqRangeSet::pop_front() {
  head_ = slot(1);
  if (--n_ == 0) head_ = 0;
}

void SeqRangeSet::release() {
  if (n_ != 0) return;
  slots_.reset();
  cap_ = 0;
  head_ = 0;
}

void SeqRangeSet::open_gap(std::size_t i) {
  if (i < n_ - i) {
    // Move entries [0, i) one slot toward the front.
    head_ = head_ == 0 ? cap_ - 1 : head_ - 1;
    ++n_;
    for (std::size_t k = 0; k < i; ++k) at(k) = at(k + 1);
  } else {
    // Move entries [i, n) one slot toward the back.
    for (std::size_t k = n_; k > i; --k) at(k) = at(k - 1);
    ++n_;
  }
}

void SeqRangeSet::close_gap(std::size_t i, std::size_t k) {
  if (i < n_ - (i + k)) {
    // Move entries [0, i) k slots toward the back; the head follows.
    for (std::size_t j = i; j-- > 0;) at(j + k) = at(j);
    head_ = slot(k);
  } else {
    // Move entries [i + k, n) k slots toward the front.
    for (std::size_t j = i; j + k < n_; ++j) at(j) = at(j + k);
  }
  n_ -= k;
}

}  // namespace tunstack::tcp
