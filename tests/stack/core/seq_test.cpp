#include "stack/core/seq.hpp"

#include <gtest/gtest.h>

#include <type_traits>

namespace tunstack {
namespace {

TEST(SeqNum, ComparesAcrossWrap) {
  SeqNum hi{0xfffffff0u};
  SeqNum lo{0x00000010u};
  EXPECT_LT(hi, lo);  // lo is 32 bytes after hi, modulo 2^32
  EXPECT_GT(lo, hi);
  EXPECT_EQ(lo - hi, 32);
  EXPECT_EQ(hi - lo, -32);
  EXPECT_EQ(hi + 32u, lo);
  EXPECT_EQ(seq_max(hi, lo), lo);
  EXPECT_EQ(seq_min(hi, lo), hi);
}

TEST(SeqNum, WindowTests) {
  SeqNum start{0xffffff00u};
  EXPECT_TRUE(SeqNum{0xffffff00u}.in_window(start, 0x200));
  EXPECT_TRUE(SeqNum{0x000000ffu}.in_window(start, 0x200));
  EXPECT_FALSE(SeqNum{0x00000100u}.in_window(start, 0x200));
  EXPECT_FALSE(SeqNum{0xfffffeffu}.in_window(start, 0x200));
  EXPECT_FALSE(start.in_window(start, 0));  // an empty window holds nothing
  EXPECT_TRUE(SeqNum{5}.between(SeqNum{0xfffffffe}, SeqNum{5}));
  EXPECT_FALSE(SeqNum{6}.between(SeqNum{0xfffffffe}, SeqNum{5}));
}

TEST(SeqNum, IsNotAPlainInteger) {
  static_assert(!std::is_convertible_v<std::uint32_t, SeqNum>);
  static_assert(!std::is_convertible_v<SeqNum, std::uint32_t>);
}

}  // namespace
}  // namespace tunstack
