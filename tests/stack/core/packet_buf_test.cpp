#include "stack/core/packet_buf.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace tunstack {
namespace {

TEST(PacketBuf, PrependsIntoHeadroomWithoutCopy) {
  BufPool pool;
  PacketBuf b = pool.alloc(100);
  ASSERT_TRUE(b.valid());
  EXPECT_EQ(b.headroom(), pool.config().headroom);
  auto payload = b.append(10);
  std::memset(payload.data(), 0xab, payload.size());
  const std::byte* payload_at = b.data();
  auto hdr = b.prepend(20);
  EXPECT_EQ(hdr.data() + 20, payload_at);  // the payload did not move
  EXPECT_EQ(b.size(), 30u);
  b.trim_front(20);
  EXPECT_EQ(b.data(), payload_at);
  EXPECT_EQ(static_cast<unsigned>(b.view()[9]), 0xabu);
}

TEST(PacketBuf, MovesOwnership) {
  BufPool pool;
  PacketBuf a = pool.alloc(10);
  a.append(3);
  PacketBuf b = std::move(a);
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): checking the moved-from state
  EXPECT_TRUE(b.valid());
  EXPECT_EQ(b.size(), 3u);
  EXPECT_EQ(pool.stats().blocks_out, 1u);
  b = PacketBuf{};
  EXPECT_EQ(pool.stats().blocks_out, 0u);
}

TEST(BufPool, PicksSizeClassAndRecycles) {
  BufPool pool;
  {
    PacketBuf small = pool.alloc(1500);
    PacketBuf large = pool.alloc(60000);
    EXPECT_EQ(small.capacity(), pool.config().small_size);
    EXPECT_EQ(large.capacity(), pool.config().large_size);
    EXPECT_GE(large.tailroom(), 60000u);
  }
  EXPECT_EQ(pool.stats().bytes_out, 0u);
  PacketBuf again = pool.alloc(1500);
  EXPECT_TRUE(again.valid());
  EXPECT_EQ(pool.stats().allocs, 3u);
}

TEST(BufPool, RefusesAndCountsPastItsCap) {
  BufPool::Config cfg;
  cfg.max_bytes = 4 * cfg.small_size;
  BufPool pool(cfg);
  std::vector<PacketBuf> held;
  for (int i = 0; i < 4; ++i) held.push_back(pool.alloc(100));
  PacketBuf refused = pool.alloc(100);
  EXPECT_FALSE(refused.valid());
  EXPECT_EQ(pool.stats().exhausted, 1u);
  PacketBuf too_big = pool.alloc(1u << 20);
  EXPECT_FALSE(too_big.valid());
  EXPECT_EQ(pool.stats().oversize, 1u);
  held.pop_back();
  EXPECT_TRUE(pool.alloc(100).valid());
}

TEST(BufPool, CopiesBytesIn) {
  BufPool pool;
  const char msg[] = "hello";
  PacketBuf b = pool.copy_of(as_bytes(msg, 5));
  ASSERT_EQ(b.size(), 5u);
  EXPECT_EQ(std::memcmp(b.data(), msg, 5), 0);
}

}  // namespace
}  // namespace tunstack
