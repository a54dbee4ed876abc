#pragma once
// Deadlines as data, gathered by one hierarchical timer wheel (Varghese & Lauck): O(1) schedule
// and cancel, amortised O(1) expiry. Connections and NAT mappings embed a `Timer`; the driver asks
// next_deadline() for when to wake and calls advance(now) when it does.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "stack/core/time.hpp"

namespace tunstack {

/// An intrusive timer node: embed it in the object that owns the deadline. Not copyable; it must
/// be cancelled (or expired) before it is destroyed — the destructor cancels it.
class Timer {
 public:
  Timer() = default;
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  ~Timer();

  bool armed() const { return wheel_ != nullptr; }
  Instant deadline() const { return deadline_; }

  /// Free for the owner: lets an expiry callback find the object this timer belongs to.
  void* owner = nullptr;

 private:
  friend class TimerWheel;
  class TimerWheel* wheel_ = nullptr;
  Timer* prev_ = nullptr;
  Timer* next_ = nullptr;
  Instant deadline_{};
  std::uint64_t tick_ = 0;
  std::uint16_t where_ = 0;  // level * 256 + slot, or kOnDueList
};

/// Four levels of 256 slots; with the default 1 ms tick the levels span 256 ms, 65 s, 4.6 h and
/// 49 days (later deadlines wait in the top level and are re-placed as it turns). A timer never
/// fires before its deadline and at most one tick after the advance() that passes it.
class TimerWheel {
 public:
  explicit TimerWheel(Instant origin, Duration tick = std::chrono::milliseconds(1));
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;
  ~TimerWheel();

  /// Arms (or re-arms) `t` to fire at `deadline`.
  void schedule(Timer& t, Instant deadline);
  /// Disarms `t` if it is armed.
  void cancel(Timer& t);

  /// Fires every timer whose deadline is <= now, calling on_expire(Timer&) once for each (after
  /// disarming it, so the callback may schedule it again). Returns how many fired.
  template <class F>
  std::size_t advance(Instant now, F&& on_expire);

  /// When the driver should next call advance(): never later than the earliest deadline.
  std::optional<Instant> next_deadline() const;
  std::size_t size() const { return size_; }

 private:
  static constexpr int kLevels = 4;
  static constexpr int kBits = 8;
  static constexpr std::uint64_t kSlots = 1u << kBits;
  static constexpr std::uint64_t kMask = kSlots - 1;
  static constexpr std::uint16_t kOnDueList = 0xffff;

  struct Slot {
    Timer* head = nullptr;
  };
  struct Level {
    std::array<Slot, kSlots> slots{};
    std::array<std::uint64_t, kSlots / 64> bitmap{};
  };

  std::uint64_t tick_of_deadline(Instant d) const;  // rounded up: never early
  std::uint64_t tick_of_now(Instant now) const;     // rounded down
  Instant instant_of_tick(std::uint64_t tick) const;
  void place(Timer& t, bool cascading = false);
  void link(Timer& t, int level, std::uint64_t slot);
  void unlink(Timer& t);
  void cascade();
  std::optional<std::uint64_t> next_set(int level, std::uint64_t from) const;
  Timer* take_slot(int level, std::uint64_t slot);
  template <class F>
  std::size_t fire_list(Timer* head, F& on_expire);

  Instant origin_;
  Duration tick_;
  std::uint64_t now_tick_ = 0;
  std::array<Level, kLevels> levels_{};
  Timer* due_ = nullptr;  // deadlines already passed when scheduled: fired by the next advance()
  std::size_t size_ = 0;
};

template <class F>
std::size_t TimerWheel::fire_list(Timer* head, F& on_expire) {
  std::size_t fired = 0;
  while (head != nullptr) {
    Timer* t = head;
    head = t->next_;
    t->wheel_ = nullptr;
    t->prev_ = t->next_ = nullptr;
    --size_;
    ++fired;
    on_expire(*t);
  }
  return fired;
}

template <class F>
std::size_t TimerWheel::advance(Instant now, F&& on_expire) {
  std::size_t fired = 0;
  const std::uint64_t target = tick_of_now(now);
  if (due_ != nullptr) {
    Timer* list = due_;
    due_ = nullptr;
    for (Timer* t = list; t != nullptr; t = t->next_) t->prev_ = nullptr;
    fired += fire_list(list, on_expire);
  }
  while (now_tick_ < target) {
    // Jump straight to the next occupied level-0 slot or the next wrap, whichever comes first.
    const std::uint64_t boundary = (now_tick_ | kMask) + 1;
    const std::uint64_t limit = target < boundary ? target : boundary;
    std::uint64_t next = limit;
    if (auto s = next_set(0, now_tick_ + 1)) {
      const std::uint64_t cand = now_tick_ + 1 + ((*s - (now_tick_ + 1)) & kMask);
      if (cand < next) next = cand;
    }
    now_tick_ = next;
    if ((now_tick_ & kMask) == 0) cascade();
    fired += fire_list(take_slot(0, now_tick_ & kMask), on_expire);
  }
  return fired;
}

}  // namespace tunstack
