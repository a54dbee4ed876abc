// Internet checksum: every implementation against a textbook reference, chaining, incremental
// update (RFC 1624) and real packets built by the Linux kernel (checksum_packets_test.cpp).
#include "stack/checksum/checksum.hpp"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <string_view>
#include <vector>

#include "tests/support/checksum_reference.hpp"

namespace tunstack::checksum {
namespace {

using test::textbook_sum;

/// Every implementation this CPU can run, plus the dispatched add().
struct NamedImpl {
  const char* name;
  std::uint64_t (*fn)(Bytes, std::uint64_t);
};

std::vector<NamedImpl> impls() {
  std::vector<NamedImpl> v{{"add", &add}, {"portable", &add_portable}};
  if (cpu_supports(Impl::Avx2)) v.push_back({"avx2", &add_avx2});
  if (cpu_supports(Impl::Avx512)) v.push_back({"avx512", &add_avx512});
  return v;
}

std::vector<std::byte> random_bytes(std::mt19937_64& rng, std::size_t n) {
  std::vector<std::byte> b(n);
  for (auto& x : b) x = static_cast<std::byte>(rng());
  return b;
}

/// Checks every implementation against the textbook loop on `data` with incoming sum `sum`.
void expect_all_match(Bytes data, std::uint64_t sum = 0) {
  const std::uint16_t want = fold(sum + textbook_sum(data));
  for (const auto& impl : impls()) {
    ASSERT_EQ(fold(impl.fn(data, sum)), want)
        << impl.name << " len=" << data.size() << " sum=" << sum;
  }
}

TEST(Checksum, Rfc1071Section3Example) {
  // RFC 1071 §3 (numerical example): bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0x2ddf0, which folds
  // to 0xddf2.
  const std::uint8_t bytes[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  const Bytes data = as_bytes(bytes, sizeof bytes);
  EXPECT_EQ(textbook_sum(data), 0x2ddf0u);
  for (const auto& impl : impls()) {
    EXPECT_EQ(fold(impl.fn(data, 0)), 0xddf2) << impl.name;
  }
  EXPECT_EQ(internet(data), 0x220d);
}

TEST(Checksum, FoldAndFinish) {
  EXPECT_EQ(fold(0), 0);
  EXPECT_EQ(fold(0xffff), 0xffff);
  EXPECT_EQ(fold(0x10000), 1);
  EXPECT_EQ(fold(0x1fffe), 0xffff);  // 0xffff + 0xffff: negative zero stays 0xffff
  EXPECT_EQ(fold(~std::uint64_t{0}), 0xffff);  // 2^64 - 1 == 0 (mod 0xffff), and nonzero
  EXPECT_EQ(finish(0x2ddf0), 0x220d);
}

static_assert(fold(0x2ddf0) == 0xddf2);  // RFC 1071 §3, at compile time

TEST(Checksum, FoldMatchesTheTextbookLoop) {
  auto textbook_fold = [](std::uint64_t x) {
    while (x >> 16) x = (x & 0xffff) + (x >> 16);
    return static_cast<std::uint16_t>(x);
  };
  std::mt19937_64 rng(9);
  for (int i = 0; i < 200000; ++i) {
    std::uint64_t x = rng();
    switch (i % 4) {  // small values, values near the 16/32/64-bit edges, and anything
      case 0:
        x >>= rng() % 64;
        break;
      case 1:
        x = (std::uint64_t{0xffff} << (16 * (rng() % 4))) + (rng() % 3) - 1;
        break;
      case 2:
        x = ~(x >> (rng() % 64));
        break;
      default:
        break;
    }
    ASSERT_EQ(fold(x), textbook_fold(x)) << std::hex << x;
  }
}

TEST(Checksum, AllZeroAndAllOnes) {
  for (std::size_t n : {0u, 1u, 2u, 3u, 20u, 31u, 32u, 33u, 47u, 48u, 63u, 64u, 65u, 127u, 128u,
                        129u, 255u, 256u, 257u, 1500u, 65535u}) {
    const std::vector<std::byte> zeros(n, std::byte{0});
    const std::vector<std::byte> ones(n, std::byte{0xff});
    for (const auto& impl : impls()) {
      EXPECT_EQ(fold(impl.fn(zeros, 0)), 0) << impl.name << " n=" << n;
      // All-ones words sum to negative zero (0xffff), which adds nothing to an odd last byte's
      // padded word 0xff00.
      const std::uint16_t want = n == 0 ? 0 : n % 2 ? 0xff00 : 0xffff;
      EXPECT_EQ(fold(impl.fn(ones, 0)), want) << impl.name << " n=" << n;
    }
    EXPECT_EQ(internet(zeros), 0xffff);
  }
}

TEST(Checksum, EveryLengthUpTo300AtEveryAlignment) {
  std::mt19937_64 rng(1);
  const auto buf = random_bytes(rng, 300 + 64);
  for (std::size_t offset = 0; offset < 64; offset += (offset < 8 ? 1 : 13)) {
    for (std::size_t n = 0; n <= 300; ++n) {
      expect_all_match(Bytes(buf).subspan(offset, n));
      expect_all_match(Bytes(buf).subspan(offset, n), 0xfedcba9876543210u);
    }
  }
}

TEST(Checksum, RandomLengthsAndOffsets) {
  std::mt19937_64 rng(2);
  const auto buf = random_bytes(rng, 65535 + 64);
  for (int i = 0; i < 300; ++i) {
    const std::size_t n = rng() % 65536;
    const std::size_t offset = rng() % 64;
    const std::uint64_t sum = i % 2 ? rng() : 0;
    expect_all_match(Bytes(buf).subspan(offset, n), sum);
  }
}

TEST(Checksum, WorstCaseLaneSumsOverSeveralChunks) {
  // All-0xff bytes maximise every per-lane accumulator of the vector paths, and a few MiB cross
  // their periodic reductions (1 MiB for AVX2, 2 MiB for AVX-512).
  const std::vector<std::byte> ones((5u << 20) + 77, std::byte{0xff});
  expect_all_match(ones);
  for (std::size_t n : {1u << 20, (1u << 20) + 1, (2u << 20) - 1, 2u << 20, (2u << 20) + 3}) {
    expect_all_match(Bytes(ones).first(n));  // exactly at and around the chunk sizes
  }
  std::mt19937_64 rng(3);
  const auto big = random_bytes(rng, (5u << 20) + 33);
  expect_all_match(big);
  expect_all_match(Bytes(big).subspan(1), 12345);
}

TEST(Checksum, NeverReadsOutsideTheSpan) {
  // Data flush against inaccessible pages on both sides: any read before the start or past the
  // end (a careless tail or overlapping load) faults instead of passing silently.
  const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  void* map = mmap(nullptr, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(map, MAP_FAILED);
  auto* base = static_cast<std::byte*>(map);
  ASSERT_EQ(mprotect(base, page, PROT_NONE), 0);
  ASSERT_EQ(mprotect(base + 3 * page, page, PROT_NONE), 0);
  std::mt19937_64 rng(10);
  for (std::size_t i = 0; i < 2 * page; ++i) base[page + i] = static_cast<std::byte>(rng());
  for (std::size_t n = 0; n <= 2 * page; n += (n < 300 ? 1 : 97)) {
    expect_all_match(Bytes(base + page, n));                 // flush against the start
    expect_all_match(Bytes(base + 3 * page - n, n));         // flush against the end
  }
  munmap(map, 4 * page);
}

TEST(Checksum, ChainsOverEvenLengthPrefixes) {
  std::mt19937_64 rng(4);
  const auto buf = random_bytes(rng, 4096);
  for (int i = 0; i < 500; ++i) {
    const std::size_t a = 2 * (rng() % 1024);
    const std::size_t b = rng() % 2048;
    const Bytes whole = Bytes(buf).subspan(rng() % 16, a + b);
    for (const auto& impl : impls()) {
      const std::uint64_t chained = impl.fn(whole.subspan(a), impl.fn(whole.first(a), 0));
      ASSERT_EQ(fold(chained), fold(impl.fn(whole, 0))) << impl.name << " a=" << a << " b=" << b;
    }
  }
}

TEST(Checksum, LargeIncomingSumDoesNotOverflow) {
  const std::uint8_t bytes[] = {0xff, 0xff, 0xff, 0xff};
  const std::uint64_t big = ~std::uint64_t{0} - 1;  // == 0xfffe (mod 0xffff)
  for (const auto& impl : impls()) {
    EXPECT_EQ(fold(impl.fn(as_bytes(bytes, 4), big)), fold(0xfffeu + 0xffffu + 0xffffu))
        << impl.name;
  }
}

TEST(Checksum, VerifyAcceptsAndRejects) {
  std::mt19937_64 rng(5);
  auto pkt = random_bytes(rng, 60);
  store_be16(pkt.data() + 10, 0);
  store_be16(pkt.data() + 10, internet(pkt));
  EXPECT_TRUE(verify(pkt));
  pkt[33] ^= std::byte{0x10};
  EXPECT_FALSE(verify(pkt));
}

// --- pseudo-headers ------------------------------------------------------------------------------

TEST(Checksum, PseudoHeaderV4MatchesItsBytes) {
  const Ip4Addr src = *Ip4Addr::parse("198.18.99.1");
  const Ip4Addr dst = *Ip4Addr::parse("198.18.255.254");
  // RFC 9293 §3.1: src, dst, zero, PTCL, TCP length.
  const std::uint8_t ph[] = {198, 18, 99, 1, 198, 18, 255, 254, 0, 6, 0x05, 0xdc};
  EXPECT_EQ(fold(pseudo_header_v4(src, dst, 6, 1500)), fold(textbook_sum(as_bytes(ph, 12))));
  EXPECT_EQ(fold(pseudo_header(src, dst, 6, 1500)), fold(textbook_sum(as_bytes(ph, 12))));
}

TEST(Checksum, PseudoHeaderV6MatchesItsBytes) {
  const Ip6Addr src = *Ip6Addr::parse("fd00:99::1");
  const Ip6Addr dst = *Ip6Addr::parse("fd00:99:ffff:eeee:dddd:cccc:bbbb:aaaa");
  // RFC 8200 §8.1: src, dst, 32-bit upper-layer length, three zero bytes, next header.
  std::vector<std::uint8_t> ph(src.b.begin(), src.b.end());
  ph.insert(ph.end(), dst.b.begin(), dst.b.end());
  const std::uint32_t len = 0x0001'2345;  // a jumbogram-sized length exercises the high word
  ph.insert(ph.end(), {0x00, 0x01, 0x23, 0x45, 0, 0, 0, 17});
  const Bytes bytes = as_bytes(ph.data(), ph.size());
  EXPECT_EQ(fold(pseudo_header_v6(src, dst, 17, len)), fold(textbook_sum(bytes)));
  EXPECT_EQ(fold(pseudo_header(src, dst, 17, len)), fold(textbook_sum(bytes)));
}

// --- incremental update (RFC 1624) ---------------------------------------------------------------

TEST(ChecksumUpdate, Rfc1624Section5Example) {
  // RFC 1624 §5: the other header words sum to 0xcd7a and m = 0x5555 changes to 0x3285. Full
  // recomputation gives ~(0xcd7a + 0x3285) = 0x0000; RFC 1141's eqn. 2 wrongly gives 0xffff.
  const std::uint16_t hc = finish(0xcd7au + 0x5555u);
  ASSERT_EQ(hc, 0xdd2f);
  EXPECT_EQ(update16(hc, 0x5555, 0x3285), 0x0000);
  EXPECT_EQ(update16(hc, 0x5555, 0x3285), finish(0xcd7au + 0x3285u));
}

/// A random "packet" with its checksum stored at offset 10, as an IPv4 header would have it.
struct Packet {
  std::vector<std::byte> bytes;
  std::uint16_t checksum() const { return load_be16(bytes.data() + 10); }
  void recompute() {
    store_be16(bytes.data() + 10, 0);
    store_be16(bytes.data() + 10, internet(bytes));
  }
};

/// At least `min_size` (even) bytes, so that a field of up to min_size - 12 bytes fits after the
/// checksum.
Packet random_packet(std::mt19937_64& rng, std::size_t min_size = 20) {
  Packet p{random_bytes(rng, min_size + 2 * (rng() % 750))};
  p.recompute();
  return p;
}

/// A field value that is often one of the awkward ones.
std::uint16_t pick16(std::mt19937_64& rng) {
  switch (rng() % 4) {
    case 0:
      return 0;
    case 1:
      return 0xffff;
    default:
      return static_cast<std::uint16_t>(rng());
  }
}

/// An even offset that does not overlap the checksum field at [10, 12) for a field of `size`.
std::size_t pick_offset(std::mt19937_64& rng, const Packet& p, std::size_t size) {
  for (;;) {
    const std::size_t off = 2 * (rng() % ((p.bytes.size() - size) / 2 + 1));
    if (off + size <= 10 || off >= 12) return off;
  }
}

/// Sum of every word but the checksum field and the `size` bytes at `off`: what the new field
/// value must complement for the new checksum to be 0x0000 (the RFC 1624 §3 corner).
std::uint16_t sum_without(const Packet& p, std::size_t off, std::size_t size) {
  std::vector<std::byte> copy = p.bytes;
  copy.at(10) = copy.at(11) = std::byte{0};
  for (std::size_t i = off; i < off + size; ++i) copy.at(i) = std::byte{0};
  return fold(textbook_sum(copy));
}

/// Stores the incrementally updated checksum, checks it verifies and equals a recomputation.
void expect_matches_recomputation(Packet& p, std::uint16_t incremental, int iteration) {
  store_be16(p.bytes.data() + 10, incremental);
  ASSERT_TRUE(verify(p.bytes)) << "iteration " << iteration;
  p.recompute();
  // Bit-identical, not merely congruent: 0x0000 must not come out as 0xffff or the reverse.
  ASSERT_EQ(incremental, p.checksum()) << "iteration " << iteration;
}

TEST(ChecksumUpdate, Random16BitFieldsMatchRecomputation) {
  std::mt19937_64 rng(6);
  int zero_results = 0;
  for (int i = 0; i < 20000; ++i) {
    Packet p = random_packet(rng);
    const std::size_t off = pick_offset(rng, p, 2);
    const std::uint16_t old_v = load_be16(p.bytes.data() + off);
    // One time in eight, pick the value that makes the new checksum exactly 0x0000.
    const std::uint16_t new_v =
        rng() % 8 == 0 ? static_cast<std::uint16_t>(~sum_without(p, off, 2)) : pick16(rng);
    const std::uint16_t updated = update16(p.checksum(), old_v, new_v);
    zero_results += updated == 0;
    store_be16(p.bytes.data() + off, new_v);
    expect_matches_recomputation(p, updated, i);
  }
  EXPECT_GT(zero_results, 1000);  // the corner case was really exercised
}

TEST(ChecksumUpdate, Random32BitFieldsMatchRecomputation) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 20000; ++i) {
    Packet p = random_packet(rng);
    const std::size_t off = pick_offset(rng, p, 4);
    const std::uint32_t old_v = load_be32(p.bytes.data() + off);
    const std::uint32_t new_v = (std::uint32_t{pick16(rng)} << 16) | pick16(rng);
    const std::uint16_t updated = update32(p.checksum(), old_v, new_v);
    store_be32(p.bytes.data() + off, new_v);
    expect_matches_recomputation(p, updated, i);
  }
}

TEST(ChecksumUpdate, RandomRegionsMatchRecomputation) {
  std::mt19937_64 rng(8);
  for (int i = 0; i < 5000; ++i) {
    Packet p = random_packet(rng, 28);
    const std::size_t size = 2 * (1 + rng() % 8);  // e.g. an IPv6 address is 16
    const std::size_t off = pick_offset(rng, p, size);
    const std::vector<std::byte> old_v(p.bytes.begin() + static_cast<std::ptrdiff_t>(off),
                                       p.bytes.begin() + static_cast<std::ptrdiff_t>(off + size));
    std::vector<std::byte> new_v = random_bytes(rng, size);
    if (rng() % 4 == 0) {
      std::fill(new_v.begin(), new_v.end(), static_cast<std::byte>(rng() % 2 ? 0xff : 0));
    }
    const std::uint16_t updated = update_bytes(p.checksum(), old_v, new_v);
    std::copy(new_v.begin(), new_v.end(), p.bytes.begin() + static_cast<std::ptrdiff_t>(off));
    expect_matches_recomputation(p, updated, i);
  }
}

TEST(ChecksumUpdate, ChangingNothingKeepsTheChecksum) {
  for (std::uint32_t hc : {0x0000u, 0x1234u, 0xfffeu}) {
    for (std::uint32_t m : {0x0000u, 0x8000u, 0xffffu}) {
      EXPECT_EQ(update16(static_cast<std::uint16_t>(hc), static_cast<std::uint16_t>(m),
                         static_cast<std::uint16_t>(m)),
                hc);
    }
  }
}

TEST(ChecksumDispatch, ActiveImplIsSupportedAndHonoursTheOverride) {
  EXPECT_TRUE(cpu_supports(Impl::Portable));
  EXPECT_TRUE(cpu_supports(active_impl()));
  EXPECT_STREQ(to_string(Impl::Portable), "portable");
  EXPECT_STREQ(to_string(Impl::Avx2), "avx2");
  EXPECT_STREQ(to_string(Impl::Avx512), "avx512");
  // Run the suite with TUNSTACK_CHECKSUM=portable (or avx2) to test the override too.
  if (const char* env = std::getenv("TUNSTACK_CHECKSUM")) {
    const std::string_view want{env};
    for (Impl i : {Impl::Portable, Impl::Avx2, Impl::Avx512}) {
      if (want == to_string(i) && cpu_supports(i)) {
        EXPECT_EQ(active_impl(), i);
      }
    }
  } else if (cpu_supports(Impl::Avx2)) {
    EXPECT_NE(active_impl(), Impl::Portable);  // the best one is chosen by default
  }
}

}  // namespace
}  // namespace tunstack::checksum
