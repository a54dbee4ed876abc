// CUBIC (RFC 9438) and HyStart++ (RFC 9406) against the RFCs' equations, with a fake clock.
#include <gtest/gtest.h>

#include <cmath>

#include "stack/tcp/cc.hpp"

namespace tunstack::tcp {
namespace {

constexpr std::uint32_t kMss = 1000;

class CubicTest : public ::testing::Test {
 protected:
  std::unique_ptr<CongestionControl> make(std::uint32_t cwnd_segments, bool hystart = false,
                                          bool reno_friendly = true) {
    CcParams p;
    p.cubic_reno_friendly = reno_friendly;
    p.initial_cwnd = cwnd_segments * kMss;
    p.mss = kMss;
    p.hystart = hystart;
    return make_cc("cubic", p);
  }
  RateSample ack(std::uint32_t bytes, Duration rtt = std::chrono::milliseconds(10)) {
    RateSample rs;
    rs.now = now;
    rs.mss = kMss;
    rs.acked_sacked = bytes;
    rs.rtt = rtt;
    rs.min_rtt = rtt;
    rs.srtt = rtt;
    delivered += bytes;
    rs.delivered = delivered;
    rs.in_flight = 10 * kMss;
    return rs;
  }
  Instant now = instant_from_ns(1'000'000'000);
  std::uint64_t delivered = 0;
};

TEST_F(CubicTest, IsRegisteredAsTheDefault) {
  auto cc = make(10);
  ASSERT_NE(cc, nullptr);
  EXPECT_EQ(cc->name(), "cubic");
  EXPECT_EQ(cc->phase(), "ss");
}

TEST_F(CubicTest, CongestionSetsSsthreshToBetaTimesCwndAndRtoToOneSegment) {
  auto cc = make(100);
  cc->on_congestion(now, 100 * kMss, kMss);
  EXPECT_EQ(cc->ssthresh(), 70u * kMss);  // RFC 9438 §4.6, beta = 0.7
  EXPECT_EQ(cc->cwnd(), 70u * kMss);
  cc->on_recovery_exit(now);
  EXPECT_EQ(cc->cwnd(), 70u * kMss);
  cc->on_rto(now, 70 * kMss, kMss);
  EXPECT_EQ(cc->cwnd(), kMss);
  EXPECT_EQ(cc->ssthresh(), 49u * kMss);
  cc->undo();  // the RTO was spurious: back to the state before it
  EXPECT_EQ(cc->cwnd(), 70u * kMss);
  EXPECT_EQ(cc->ssthresh(), 70u * kMss);
}

TEST_F(CubicTest, WindowFollowsTheCubicFunctionAfterALoss) {
  // W_max = 100 segments, beta 0.7, C 0.4: K = cbrt(100 * 0.3 / 0.4) = 4.217 s (RFC 9438 eq. 2).
  // The Reno-friendly region is off here: at short RTTs it would dominate (next test).
  auto cc = make(100, false, false);
  cc->on_congestion(now, 100 * kMss, kMss);
  cc->on_recovery_exit(now);
  const double k = std::cbrt(100.0 * 0.3 / 0.4);
  EXPECT_NEAR(k, 4.217, 0.001);
  // Feed one window of ACKs per RTT until t = K: cwnd must approach W_max = 100 segments.
  const Duration rtt = std::chrono::milliseconds(10);
  const Instant start = now;
  while (now - start < std::chrono::duration_cast<Duration>(std::chrono::duration<double>(k))) {
    const std::uint32_t w = cc->cwnd();
    for (std::uint32_t sent = 0; sent < w; sent += kMss) cc->on_ack(ack(kMss, rtt));
    now += rtt;
  }
  EXPECT_NEAR(cc->cwnd() / double(kMss), 100.0, 3.0);
  // At t = 2K, W_cubic = C K^3 + W_max = 130 segments (eq. 1).
  while (now - start < std::chrono::duration_cast<Duration>(std::chrono::duration<double>(2 * k))) {
    const std::uint32_t w = cc->cwnd();
    for (std::uint32_t sent = 0; sent < w; sent += kMss) cc->on_ack(ack(kMss, rtt));
    now += rtt;
  }
  EXPECT_NEAR(cc->cwnd() / double(kMss), 0.4 * std::pow(k, 3) + 100.0, 5.0);
}

TEST_F(CubicTest, FastConvergenceLowersWmaxWhenTheLastMaximumWasNotReached) {
  auto cc = make(100, false, false);
  cc->on_congestion(now, 0, kMss);  // W_max = 100
  cc->on_recovery_exit(now);        // cwnd 70 < W_max
  cc->on_congestion(now, 0, kMss);  // W_max = 70 * 1.7 / 2 = 59.5, ssthresh = 49
  cc->on_recovery_exit(now);
  EXPECT_EQ(cc->cwnd(), 49u * kMss);
  // The plateau is now at 59.5 segments: after K' = cbrt((59.5 - 49) / 0.4) = 2.97 s the window
  // is there, far below the old 100.
  const Instant start = now;
  while (now - start < std::chrono::seconds(3)) {
    const std::uint32_t w = cc->cwnd();
    for (std::uint32_t sent = 0; sent < w; sent += kMss) cc->on_ack(ack(kMss));
    now += std::chrono::milliseconds(10);
  }
  EXPECT_NEAR(cc->cwnd() / double(kMss), 59.5, 3.0);
}

TEST_F(CubicTest, RenoFriendlyRegionDominatesAtSmallWindows) {
  // W_max = 10 segments: K = cbrt(3 / 0.4) = 1.96 s, so W_cubic barely moves in the first
  // second while the Reno estimate grows by alpha = 3 * 0.3 / 1.7 = 0.53 segments per RTT.
  auto cc = make(10);
  cc->on_congestion(now, 0, kMss);
  cc->on_recovery_exit(now);
  const std::uint32_t start = cc->cwnd();  // 7 segments
  for (int r = 0; r < 10; ++r) {
    const std::uint32_t w = cc->cwnd();
    for (std::uint32_t sent = 0; sent < w; sent += kMss) cc->on_ack(ack(kMss, std::chrono::milliseconds(100)));
    now += std::chrono::milliseconds(100);
  }
  EXPECT_GE(cc->cwnd(), start + 4 * kMss);  // ~5 segments in 10 RTTs: Reno's pace, not cubic's
}

TEST_F(CubicTest, NoGrowthWhileNotCwndLimited) {
  auto cc = make(10);
  RateSample rs = ack(5 * kMss);
  rs.cwnd_limited = false;
  cc->on_ack(rs);
  EXPECT_EQ(cc->cwnd(), 10u * kMss);
  rs.cwnd_limited = true;
  cc->on_ack(rs);
  EXPECT_EQ(cc->cwnd(), 12u * kMss);  // slow start, L = 2 SMSS (RFC 3465)
}

TEST_F(CubicTest, HystartLeavesSlowStartWhenDelayRises) {
  auto cc = make(10, /*hystart=*/true);
  // Round 1 at 20 ms; round 2 at 20 + 5 ms (above the 4 ms floor of max(20/8, 4)).
  auto round = [&](Duration rtt) {
    for (int i = 0; i < 12; ++i) {
      RateSample rs = ack(kMss, rtt);
      rs.in_flight = 100 * kMss;  // a round ends after the next 100 segments
      cc->on_ack(rs);
    }
    delivered += 100 * kMss;  // jump to the end of the round
  };
  round(std::chrono::milliseconds(20));
  EXPECT_EQ(cc->phase(), "ss");
  round(std::chrono::milliseconds(25));
  EXPECT_EQ(cc->phase(), "css");
  // CSS grows a quarter as fast; after CSS_ROUNDS (5) rounds it ends in congestion avoidance.
  for (int r = 0; r < 5; ++r) round(std::chrono::milliseconds(26));
  EXPECT_EQ(cc->phase(), "ca");
  EXPECT_LT(cc->ssthresh(), 0x7fffffffu);  // slow start ended by HyStart++, not by a loss
  EXPECT_LE(cc->ssthresh(), cc->cwnd());
}

TEST(CcRegistry, EveryNameBuildsAndUnknownIsNull) {
  CcParams p;
  p.initial_cwnd = 10000;
  p.mss = 1000;
  for (const CcAlgorithm& a : cc_algorithms()) {
    auto cc = make_cc(a.name, p);
    ASSERT_NE(cc, nullptr) << a.name;
    EXPECT_EQ(cc->name(), a.name);
    EXPECT_EQ(cc->cwnd(), 10000u);
  }
  EXPECT_EQ(make_cc("vegas", p), nullptr);
}

}  // namespace
}  // namespace tunstack::tcp

namespace tunstack::tcp {
namespace {

/// BBR v1: STARTUP ends after three rounds without 25% bandwidth growth, DRAIN follows, then
/// PROBE_BW paces at the gain cycle times the bandwidth estimate.
TEST(Bbr, LeavesStartupOnABandwidthPlateauAndPacesAtTheEstimate) {
  CcParams p;
  p.initial_cwnd = 10 * 1000;
  p.mss = 1000;
  auto cc = make_cc("bbr", p);
  ASSERT_NE(cc, nullptr);
  EXPECT_EQ(cc->phase(), "startup");
  EXPECT_GT(cc->pacing_rate(), 0u);  // BBR always paces
  Instant now = instant_from_ns(1'000'000'000);
  std::uint64_t delivered = 0;
  const std::uint64_t rate = 12'500'000;  // 100 Mbit/s
  const Duration rtt = std::chrono::milliseconds(10);
  // One ACK per round: each delivers a round's worth and starts the next round.
  for (int round = 0; round < 12 && cc->phase() != "probe_bw"; ++round) {
    RateSample rs;
    rs.now = now;
    rs.mss = 1000;
    const std::uint64_t bytes = rate / 100;  // what 10 ms at 100 Mbit/s delivers
    rs.acked_sacked = static_cast<std::uint32_t>(bytes);
    rs.sample_delivered = bytes;
    delivered += bytes;
    rs.delivered = delivered;
    rs.interval = rtt;
    rs.delivery_rate = rate;
    rs.rtt = rs.min_rtt = rs.srtt = rtt;
    rs.prior_in_flight = rs.in_flight = 50'000;  // below the 125 kB BDP: DRAIN ends at once
    cc->on_ack(rs);
    now += rtt;
  }
  EXPECT_EQ(cc->phase(), "probe_bw");
  // 1.0 (cruise phase) * 0.99 * 100 Mbit/s.
  EXPECT_NEAR(static_cast<double>(cc->pacing_rate()), 0.99 * rate, 0.3 * rate);
  // cwnd = 2 * BDP + 3 segments = 2 * 125 kB + 3 kB at most.
  EXPECT_LE(cc->cwnd(), 253'000u);
  // Random loss is not congestion to BBR: the window survives a recovery.
  const std::uint32_t before = cc->cwnd();
  cc->on_congestion(now, 50'000, 1000);
  cc->on_recovery_exit(now);
  EXPECT_EQ(cc->cwnd(), before);
  EXPECT_TRUE(cc->sets_cwnd_in_recovery());
}

}  // namespace
}  // namespace tunstack::tcp
