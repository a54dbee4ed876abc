// RFC 6937 Proportional Rate Reduction, the arithmetic (stack/tcp/prr.hpp): one segment sent per
// two delivered when ssthresh is half of RecoverFS, slow start back to ssthresh once pipe falls
// below it (PRR-SSRB), the forced fast retransmit, and no sending while ahead of the quota.
#include "stack/tcp/prr.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace tunstack::tcp {
namespace {

constexpr std::uint32_t kMss = 1448;

TEST(Prr, ProportionalHalfWhileAboveSsthresh) {
  // RFC 6937 §5 example shape: cwnd 20 segments before the loss, beta 0.5: ssthresh 10.
  PrrState s{0, 0, 20 * kMss};
  const std::uint64_t ssthresh = 10 * kMss;
  const std::uint64_t pipe = ssthresh + kMss;  // stays above ssthresh: the proportional part
  std::vector<int> sent_per_ack;
  for (int ack = 1; ack <= 20; ++ack) {
    s.delivered += kMss;
    std::int64_t quota = prr_sndcnt(s, kMss, pipe, ssthresh, kMss);
    int n = 0;
    while (quota >= static_cast<std::int64_t>(kMss)) {
      s.out += kMss;
      quota -= kMss;
      ++n;
    }
    sent_per_ack.push_back(n);
  }
  // The first ACK sends the fast retransmit; then one segment every second ACK.
  EXPECT_EQ(sent_per_ack[0], 1);
  for (int ack = 2; ack <= 20; ++ack) EXPECT_EQ(sent_per_ack[ack - 1], ack % 2 == 0 && ack > 2 ? 1 : 0) << ack;
  EXPECT_EQ(s.out, 10u * kMss);  // RecoverFS * ssthresh / RecoverFS after RecoverFS delivered
}

TEST(Prr, SlowStartReductionBoundOncePipeIsBelowSsthresh) {
  const std::uint64_t ssthresh = 10 * kMss;
  PrrState s{8 * kMss, 8 * kMss, 20 * kMss};  // no debt: as much sent as delivered
  // Far below ssthresh: one extra segment per ACK (slow start), never more than the gap.
  EXPECT_EQ(prr_sndcnt(s, kMss, 5 * kMss, ssthresh, kMss), 2 * kMss);
  EXPECT_EQ(prr_sndcnt(s, kMss, 9 * kMss, ssthresh, kMss), 1 * kMss);
  EXPECT_EQ(prr_sndcnt(s, kMss, 10 * kMss, ssthresh, kMss), 0);
  // A debt (delivered more than sent, e.g. after a stretch ACK) is paid back, up to the gap.
  PrrState debt{12 * kMss, 8 * kMss, 20 * kMss};
  EXPECT_EQ(prr_sndcnt(debt, kMss, 2 * kMss, ssthresh, kMss), 5 * kMss);
  EXPECT_EQ(prr_sndcnt(debt, kMss, 7 * kMss, ssthresh, kMss), 3 * kMss);
}

TEST(Prr, FastRetransmitAlwaysGoesAndNothingWhileAheadOfTheQuota) {
  const std::uint64_t ssthresh = 7 * kMss;  // CUBIC's beta 0.7 of 10
  PrrState first{100, 0, 10 * kMss};  // a tiny delivery: the proportional quota is below one MSS
  EXPECT_EQ(prr_sndcnt(first, 100, 9 * kMss, ssthresh, kMss), kMss);
  PrrState ahead{2 * kMss, 5 * kMss, 10 * kMss};
  EXPECT_LT(prr_sndcnt(ahead, kMss, 8 * kMss, ssthresh, kMss), 0);
  // ceil(): 3 delivered of RecoverFS 10 at ssthresh 7 allows ceil(2.1) = 3 MSS worth of bytes.
  PrrState ceil{3 * kMss, kMss, 10 * kMss};
  EXPECT_EQ(prr_sndcnt(ceil, kMss, 8 * kMss, ssthresh, kMss),
            static_cast<std::int64_t>((3ull * kMss * 7 * kMss + 10 * kMss - 1) / (10 * kMss)) - kMss);
}

}  // namespace
}  // namespace tunstack::tcp
