#include "stack/core/timer_wheel.hpp"

#include <cassert>

namespace tunstack {

Timer::~Timer() {
  if (wheel_ != nullptr) wheel_->cancel(*this);
}

TimerWheel::TimerWheel(Instant origin, Duration tick) : origin_(origin), tick_(tick) {
  assert(tick_.count() > 0);
}

TimerWheel::~TimerWheel() {
  // Disarm whatever is left so that Timer destructors never touch a dead wheel.
  auto drop = [](Timer* t) {
    while (t != nullptr) {
      Timer* n = t->next_;
      t->wheel_ = nullptr;
      t->prev_ = t->next_ = nullptr;
      t = n;
    }
  };
  drop(due_);
  for (auto& level : levels_)
    for (auto& slot : level.slots) drop(slot.head);
}

std::uint64_t TimerWheel::tick_of_deadline(Instant d) const {
  if (d <= origin_) return 0;
  const auto ns = (d - origin_).count();
  const auto t = tick_.count();
  return static_cast<std::uint64_t>((ns + t - 1) / t);
}

std::uint64_t TimerWheel::tick_of_now(Instant now) const {
  if (now <= origin_) return 0;
  return static_cast<std::uint64_t>((now - origin_).count() / tick_.count());
}

Instant TimerWheel::instant_of_tick(std::uint64_t tick) const {
  return origin_ + tick_ * static_cast<std::int64_t>(tick);
}

void TimerWheel::schedule(Timer& t, Instant deadline) {
  if (t.wheel_ != nullptr) {
    assert(t.wheel_ == this);
    unlink(t);
  } else {
    ++size_;
  }
  t.wheel_ = this;
  t.deadline_ = deadline;
  t.tick_ = tick_of_deadline(deadline);
  place(t);
}

void TimerWheel::cancel(Timer& t) {
  if (t.wheel_ == nullptr) return;
  assert(t.wheel_ == this);
  unlink(t);
  t.wheel_ = nullptr;
  --size_;
}

void TimerWheel::place(Timer& t, bool cascading) {
  if (cascading && t.tick_ == now_tick_) {  // cascaded onto the tick being fired right now
    link(t, 0, now_tick_ & kMask);
    return;
  }
  if (t.tick_ <= now_tick_) {  // already due: fire on the next advance()
    t.prev_ = nullptr;
    t.next_ = due_;
    if (due_ != nullptr) due_->prev_ = &t;
    due_ = &t;
    t.where_ = kOnDueList;
    return;
  }
  // The lowest level whose slot for this tick is still ahead of the current one in this turn.
  for (int level = 0; level < kLevels; ++level) {
    const int shift = level * kBits;
    if ((t.tick_ >> shift) - (now_tick_ >> shift) < kSlots || level == kLevels - 1) {
      std::uint64_t index = t.tick_ >> shift;
      if ((t.tick_ >> shift) - (now_tick_ >> shift) >= kSlots) index = (now_tick_ >> shift) + kMask;
      link(t, level, index & kMask);
      return;
    }
  }
}

void TimerWheel::link(Timer& t, int level, std::uint64_t slot) {
  Level& lv = levels_[static_cast<std::size_t>(level)];
  Slot& s = lv.slots[slot];
  t.prev_ = nullptr;
  t.next_ = s.head;
  if (s.head != nullptr) s.head->prev_ = &t;
  s.head = &t;
  t.where_ = static_cast<std::uint16_t>(static_cast<std::uint64_t>(level) * kSlots + slot);
  lv.bitmap[slot / 64] |= std::uint64_t{1} << (slot % 64);
}

void TimerWheel::unlink(Timer& t) {
  if (t.prev_ != nullptr) {
    t.prev_->next_ = t.next_;
  } else if (t.where_ == kOnDueList) {
    due_ = t.next_;
  } else {
    Level& lv = levels_[t.where_ / kSlots];
    const std::uint64_t slot = t.where_ & kMask;
    lv.slots[slot].head = t.next_;
    if (t.next_ == nullptr) lv.bitmap[slot / 64] &= ~(std::uint64_t{1} << (slot % 64));
  }
  if (t.next_ != nullptr) t.next_->prev_ = t.prev_;
  t.prev_ = t.next_ = nullptr;
}

Timer* TimerWheel::take_slot(int level, std::uint64_t slot) {
  Level& lv = levels_[static_cast<std::size_t>(level)];
  Timer* head = lv.slots[slot].head;
  lv.slots[slot].head = nullptr;
  lv.bitmap[slot / 64] &= ~(std::uint64_t{1} << (slot % 64));
  return head;
}

void TimerWheel::cascade() {
  // Level l turns when all levels below it wrapped; re-place that slot's timers lower down.
  for (int level = 1; level < kLevels; ++level) {
    const int shift = level * kBits;
    const std::uint64_t index = (now_tick_ >> shift) & kMask;
    Timer* t = take_slot(level, index);
    while (t != nullptr) {
      Timer* n = t->next_;
      place(*t, true);
      t = n;
    }
    if (index != 0) break;
  }
}

std::optional<std::uint64_t> TimerWheel::next_set(int level, std::uint64_t from) const {
  const Level& lv = levels_[static_cast<std::size_t>(level)];
  for (std::uint64_t i = 0; i < kSlots; ++i) {
    const std::uint64_t slot = (from + i) & kMask;
    const std::uint64_t word = lv.bitmap[slot / 64] >> (slot % 64);
    if (word == 0) {
      i += 63 - slot % 64;  // skip the rest of this word
      continue;
    }
    return slot + static_cast<std::uint64_t>(__builtin_ctzll(word));
  }
  return std::nullopt;
}

std::optional<Instant> TimerWheel::next_deadline() const {
  if (size_ == 0) return std::nullopt;
  if (due_ != nullptr) return instant_of_tick(now_tick_);
  std::optional<std::uint64_t> best;
  if (auto s = next_set(0, now_tick_ + 1)) best = now_tick_ + 1 + ((*s - (now_tick_ + 1)) & kMask);
  for (int level = 1; level < kLevels; ++level) {
    const int shift = level * kBits;
    const std::uint64_t cur = now_tick_ >> shift;
    if (auto s = next_set(level, cur + 1)) {
      // That slot turns (cascades) at the start of its span.
      const std::uint64_t idx = cur + 1 + ((*s - (cur + 1)) & kMask);
      const std::uint64_t at = idx << shift;
      if (!best || at < *best) best = at;
    }
  }
  if (!best) return instant_of_tick(now_tick_ + 1);
  return instant_of_tick(*best);
}

}  // namespace tunstack
