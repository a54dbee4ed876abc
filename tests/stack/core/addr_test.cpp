#include "stack/core/addr.hpp"

#include <gtest/gtest.h>

#include <unordered_set>

namespace tunstack {
namespace {

TEST(Ip4Addr, ParsesAndFormats) {
  auto a = Ip4Addr::parse("198.18.0.1");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->to_host(), 0xc6120001u);
  EXPECT_EQ(a->to_string(), "198.18.0.1");
  EXPECT_EQ(Ip4Addr::from_host(0xc6120001u), *a);
  EXPECT_FALSE(Ip4Addr::parse("198.18.0"));
  EXPECT_FALSE(Ip4Addr::parse("198.18.0.256"));
  EXPECT_FALSE(Ip4Addr::parse("a long string that is not an address at all"));
}

TEST(Ip6Addr, ParsesAndClassifies) {
  auto a = Ip6Addr::parse("fd00::1");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->to_string(), "fd00::1");
  EXPECT_FALSE(a->is_link_local());
  EXPECT_TRUE(Ip6Addr::parse("fe80::1")->is_link_local());
  EXPECT_TRUE(Ip6Addr::parse("ff02::1")->is_multicast());
  EXPECT_TRUE(Ip6Addr::parse("::1")->is_loopback());
  EXPECT_TRUE(Ip6Addr::parse("::ffff:1.2.3.4")->is_v4_mapped());
  EXPECT_FALSE(Ip6Addr::parse("fd00::g"));
}

TEST(IpAddr, KeepsVersionApart) {
  IpAddr v4 = *Ip4Addr::parse("0.0.0.0");
  IpAddr v6 = *Ip6Addr::parse("::");
  EXPECT_NE(v4, v6);  // same bytes, different family
  EXPECT_NE(std::hash<IpAddr>{}(v4), std::hash<IpAddr>{}(v6));
  EXPECT_EQ(v4.bytes().size(), 4u);
  EXPECT_EQ(v6.bytes().size(), 16u);
}

TEST(Endpoint, ParsesBothFamilies) {
  auto e4 = Endpoint::parse("198.18.1.2:5353");
  ASSERT_TRUE(e4);
  EXPECT_EQ(e4->port.value, 5353);
  EXPECT_EQ(e4->to_string(), "198.18.1.2:5353");
  auto e6 = Endpoint::parse("[fd00::2]:443");
  ASSERT_TRUE(e6);
  EXPECT_TRUE(e6->addr.is_v6());
  EXPECT_EQ(e6->to_string(), "[fd00::2]:443");
  EXPECT_FALSE(Endpoint::parse("fd00::2:443"));
  EXPECT_FALSE(Endpoint::parse("1.2.3.4:65536"));
  EXPECT_FALSE(Endpoint::parse("1.2.3.4:"));
  EXPECT_FALSE(Endpoint::parse("[fd00::2]443"));
}

TEST(Endpoint, HashesDistinctly) {
  std::unordered_set<Endpoint> set;
  for (std::uint16_t p = 0; p < 1000; ++p) set.insert({*IpAddr::parse("198.18.0.1"), Port{p}});
  EXPECT_EQ(set.size(), 1000u);
  EXPECT_TRUE(set.contains({*IpAddr::parse("198.18.0.1"), Port{999}}));
}

}  // namespace
}  // namespace tunstack
