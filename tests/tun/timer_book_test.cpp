// TimerBook: which timeout operation the loop submits for each sequence of deadline requests and
// kernel completions (no io_uring here: the book is plain data).
#include "tun/timer_book.hpp"

#include <gtest/gtest.h>

namespace tunstack::tun {
namespace {

using Action = TimerBook::Action;

Instant ms(std::int64_t v) { return instant_from_ns(v * 1'000'000); }

TEST(TimerBook, NothingRequestedNothingSubmitted) {
  TimerBook b;
  EXPECT_EQ(b.plan(), Action::None);
  EXPECT_FALSE(b.in_flight());
  EXPECT_FALSE(b.on_timeout_completed(ms(5)));
}

TEST(TimerBook, ArmsOnceThenIdles) {
  TimerBook b;
  b.request(ms(100));
  EXPECT_EQ(b.plan(), Action::Arm);
  EXPECT_EQ(b.armed(), ms(100));
  EXPECT_EQ(b.plan(), Action::None);  // same deadline: no second SQE
  b.request(ms(100));
  EXPECT_EQ(b.plan(), Action::None);
}

TEST(TimerBook, EarliestRequestWins) {
  TimerBook b;
  b.request(ms(300));
  b.request(ms(100));
  b.request(ms(200));
  EXPECT_EQ(b.wanted(), ms(100));
  EXPECT_EQ(b.plan(), Action::Arm);
  EXPECT_EQ(b.armed(), ms(100));
}

TEST(TimerBook, EarlierDeadlineUpdatesInPlace) {
  TimerBook b;
  b.request(ms(500));
  ASSERT_EQ(b.plan(), Action::Arm);
  b.request(ms(50));
  EXPECT_EQ(b.plan(), Action::Update);
  EXPECT_EQ(b.armed(), ms(50));
  // A later request while armed changes nothing (earliest wins until expiry).
  b.request(ms(400));
  EXPECT_EQ(b.plan(), Action::None);
  EXPECT_EQ(b.armed(), ms(50));
}

TEST(TimerBook, ExpiryConsumesDueDeadline) {
  TimerBook b;
  b.request(ms(10));
  ASSERT_EQ(b.plan(), Action::Arm);
  EXPECT_TRUE(b.on_timeout_completed(ms(10)));
  EXPECT_FALSE(b.wanted().has_value());
  EXPECT_FALSE(b.in_flight());
  EXPECT_EQ(b.plan(), Action::None);
  // The handler asks for the next one from on_timer.
  b.request(ms(20));
  EXPECT_EQ(b.plan(), Action::Arm);
}

TEST(TimerBook, ClearRemovesOnceAndSuppressesTheCall) {
  TimerBook b;
  b.request(ms(10));
  ASSERT_EQ(b.plan(), Action::Arm);
  b.clear();
  EXPECT_EQ(b.plan(), Action::Remove);
  EXPECT_EQ(b.plan(), Action::None);  // one remove per timeout
  // The timeout's CQE (-ECANCELED, or -ETIME if it raced the remove) must not call the handler.
  EXPECT_FALSE(b.on_timeout_completed(ms(50)));
  EXPECT_EQ(b.plan(), Action::None);
}

TEST(TimerBook, RequestAfterClearMovesTheTimeoutLater) {
  TimerBook b;
  b.request(ms(10));
  ASSERT_EQ(b.plan(), Action::Arm);
  b.clear();
  b.request(ms(900));
  EXPECT_EQ(b.plan(), Action::Update);
  EXPECT_EQ(b.armed(), ms(900));
}

TEST(TimerBook, RequestWhileRemovePendingUpdates) {
  TimerBook b;
  b.request(ms(10));
  ASSERT_EQ(b.plan(), Action::Arm);
  b.clear();
  ASSERT_EQ(b.plan(), Action::Remove);
  b.request(ms(10));  // same expiry as before, but a remove is on its way: must update
  EXPECT_EQ(b.plan(), Action::Update);
}

TEST(TimerBook, FiredBeforeUpdateLandedIsNotLost) {
  // The kernel timeout (armed at 100) fires while an update to 300 (after clear) is in flight:
  // the update fails with -ENOENT, the -ETIME completion arrives at t=100 when the deadline (300)
  // is not due; the next plan re-arms for 300.
  TimerBook b;
  b.request(ms(100));
  ASSERT_EQ(b.plan(), Action::Arm);
  b.clear();
  b.request(ms(300));
  ASSERT_EQ(b.plan(), Action::Update);
  EXPECT_FALSE(b.on_timeout_completed(ms(100)));
  EXPECT_EQ(b.wanted(), ms(300));
  EXPECT_EQ(b.plan(), Action::Arm);
  EXPECT_EQ(b.armed(), ms(300));
  EXPECT_TRUE(b.on_timeout_completed(ms(300)));
}

TEST(TimerBook, EarlierUpdateRacingExpiryStillFires) {
  // Armed at 500; update to 50 is sent but the (updated) timeout completes at 60: due.
  TimerBook b;
  b.request(ms(500));
  ASSERT_EQ(b.plan(), Action::Arm);
  b.request(ms(50));
  ASSERT_EQ(b.plan(), Action::Update);
  EXPECT_TRUE(b.on_timeout_completed(ms(60)));
}

TEST(TimerBook, PastDeadlineArmsAndIsDueImmediately) {
  TimerBook b;
  b.request(ms(0));
  EXPECT_EQ(b.plan(), Action::Arm);
  EXPECT_TRUE(b.on_timeout_completed(ms(1)));
}

}  // namespace
}  // namespace tunstack::tun
