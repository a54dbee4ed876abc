// The sender's scoreboard (RFC 6675) and RACK (RFC 8985) on crafted SACK patterns.
#include <gtest/gtest.h>

#include "stack/tcp/rack.hpp"
#include "stack/tcp/scoreboard.hpp"

namespace tunstack::tcp {
namespace {

constexpr std::uint32_t kMss = 1000;
const SeqNum kBase{0xfffff000u};  // the sequence wrap is crossed in the middle of the window

class ScoreboardTest : public ::testing::Test {
 protected:
  void send(int n, Instant at) {
    for (int i = 0; i < n; ++i) {
      SentSeg& s = sb.push(kBase + static_cast<std::uint32_t>(sent * kMss), kMss);
      s.xmit = at;
      ++sent;
    }
  }
  SeqNum seg(int i) const { return kBase + static_cast<std::uint32_t>(i * kMss); }
  std::uint32_t sack(int from, int to) {  // SACK segments [from, to)
    return sb.sack(seg(from), seg(to), [&](SentSeg&) { ++sacked_calls; });
  }
  Scoreboard sb;
  int sent = 0;
  int sacked_calls = 0;
  Instant t0 = instant_from_ns(1'000'000'000);
};

TEST_F(ScoreboardTest, PipeFollowsSackedLostAndRetransmitted) {
  send(10, t0);
  EXPECT_EQ(sb.in_flight(), 10 * kMss);
  EXPECT_EQ(sack(2, 4), 2 * kMss);
  EXPECT_EQ(sack(2, 4), 0u);  // already SACKed: no double counting
  EXPECT_EQ(sacked_calls, 2);
  EXPECT_EQ(sb.in_flight(), 8 * kMss);
  ASSERT_TRUE(sb.mark_lost(sb.at(sb.head())));
  EXPECT_EQ(sb.in_flight(), 7 * kMss);
  sb.on_retransmit(sb.at(sb.head()), t0);
  EXPECT_EQ(sb.in_flight(), 8 * kMss);
  // A lost retransmission leaves the pipe again and is the next to send.
  ASSERT_TRUE(sb.mark_lost(sb.at(sb.head())));
  EXPECT_EQ(sb.in_flight(), 7 * kMss);
  EXPECT_EQ(sb.next_lost(), sb.head());
}

TEST_F(ScoreboardTest, SeveralHolesPerWindowAndDupthreshBoundary) {
  send(20, t0);
  // Holes at 0, 5 and 10; everything else up to 15 SACKed in three blocks.
  sack(1, 5);
  sack(6, 10);
  sack(11, 15);
  EXPECT_EQ(sb.sacked_ranges(), 3u);
  // RFC 6675 IsLost with DupThresh 3: segment 10 has 4 segments SACKed above (> 2 * SMSS), 5 and
  // 0 have more; segments 15..19 have nothing above them.
  const SeqNum b = sb.dupthresh_boundary(3, kMss);
  EXPECT_GE(b, seg(11));
  EXPECT_LT(b, seg(15));
  int lost = 0;
  for (auto id = sb.head(); id != sb.tail(); ++id)
    if (sb.at(id).end() <= b && sb.mark_lost(sb.at(id))) ++lost;
  EXPECT_EQ(lost, 3);  // 0, 5 and 10 only: SACKed segments are never lost
  // NextSeg rule 1: the lowest lost segment first, then the next after it is retransmitted.
  auto n = sb.next_lost();
  EXPECT_EQ(sb.at(n).start, seg(0));
  sb.on_retransmit(sb.at(n), t0);
  EXPECT_EQ(sb.at(sb.next_lost()).start, seg(5));
  // A block bridging two ranges merges them, marking only the segments in between.
  sacked_calls = 0;
  sack(3, 12);
  EXPECT_EQ(sacked_calls, 2);  // segments 5 and 10
  EXPECT_EQ(sb.sacked_ranges(), 1u);
}

TEST_F(ScoreboardTest, CumulativeAckAcrossTheWrapTrimsAndCounts) {
  send(8, t0);
  sack(5, 7);
  std::uint32_t delivered = 0;
  const std::uint32_t removed = sb.ack_to(seg(6), [&](const SentSeg&, std::uint32_t n) { delivered += n; });
  EXPECT_EQ(removed, 6 * kMss);
  EXPECT_EQ(delivered, 5 * kMss);  // segment 5 was delivered by the SACK already
  EXPECT_EQ(sb.total_bytes(), 2 * kMss);
  EXPECT_EQ(sb.sacked_bytes(), kMss);
  // A partial ACK in the middle of a segment trims it.
  sb.ack_to(seg(6) + 100, [](const SentSeg&, std::uint32_t) {});
  EXPECT_EQ(sb.at(sb.head()).start, seg(6) + 100);
  EXPECT_EQ(sb.total_bytes(), 2 * kMss - 100);
}

TEST_F(ScoreboardTest, RenegingClearsEverySackAndRtoMarksAllButSacked) {
  send(6, t0);
  sack(2, 4);
  sb.mark_all_lost();
  EXPECT_EQ(sb.lost_bytes(), 4 * kMss);
  EXPECT_EQ(sb.in_flight(), 0u);
  sb.clear_sacks();
  EXPECT_EQ(sb.sacked_bytes(), 0u);
  EXPECT_EQ(sb.sacked_ranges(), 0u);
  sb.unmark_lost_not_retransmitted();
  EXPECT_EQ(sb.in_flight(), 6 * kMss);
}

TEST_F(ScoreboardTest, RackMarksOnlyWhatWasSentAReorderingWindowBeforeTheNewestDelivery) {
  const Duration ms = std::chrono::milliseconds(1);
  send(4, t0);       // 0..3 at t0
  send(4, t0 + 5 * ms);  // 4..7 five ms later
  Rack rack;
  // Segment 6 is SACKed 20 ms after it left: RACK's newest delivered segment.
  const Instant now = t0 + 25 * ms;
  sb.sack(seg(6), seg(7), [&](SentSeg& s) { rack.on_delivered(s, now, 20 * ms); });
  std::uint32_t segs = 0;
  std::optional<Instant> timer;
  // With a 4 ms window: 0..3 (sent 5 ms before 6) are lost; 4 and 5 (sent with it) are not yet,
  // and 7 was sent after it.
  rack.detect_loss(sb, now, 4 * ms, segs, timer);
  EXPECT_EQ(segs, 4u);
  ASSERT_TRUE(timer.has_value());
  EXPECT_EQ(*timer, t0 + 5 * ms + 20 * ms + 4 * ms);  // 4 expires then
  // When the timer fires, 4 and 5 are lost too.
  rack.detect_loss(sb, *timer, 4 * ms, segs, timer);
  EXPECT_EQ(segs, 2u);
  EXPECT_FALSE(sb.at(sb.head() + 7).has(SentSeg::kLost));
}

TEST_F(ScoreboardTest, RackDetectsALostRetransmission) {
  const Duration ms = std::chrono::milliseconds(1);
  send(3, t0);
  Rack rack;
  // Segment 0 is lost and retransmitted at t0 + 30 ms; segment 2's original is SACKed at 40 ms.
  sb.mark_lost(sb.at(sb.head()));
  sb.on_retransmit(sb.at(sb.head()), t0 + 30 * ms);
  rack.on_retransmit(sb.head(), t0 + 30 * ms);
  // A segment sent after the retransmission is delivered 25 ms later: the retransmission, sent
  // 10 ms before it, is lost (RFC 8985 §6.2 step 5 covers retransmissions).
  send(1, t0 + 40 * ms);
  const Instant now = t0 + 65 * ms;
  sb.sack(seg(3), seg(4), [&](SentSeg& s) { rack.on_delivered(s, now, 20 * ms); });
  std::uint32_t segs = 0;
  std::optional<Instant> timer;
  rack.detect_loss(sb, now, 0 * ms, segs, timer);
  EXPECT_TRUE(sb.at(sb.head()).has(SentSeg::kLost));
  EXPECT_FALSE(sb.at(sb.head()).has(SentSeg::kRetrans));  // waiting to be sent again
  EXPECT_EQ(sb.next_lost(), sb.head());
}

TEST_F(ScoreboardTest, RackWatchesRetransmissionsInSendingOrder) {
  // Segments 0..2 are lost; 0 is retransmitted at 30 ms, 1 at 31 ms, 0 again at 32 ms (its first
  // entry is then stale and must neither block the scan nor count twice), 2 at 50 ms.
  const Duration ms = std::chrono::milliseconds(1);
  send(3, t0);
  Rack rack;
  for (int i = 0; i < 3; ++i) sb.mark_lost(sb.at(sb.head() + i));
  auto resend = [&](int i, Instant t) {
    sb.on_retransmit(sb.at(sb.head() + i), t);
    rack.on_retransmit(sb.head() + i, t);
  };
  resend(0, t0 + 30 * ms);
  resend(1, t0 + 31 * ms);
  sb.mark_lost(sb.at(sb.head()));  // lost again (as RACK would find), then sent a third time
  resend(0, t0 + 32 * ms);
  resend(2, t0 + 50 * ms);
  send(1, t0 + 40 * ms);  // new data after 0 and 1 went out, before 2 did
  const Instant now = t0 + 65 * ms;
  sb.sack(seg(3), seg(4), [&](SentSeg& s) { rack.on_delivered(s, now, 20 * ms); });  // RTT 25 ms
  std::uint32_t segs = 0;
  std::optional<Instant> timer;
  rack.detect_loss(sb, now, 0 * ms, segs, timer);
  EXPECT_EQ(segs, 2u);  // 1 (deadline 56 ms) and 0's latest copy (57 ms)
  EXPECT_FALSE(sb.at(sb.head()).has(SentSeg::kRetrans));
  EXPECT_FALSE(sb.at(sb.head() + 1).has(SentSeg::kRetrans));
  EXPECT_TRUE(sb.at(sb.head() + 2).has(SentSeg::kRetrans));  // sent after the delivered one
  EXPECT_FALSE(timer);  // nothing left that a later time could make lost
  rack.detect_loss(sb, now + 10 * ms, 0 * ms, segs, timer);
  EXPECT_EQ(segs, 0u);  // no double counting of the stale entry
}

TEST(ScoreboardFind, InterpolationFindsTheRecordForMixedSizesAcrossTheWrap) {
  // find() guesses from the average record size and falls back to a binary search: check it
  // against a linear scan with sizes from 1 byte to one MSS, starting just below 2^32.
  Scoreboard sb;
  std::uint32_t x = 12345;
  auto rnd = [&] { return x = x * 1103515245u + 12345u; };
  SeqNum next{0xffff0000u};
  const Instant t = instant_from_ns(1);
  for (int i = 0; i < 3000; ++i) {
    const std::uint32_t len = i % 7 == 0 ? 1 + rnd() % 1448 : 1448;
    sb.push(next, len).xmit = t;
    next += len;
  }
  sb.ack_to(sb.at(sb.head() + 100).start, [](const SentSeg&, std::uint32_t) {});
  const SeqNum front = sb.at(sb.head()).start;
  const auto span = static_cast<std::uint32_t>(sb.end() - front);
  for (int k = 0; k < 5000; ++k) {
    const SeqNum q = front + rnd() % span;
    Scoreboard::Id want = sb.head();
    while (!(q < sb.at(want).end())) ++want;
    ASSERT_EQ(sb.find(q), want) << k;
  }
  EXPECT_EQ(sb.find(front - 1), sb.tail());
  EXPECT_EQ(sb.find(sb.end()), sb.tail());
}

TEST(RackReoWnd, ZeroWithoutReorderingInRecoveryAndGrowsWithDsack) {
  Rack rack;
  const Duration min_rtt = std::chrono::milliseconds(20);
  EXPECT_EQ(rack.reo_wnd(true, 0, 3000, min_rtt, min_rtt), Duration{0});
  EXPECT_EQ(rack.reo_wnd(false, 0, 3000, min_rtt, min_rtt), min_rtt / 4);
  rack.on_dsack(SeqNum{100}, SeqNum{200});
  EXPECT_EQ(rack.reo_wnd_mult(), 2u);
  rack.on_dsack(SeqNum{150}, SeqNum{300});  // same round: no second increase
  EXPECT_EQ(rack.reo_wnd_mult(), 2u);
  EXPECT_EQ(rack.reo_wnd(false, 0, 3000, min_rtt, min_rtt), min_rtt / 2);
  for (int i = 0; i < 16; ++i) rack.on_recovery_exit();
  EXPECT_EQ(rack.reo_wnd_mult(), 1u);
}

}  // namespace
}  // namespace tunstack::tcp
