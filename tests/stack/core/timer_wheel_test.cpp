#include "stack/core/timer_wheel.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <vector>

namespace tunstack {
namespace {

const Instant kT0 = instant_from_ns(1'000'000'000);

TEST(TimerWheel, FiresAtDeadlineNotBefore) {
  TimerWheel w(kT0);
  Timer t;
  w.schedule(t, kT0 + 10ms);
  int fired = 0;
  EXPECT_EQ(w.advance(kT0 + 9ms, [&](Timer&) { ++fired; }), 0u);
  EXPECT_TRUE(t.armed());
  EXPECT_EQ(w.advance(kT0 + 10ms, [&](Timer& x) { EXPECT_EQ(&x, &t); ++fired; }), 1u);
  EXPECT_EQ(fired, 1);
  EXPECT_FALSE(t.armed());
  EXPECT_EQ(w.size(), 0u);
}

TEST(TimerWheel, SubTickDeadlinesRoundUp) {
  TimerWheel w(kT0);
  Timer t;
  w.schedule(t, kT0 + 1500us);
  int fired = 0;
  w.advance(kT0 + 1ms, [&](Timer&) { ++fired; });
  EXPECT_EQ(fired, 0);  // 1.5 ms has not passed at 1 ms
  w.advance(kT0 + 2ms, [&](Timer&) { ++fired; });
  EXPECT_EQ(fired, 1);
}

TEST(TimerWheel, PastDeadlineFiresOnNextAdvance) {
  TimerWheel w(kT0);
  int fired = 0;
  w.advance(kT0 + 5s, [&](Timer&) { ++fired; });
  Timer t;
  w.schedule(t, kT0 + 1s);
  EXPECT_EQ(w.next_deadline(), kT0 + 5s);
  w.advance(kT0 + 5s, [&](Timer&) { ++fired; });
  EXPECT_EQ(fired, 1);
}

TEST(TimerWheel, CancelAndRescheduleAnywhere) {
  TimerWheel w(kT0);
  Timer a, b, c;
  w.schedule(a, kT0 + 5ms);      // level 0
  w.schedule(b, kT0 + 10s);      // level 1
  w.schedule(c, kT0 + 10h);      // level 3
  EXPECT_EQ(w.size(), 3u);
  w.cancel(b);
  w.cancel(b);  // idempotent
  EXPECT_FALSE(b.armed());
  w.schedule(a, kT0 + 20s);  // move a later
  w.schedule(c, kT0 + 1ms);  // move c earlier
  std::vector<Timer*> order;
  w.advance(kT0 + 30s, [&](Timer& t) { order.push_back(&t); });
  ASSERT_EQ(order.size(), 2u);
  EXPECT_EQ(order[0], &c);
  EXPECT_EQ(order[1], &a);
}

TEST(TimerWheel, DestroyedTimerUnlinksItself) {
  TimerWheel w(kT0);
  {
    Timer t;
    w.schedule(t, kT0 + 1s);
  }
  EXPECT_EQ(w.size(), 0u);
  int fired = 0;
  w.advance(kT0 + 2s, [&](Timer&) { ++fired; });
  EXPECT_EQ(fired, 0);
}

TEST(TimerWheel, CallbackMayRearm) {
  TimerWheel w(kT0);
  Timer t;
  int fired = 0;
  w.schedule(t, kT0 + 100ms);
  for (int i = 1; i <= 10; ++i) {
    w.advance(kT0 + i * 100ms, [&](Timer& x) {
      ++fired;
      w.schedule(x, x.deadline() + 100ms);
    });
  }
  EXPECT_EQ(fired, 10);
  EXPECT_TRUE(t.armed());
}

// Seeded random schedule/cancel/advance against a reference model: every timer fires exactly
// once, never before its deadline and never more than one tick after the advance that passed it.
class TimerWheelModel : public ::testing::TestWithParam<std::uint64_t> {};

TEST_P(TimerWheelModel, MatchesReferenceModel) {
  std::mt19937_64 rng(GetParam());
  TimerWheel w(kT0);
  constexpr int kTimers = 2000;
  std::vector<std::unique_ptr<Timer>> timers;
  std::map<Timer*, Instant> expected;  // armed timers and their deadlines
  for (int i = 0; i < kTimers; ++i) timers.push_back(std::make_unique<Timer>());
  Instant now = kT0;
  std::uniform_int_distribution<int> pick(0, kTimers - 1);
  // Deadlines spread across all levels: ms, seconds, minutes, hours.
  std::uniform_int_distribution<int> scale(0, 3);
  for (int step = 0; step < 20000; ++step) {
    Timer* t = timers[static_cast<std::size_t>(pick(rng))].get();
    switch (rng() % 4) {
      case 0:
      case 1: {
        const std::int64_t spans[] = {300, 70'000, 3'000'000, 20'000'000};
        Duration d = std::chrono::milliseconds(static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(spans[scale(rng)])));
        w.schedule(*t, now + d);
        expected[t] = now + d;
        break;
      }
      case 2:
        w.cancel(*t);
        expected.erase(t);
        break;
      default: {
        const std::int64_t jumps[] = {1, 50, 5'000, 400'000};
        now += std::chrono::milliseconds(static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(jumps[scale(rng)])));
        w.advance(now, [&](Timer& x) {
          auto it = expected.find(&x);
          ASSERT_NE(it, expected.end()) << "fired a timer that was not armed";
          EXPECT_LE(it->second, now) << "fired early";
          expected.erase(it);
        });
        for (auto& [timer, dl] : expected) ASSERT_GT(dl, now) << "a due timer did not fire";
        auto next = w.next_deadline();
        if (!expected.empty()) {
          Instant earliest = std::min_element(expected.begin(), expected.end(), [](auto& a, auto& b) {
                               return a.second < b.second;
                             })->second;
          ASSERT_TRUE(next);
          EXPECT_LE(*next, earliest + 1ms) << "next_deadline would wake too late";
        }
      }
    }
    ASSERT_EQ(w.size(), expected.size());
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, TimerWheelModel, ::testing::Values(20261122u, 1u, 42u, 977u, 31337u));

}  // namespace
}  // namespace tunstack
