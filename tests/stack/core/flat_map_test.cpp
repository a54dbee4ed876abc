#include "stack/core/flat_map.hpp"

#include <gtest/gtest.h>

#include <random>
#include <unordered_map>

#include "stack/core/addr.hpp"

namespace tunstack {
namespace {

TEST(FlatMap, InsertFindErase) {
  FlatMap<Endpoint, int> m(100);
  Endpoint a{*IpAddr::parse("198.18.0.1"), Port{1}};
  Endpoint b{*IpAddr::parse("fd00::1"), Port{1}};
  ASSERT_NE(m.insert(a, 1), nullptr);
  ASSERT_NE(m.insert(b, 2), nullptr);
  EXPECT_EQ(m.insert(a, 3), nullptr);  // present
  EXPECT_EQ(*m.find(a), 1);
  EXPECT_EQ(*m.find(b), 2);
  EXPECT_TRUE(m.erase(a));
  EXPECT_FALSE(m.erase(a));
  EXPECT_EQ(m.find(a), nullptr);
  EXPECT_EQ(m.size(), 1u);
}

TEST(FlatMap, RefusesPastCapacity) {
  FlatMap<std::uint64_t, int, std::hash<std::uint64_t>> m(3);  // a plain functor works too
  EXPECT_NE(m.insert(1, 1), nullptr);
  EXPECT_NE(m.insert(2, 1), nullptr);
  EXPECT_NE(m.insert(3, 1), nullptr);
  EXPECT_EQ(m.insert(4, 1), nullptr);
  EXPECT_TRUE(m.full());
}

struct BadHash {  // few distinct hashes: exercises probing and backward-shift deletion
  std::size_t operator()(std::uint64_t k) const { return k & 3; }
};

TEST(FlatMap, SeedChangesPlacementNotContents) {
  FlatMap<Endpoint, int> a(64, 1), b(64, 0x9e3779b97f4a7c15ULL);
  for (std::uint16_t p = 1; p <= 40; ++p) {
    Endpoint e{*IpAddr::parse("198.18.0.1"), Port{p}};
    ASSERT_NE(a.insert(e, p), nullptr);
    ASSERT_NE(b.insert(e, p), nullptr);
  }
  for (std::uint16_t p = 1; p <= 40; ++p) {
    Endpoint e{*IpAddr::parse("198.18.0.1"), Port{p}};
    EXPECT_EQ(*a.find(e), p);
    EXPECT_EQ(*b.find(e), p);
  }
}

TEST(FlatMap, MatchesUnorderedMapUnderChurn) {
  std::mt19937_64 rng(7);
  FlatMap<std::uint64_t, std::uint64_t, BadHash> m(500);
  std::unordered_map<std::uint64_t, std::uint64_t> ref;
  for (int i = 0; i < 50000; ++i) {
    std::uint64_t k = rng() % 700;
    if (rng() % 2) {
      bool inserted = m.insert(k, i) != nullptr;
      bool ref_ok = !ref.contains(k) && ref.size() < 500;
      ASSERT_EQ(inserted, ref_ok);
      if (ref_ok) ref[k] = static_cast<std::uint64_t>(i);
    } else {
      ASSERT_EQ(m.erase(k), ref.erase(k) == 1);
    }
    ASSERT_EQ(m.size(), ref.size());
  }
  for (auto& [k, v] : ref) ASSERT_EQ(*m.find(k), v);
  std::size_t seen = 0;
  m.for_each([&](std::uint64_t, std::uint64_t) { ++seen; });
  EXPECT_EQ(seen, ref.size());
}

}  // namespace
}  // namespace tunstack
