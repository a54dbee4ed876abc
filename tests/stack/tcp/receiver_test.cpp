// The receive side on its own (stack/tcp/receiver.hpp): every in-window segment is kept however
// many islands there are (200 in a 4 MiB window), islands merge as holes fill, the bytes read
// back are exactly the bytes sent, SACK block order (D-SACK first, then the newest island, then
// the recent ones), the island bound against one-byte islands, holes filled in random order, and
// sequence numbers that wrap around 2^32 in the middle of the islands.
#include "stack/tcp/receiver.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

namespace tunstack::tcp {
namespace {

/// A client byte stream: byte k is a function of k, so a misplaced byte shows up.
std::vector<std::byte> stream(std::size_t n) {
  std::vector<std::byte> s(n);
  for (std::size_t k = 0; k < n; ++k) s[k] = static_cast<std::byte>((k * 131u + (k >> 8) * 7u + 3u) & 0xffu);
  return s;
}

/// A Receiver fed slices of one stream whose first byte has sequence number `isn`.
class Feeder {
 public:
  Feeder(std::uint32_t capacity, std::uint32_t isn, std::size_t len)
      : rx(capacity, SeqNum{isn}), isn_(isn), data_(stream(len)) {}

  /// Hands stream bytes [off, off + len) to accept().
  RxResult feed(std::size_t off, std::size_t len) {
    return rx.accept(seq(off), Bytes{data_.data() + off, len});
  }
  SeqNum seq(std::size_t off) const { return SeqNum{isn_} + static_cast<std::uint32_t>(off); }
  /// Stream offset of rcv_nxt.
  std::size_t nxt() const { return static_cast<std::uint32_t>(rx.rcv_nxt() - SeqNum{isn_}); }
  /// Reads everything readable into `got`.
  void drain() {
    while (rx.readable() > 0) {
      const Bytes b = rx.peek();
      got.insert(got.end(), b.begin(), b.end());
      rx.consume(static_cast<std::uint32_t>(b.size()));
    }
  }
  bool got_matches() const {
    return got.size() <= data_.size() && std::equal(got.begin(), got.end(), data_.begin());
  }
  std::vector<wire::SackBlock> sacks() {
    std::array<wire::SackBlock, wire::kTcpMaxSackBlocks> b{};
    const std::size_t n = rx.sack_blocks(b);
    return {b.begin(), b.begin() + static_cast<std::ptrdiff_t>(n)};
  }
  wire::SackBlock block(std::size_t off, std::size_t len) const { return {seq(off), seq(off + len)}; }

  Receiver rx;
  std::vector<std::byte> got;

 private:
  std::uint32_t isn_;
  std::vector<std::byte> data_;
};

constexpr std::size_t kMss = 1448;

TEST(Receiver, TwoHundredIslandsInA4MiBWindowAreAllKeptAndMergeWhenTheHolesFill) {
  // Islands of three segments behind holes of one: 200 islands, 800 segments, 1.1 MiB.
  constexpr std::size_t kIslands = 200;
  Feeder f(4u << 20, 1000, kIslands * 4 * kMss);
  for (std::size_t i = 0; i < kIslands; ++i) {
    for (std::size_t s = 1; s < 4; ++s) {
      const RxResult r = f.feed((4 * i + s) * kMss, kMss);
      ASSERT_TRUE(r.out_of_order) << "island " << i;
      ASSERT_FALSE(r.dropped) << "island " << i;
    }
  }
  ASSERT_EQ(f.rx.ooo_ranges().size(), kIslands);
  EXPECT_EQ(f.nxt(), 0u);
  EXPECT_EQ(f.rx.ooo_ranges()[17], (SeqRange{f.seq((4 * 17 + 1) * kMss), f.seq((4 * 17 + 4) * kMss)}));
  // Each filled hole joins the next island to the in-order data.
  for (std::size_t i = 0; i < kIslands; ++i) {
    const RxResult r = f.feed(4 * i * kMss, kMss);
    ASSERT_TRUE(r.filled_hole);
    ASSERT_EQ(r.advanced, 4 * kMss);
    ASSERT_EQ(f.nxt(), 4 * (i + 1) * kMss);
    ASSERT_EQ(f.rx.ooo_ranges().size(), kIslands - 1 - i);
    if (i % 37 == 0) f.drain();  // read while islands are still held
  }
  EXPECT_FALSE(f.rx.has_ooo());
  f.drain();
  EXPECT_EQ(f.got.size(), kIslands * 4 * kMss);
  EXPECT_TRUE(f.got_matches());
}

TEST(Receiver, SackBlocksStartWithTheNewestIslandThenTheRecentOnes) {
  Feeder f(64u << 10, 5000, 20000);
  // Five islands A..E of 500 bytes at 1000, 3000, ... 9000, created in that order.
  for (std::size_t i = 0; i < 5; ++i) (void)f.feed(1000 + 2000 * i, 500);
  const auto a = f.block(1000, 500), b = f.block(3000, 500), c = f.block(5000, 500), d = f.block(7000, 500),
             e = f.block(9000, 500);
  EXPECT_EQ(f.sacks(), (std::vector<wire::SackBlock>{e, d, c, b}));
  EXPECT_EQ(f.sacks(), (std::vector<wire::SackBlock>{e, d, c, b}));  // repeated in the next ACK
  // B grows: it holds the newest segment, so it comes first; A is still left out.
  (void)f.feed(3500, 100);
  const auto b2 = f.block(3000, 600);
  EXPECT_EQ(f.sacks(), (std::vector<wire::SackBlock>{b2, e, d, c}));
  // A segment bridging C and D makes one island, reported first and once.
  (void)f.feed(5500, 1500);
  const auto cd = f.block(5000, 2500);
  EXPECT_EQ(f.sacks(), (std::vector<wire::SackBlock>{cd, b2, e, a}));
  // The first hole fills: A merges into rcv_nxt and drops out of the blocks.
  const RxResult r = f.feed(0, 1000);
  EXPECT_TRUE(r.filled_hole);
  EXPECT_EQ(f.nxt(), 1500u);
  EXPECT_EQ(f.sacks(), (std::vector<wire::SackBlock>{cd, b2, e}));
}

TEST(Receiver, DsackComesFirstForOldDataAndForDataHeldOutOfOrder) {
  Feeder f(64u << 10, 0xfffff000u, 20000);
  (void)f.feed(0, 2000);
  (void)f.feed(4000, 1000);  // island X
  (void)f.feed(8000, 1000);  // island Y, the newest
  // RFC 2883 §4.1: a retransmission below rcv_nxt is reported first, once.
  RxResult r = f.feed(500, 1000);
  EXPECT_TRUE(r.duplicate);
  EXPECT_TRUE(r.dsack);
  EXPECT_EQ(f.sacks(), (std::vector<wire::SackBlock>{f.block(500, 1000), f.block(8000, 1000), f.block(4000, 1000)}));
  EXPECT_EQ(f.sacks(), (std::vector<wire::SackBlock>{f.block(8000, 1000), f.block(4000, 1000)}));
  // RFC 2883 §4.2: a duplicate inside island X: the D-SACK block, then X (not Y, the newer one).
  r = f.feed(4200, 300);
  EXPECT_TRUE(r.duplicate);
  EXPECT_FALSE(r.out_of_order);
  EXPECT_EQ(f.sacks(), (std::vector<wire::SackBlock>{f.block(4200, 300), f.block(4000, 1000), f.block(8000, 1000)}));
  // A segment that overlaps the end of Y: the part already held is the D-SACK block.
  r = f.feed(8500, 1000);
  EXPECT_FALSE(r.duplicate);
  EXPECT_TRUE(r.dsack);
  EXPECT_TRUE(r.out_of_order);
  EXPECT_EQ(f.sacks(), (std::vector<wire::SackBlock>{f.block(8500, 500), f.block(8000, 1500), f.block(4000, 1000)}));
  // One that straddles rcv_nxt: the old part is reported, the rest stored.
  r = f.feed(1500, 1000);
  EXPECT_TRUE(r.dsack);
  EXPECT_EQ(r.advanced, 500u);
  EXPECT_EQ(f.sacks().front(), f.block(1500, 500));
}

TEST(Receiver, OneByteIslandsStopAtTheRangeLimitWithoutLosingEarlierIslands) {
  constexpr std::uint32_t kCap = 64u << 10;
  Feeder f(kCap, 77, kCap);
  const std::size_t limit = f.rx.range_limit();
  ASSERT_EQ(limit, kCap / 64 + 16);
  constexpr std::size_t kExtra = 50;
  std::size_t dropped = 0;
  for (std::size_t i = 0; i < limit + kExtra; ++i) {
    const RxResult r = f.feed(2 * i + 1, 1);  // one byte, one hole, one byte, ...
    if (r.dropped) {
      ++dropped;
      EXPECT_FALSE(r.no_memory);
      EXPECT_FALSE(r.out_of_order);
    }
  }
  EXPECT_EQ(dropped, kExtra);
  ASSERT_EQ(f.rx.ooo_ranges().size(), limit);
  for (std::size_t i = 0; i < limit; ++i) ASSERT_EQ(f.rx.ooo_ranges()[i], (SeqRange{f.seq(2 * i + 1), f.seq(2 * i + 2)}));
  EXPECT_LE(f.rx.reassembly_bytes(), limit * sizeof(SeqRange));
  // At the limit, data that extends or joins islands is still taken (it adds none).
  EXPECT_TRUE(f.feed(2 * limit - 1 + 1, 1).out_of_order);  // extends the last island
  EXPECT_FALSE(f.feed(2 * limit + 3, 1).out_of_order);     // a new one is not
  EXPECT_TRUE(f.feed(2, 1).out_of_order);                  // joins islands 0 and 1
  EXPECT_EQ(f.rx.ooo_ranges().size(), limit - 1);
  // The client retransmits everything missing, in order: the whole stream arrives.
  const std::size_t total = 2 * (limit + kExtra) + 1;
  for (std::size_t off = 0; off < total; ++off) (void)f.feed(off, 1);
  EXPECT_EQ(f.nxt(), total);
  EXPECT_FALSE(f.rx.has_ooo());
  f.drain();
  EXPECT_EQ(f.got.size(), total);
  EXPECT_TRUE(f.got_matches());
}

/// Segments of random size over a stream, fed in a random order (some merged, some twice);
/// after each the islands must be exactly the runs of segments received beyond rcv_nxt.
void random_fill(std::uint32_t isn, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::size_t> edges{0};
  while (edges.size() < 400) edges.push_back(edges.back() + 1 + rng() % 1500);
  const std::size_t segs = edges.size() - 1;
  Feeder f(1u << 20, isn, edges.back());
  std::vector<std::size_t> order(segs);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<bool> have(segs, false);
  for (std::size_t k = 0; k < order.size(); ++k) {
    const std::size_t i = order[k];
    // Now and then a retransmission that coalesces the next segments too, or a duplicate.
    const std::size_t j = rng() % 5 == 0 ? std::min(segs, i + 1 + rng() % 4) : i + 1;
    (void)f.feed(edges[i], edges[j] - edges[i]);
    for (std::size_t x = i; x < j; ++x) have[x] = true;
    if (rng() % 7 == 0) {
      EXPECT_TRUE(f.feed(edges[i], edges[j] - edges[i]).duplicate);
    }
    if (rng() % 3 == 0) f.drain();
    // The model: rcv_nxt ends the first run; islands are the later runs.
    std::size_t x = 0;
    while (x < segs && have[x]) ++x;
    ASSERT_EQ(f.nxt(), edges[x]) << "seed " << seed << " step " << k;
    std::vector<SeqRange> want;
    while (x < segs) {
      while (x < segs && !have[x]) ++x;
      const std::size_t l = x;
      while (x < segs && have[x]) ++x;
      if (l < x) want.push_back({f.seq(edges[l]), f.seq(edges[x])});
    }
    const SeqRangeSet& got = f.rx.ooo_ranges();
    ASSERT_EQ(got.size(), want.size()) << "seed " << seed << " step " << k;
    for (std::size_t n = 0; n < want.size(); ++n) ASSERT_EQ(got[n], want[n]) << "seed " << seed << " step " << k;
  }
  f.drain();
  EXPECT_EQ(f.got.size(), edges.back());
  EXPECT_TRUE(f.got_matches());
}

TEST(Receiver, HolesFilledInRandomOrderGiveTheRightRcvNxtAndBytes) {
  for (std::uint32_t seed : {1u, 2u, 3u, 2018u, 2883u}) random_fill(12345, seed);
}

TEST(Receiver, SequenceNumbersWrapAroundTwoToThe32InTheMiddleOfTheIslands) {
  // About 300 KB of stream with 2^32 near its middle.
  for (std::uint32_t seed : {7u, 9293u}) random_fill(0xffffffffu - 150000u, seed);
  // And an island that itself straddles the wrap, found, reported and merged.
  Feeder f(1u << 20, 0xffffffffu - 999u, 4000);
  (void)f.feed(500, 1000);  // [2^32 - 500, 2^32 + 500)
  (void)f.feed(1500, 500);  // extends it
  (void)f.feed(2500, 500);
  ASSERT_EQ(f.rx.ooo_ranges().size(), 2u);
  EXPECT_EQ(f.rx.ooo_ranges()[0].left.raw(), 0xfffffe0cu);
  EXPECT_EQ(f.rx.ooo_ranges()[0].right.raw(), 1000u);
  EXPECT_EQ(f.sacks(), (std::vector<wire::SackBlock>{f.block(2500, 500), f.block(500, 1500)}));
  EXPECT_EQ(f.feed(0, 500).advanced, 2000u);
  EXPECT_EQ(f.feed(2000, 500).advanced, 1000u);
  EXPECT_EQ(f.rx.rcv_nxt().raw(), 3000u - 1000u);
  f.drain();
  EXPECT_EQ(f.got.size(), 3000u);
  EXPECT_TRUE(f.got_matches());
}

}  // namespace
}  // namespace tunstack::tcp
