#include "stack/ip/reassembly.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string_view>
#include <vector>

#include "stack/checksum/checksum.hpp"
#include "stack/wire/ipv4.hpp"
#include "stack/wire/ipv6.hpp"

namespace tunstack::ip {
namespace {

using Buf = std::vector<std::byte>;
using wire::IpProto;

Bytes view(const Buf& b) { return {b.data(), b.size()}; }
Buf to_buf(Bytes b) { return Buf(b.begin(), b.end()); }

/// Datagram data byte at absolute offset `at`; `salt` makes a different, conflicting pattern.
std::byte pattern(std::size_t at, unsigned salt = 0) {
  return static_cast<std::byte>((at * 131 + (at >> 8) + salt) & 0xff);
}

Buf data_at(std::size_t offset, std::size_t len, unsigned salt = 0) {
  Buf d(len);
  for (std::size_t i = 0; i < len; ++i) d[i] = pattern(offset + i, salt);
  return d;
}

wire::Ipv4Repr v4_repr(std::uint16_t ident, std::string_view src = "10.0.0.1") {
  wire::Ipv4Repr r;
  r.src = *Ip4Addr::parse(src);
  r.dst = *Ip4Addr::parse("10.0.0.2");
  r.protocol = IpProto::Udp;
  r.ttl = 61;
  r.ident = ident;
  return r;
}

/// An IPv4 fragment of `r`'s datagram carrying data [offset, offset + len).
Buf v4_frag(wire::Ipv4Repr r, std::size_t offset, std::size_t len, bool more, unsigned salt = 0) {
  r.frag_offset = static_cast<std::uint16_t>(offset);
  r.more_frags = more;
  r.payload_len = static_cast<std::uint16_t>(len);
  Buf b(r.header_len());
  r.emit(MutBytes{b.data(), b.size()});
  const Buf d = data_at(offset, len, salt);
  b.insert(b.end(), d.begin(), d.end());
  return b;
}

/// The whole datagram that v4_frag pieces add up to.
Buf v4_whole(wire::Ipv4Repr r, std::size_t len) { return v4_frag(r, 0, len, false); }

constexpr std::uint8_t kUdp = 17, kTcp = 6, kHbh = 0, kFragNh = 44;

/// IPv6 header + Hop-by-Hop (8 bytes, empty) when `hbh`, naming `nh` last.
Buf v6_unfragmentable(bool hbh, std::uint8_t nh, std::uint32_t payload_len,
                      std::string_view src = "fd00::1") {
  wire::Ipv6Repr r;
  r.src = *Ip6Addr::parse(src);
  r.dst = *Ip6Addr::parse("fd00::2");
  r.next_header = static_cast<IpProto>(hbh ? kHbh : nh);
  r.payload_len = static_cast<std::uint16_t>(payload_len + (hbh ? 8 : 0));
  Buf b(40);
  r.emit(MutBytes{b.data(), b.size()});
  if (hbh) {
    const Buf h{static_cast<std::byte>(nh), std::byte{0}, std::byte{1}, std::byte{4},
                std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0}};
    b.insert(b.end(), h.begin(), h.end());
  }
  return b;
}

Buf v6_frag(std::uint32_t ident, std::size_t offset, std::size_t len, bool more, bool hbh = false,
            unsigned salt = 0, std::string_view src = "fd00::1") {
  Buf b = v6_unfragmentable(hbh, kFragNh, static_cast<std::uint32_t>(8 + len), src);
  Buf fh(8);
  wire::Ipv6FragHeader{kUdp, static_cast<std::uint16_t>(offset), more, ident}.emit(
      MutBytes{fh.data(), fh.size()});
  b.insert(b.end(), fh.begin(), fh.end());
  const Buf d = data_at(offset, len, salt);
  b.insert(b.end(), d.begin(), d.end());
  return b;
}

Buf v6_whole(std::size_t len, bool hbh = false) {
  Buf b = v6_unfragmentable(hbh, kUdp, static_cast<std::uint32_t>(len));
  const Buf d = data_at(0, len);
  b.insert(b.end(), d.begin(), d.end());
  return b;
}

class ReassemblyTest : public ::testing::Test {
 protected:
  Reassembler::Outcome in4(const Buf& b, Instant at) { return r->input_v4(pool.copy_of(view(b)), at); }
  Reassembler::Outcome in6(const Buf& b, Instant at) { return r->input_v6(pool.copy_of(view(b)), at); }
  void make(Reassembler::Config cfg) { r.emplace(pool, cfg); }
  Instant t(double seconds) const {
    return t0 + std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds));
  }
  void TearDown() override {
    if (!r) return;
    // Nothing leaks: once everything has expired, no fragment, byte or slot is held.
    r->poll(t(1e6));
    EXPECT_EQ(r->bytes_held(), 0u);
    EXPECT_EQ(r->fragments_held(), 0u);
    EXPECT_EQ(r->datagrams_in_progress(), 0u);
    r.reset();
    EXPECT_EQ(pool.stats().blocks_out, 0u);
  }

  BufPool pool;  // declared first: it must outlive the reassembler
  std::optional<Reassembler> r{std::in_place, pool};
  Instant t0 = instant_from_ns(5'000'000'000);
};

TEST_F(ReassemblyTest, Ipv4InOrderReverseAndInterleaved) {
  const auto rep = v4_repr(0x1234);
  const Buf whole = v4_whole(rep, 3000);
  const std::vector<Buf> f = {v4_frag(rep, 0, 1480, true), v4_frag(rep, 1480, 1480, true),
                              v4_frag(rep, 2960, 40, false)};
  for (const auto& order : {std::vector<int>{0, 1, 2}, {2, 1, 0}, {1, 2, 0}, {2, 0, 1}}) {
    std::optional<PacketBuf> out;
    for (std::size_t i = 0; i < order.size(); ++i) {
      auto o = in4(f[static_cast<std::size_t>(order[i])], t0);
      EXPECT_EQ(o.dropped, FragDrop::None);
      EXPECT_EQ(o.datagram.has_value(), i + 1 == order.size());
      if (o.datagram) out = std::move(o.datagram);
    }
    ASSERT_TRUE(out);
    EXPECT_EQ(to_buf(out->view()), whole);  // header fixed up: length, flags, checksum
    EXPECT_EQ(r->datagrams_in_progress(), 0u);
  }
  EXPECT_EQ(r->stats().reassembled, 4u);
  EXPECT_EQ(r->stats().fragments, 12u);
}

TEST_F(ReassemblyTest, Ipv4KeepsTheFirstFragmentsOptions) {
  auto rep = v4_repr(77);
  ASSERT_TRUE(rep.options.assign(view(Buf{std::byte{0x94}, std::byte{4}, std::byte{0}, std::byte{0}})));
  auto later = rep;
  later.options.clear();  // RFC 791: a non-copied option would be missing from later fragments
  ASSERT_FALSE(in4(v4_frag(later, 16, 8, false), t0).datagram);
  auto o = in4(v4_frag(rep, 0, 16, true), t0);
  ASSERT_TRUE(o.datagram);
  auto v = wire::Ipv4View::check(o.datagram->view());
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->checksum_ok());
  EXPECT_EQ(v->header_len(), 24u);
  EXPECT_EQ(v->total_length(), 48);
  EXPECT_FALSE(v->more_frags());
  EXPECT_EQ(v->frag_offset(), 0);
  EXPECT_EQ(to_buf(o.datagram->view()), v4_whole(rep, 24));
}

TEST_F(ReassemblyTest, Ipv4PassesWholeDatagramsThroughAndRejectsBadHeaders) {
  Buf whole = v4_whole(v4_repr(1), 100);
  whole.resize(whole.size() + 6);  // trailing link padding is cut
  auto o = in4(whole, t0);
  ASSERT_TRUE(o.datagram);
  EXPECT_EQ(o.datagram->size(), 120u);
  EXPECT_EQ(r->stats().unfragmented, 1u);

  Buf bad = v4_frag(v4_repr(2), 0, 8, true);
  bad[8] ^= std::byte{1};  // TTL changed, checksum not
  EXPECT_EQ(in4(bad, t0).dropped, FragDrop::Malformed);
  EXPECT_EQ(in4(Buf(10), t0).dropped, FragDrop::Malformed);
  EXPECT_EQ(r->stats().malformed, 2u);
}

TEST_F(ReassemblyTest, Ipv4LengthRules) {
  const auto rep = v4_repr(3);
  EXPECT_EQ(in4(v4_frag(rep, 0, 1481, true), t0).dropped, FragDrop::BadLength);  // not 8k
  EXPECT_EQ(in4(v4_frag(rep, 8, 0, true), t0).dropped, FragDrop::BadLength);
  EXPECT_EQ(in4(v4_frag(rep, 8, 0, false), t0).dropped, FragDrop::BadLength);
  // 20 + 65512 + 8 = 65540 > 65535.
  EXPECT_EQ(in4(v4_frag(rep, 65512, 8, false), t0).dropped, FragDrop::TooBig);
  EXPECT_EQ(in4(v4_frag(rep, 65512, 3, false), t0).dropped, FragDrop::None);  // exactly 65535
  EXPECT_EQ(r->stats().bad_length, 3u);
  EXPECT_EQ(r->stats().too_big, 1u);
}

TEST_F(ReassemblyTest, ExactDuplicatesAreDroppedAlone) {
  const auto rep = v4_repr(4);
  const Buf a = v4_frag(rep, 0, 1000, true);
  EXPECT_EQ(in4(a, t0).dropped, FragDrop::None);
  EXPECT_EQ(in4(a, t0).dropped, FragDrop::Duplicate);
  auto o = in4(v4_frag(rep, 1000, 24, false), t0);
  ASSERT_TRUE(o.datagram);
  EXPECT_EQ(to_buf(o.datagram->view()), v4_whole(rep, 1024));
  EXPECT_EQ(r->stats().duplicate, 1u);
}

TEST_F(ReassemblyTest, Ipv4OverlapDiscardsTheDatagramUntilItsTimeout) {
  const auto rep = v4_repr(5);
  EXPECT_EQ(in4(v4_frag(rep, 0, 1000, true), t0).dropped, FragDrop::None);
  // Same extent, different bytes: never build a datagram from inconsistent data.
  EXPECT_EQ(in4(v4_frag(rep, 0, 1000, true, 1), t0).dropped, FragDrop::Overlap);
  EXPECT_EQ(r->fragments_held(), 0u);
  EXPECT_EQ(in4(v4_frag(rep, 1000, 24, false), t(1)).dropped, FragDrop::DeadDatagram);
  EXPECT_EQ(in4(v4_frag(rep, 0, 1000, true), t(2)).dropped, FragDrop::DeadDatagram);
  // After the timeout the key is reusable (IPv4 idents wrap: RFC 4963).
  EXPECT_EQ(r->poll(t(30)), 1u);
  EXPECT_EQ(r->stats().timed_out, 0u);  // a dead datagram does not count as timed out
  EXPECT_EQ(in4(v4_frag(rep, 0, 1000, true), t(31)).dropped, FragDrop::None);
  EXPECT_TRUE(in4(v4_frag(rep, 1000, 24, false), t(31)).datagram);
}

TEST_F(ReassemblyTest, PartialOverlapsOfAnyShapeDiscard) {
  struct Case {
    std::size_t off, len;
    bool more;
  };
  // Held: [1000, 2000). Each case overlaps it differently (same bytes: still an overlap).
  std::uint16_t ident = 100;
  for (const Case& c : {Case{992, 16, true}, Case{1992, 16, true}, Case{1000, 8, true},
                        Case{1008, 984, true}, Case{8, 2992, false}, Case{1000, 1000, false}}) {
    const auto rep = v4_repr(ident++);
    ASSERT_EQ(in4(v4_frag(rep, 1000, 1000, true), t0).dropped, FragDrop::None);
    const auto d = in4(v4_frag(rep, c.off, c.len, c.more), t0).dropped;
    EXPECT_TRUE(d == FragDrop::Overlap || d == FragDrop::Inconsistent) << c.off << "+" << c.len;
  }
  EXPECT_EQ(r->fragments_held(), 0u);
}

TEST_F(ReassemblyTest, ContradictoryEndsDiscard) {
  auto rep = v4_repr(6);
  ASSERT_EQ(in4(v4_frag(rep, 1000, 24, false), t0).dropped, FragDrop::None);
  EXPECT_EQ(in4(v4_frag(rep, 2000, 24, false), t0).dropped, FragDrop::Inconsistent);
  rep.ident = 7;
  ASSERT_EQ(in4(v4_frag(rep, 1000, 24, false), t0).dropped, FragDrop::None);
  EXPECT_EQ(in4(v4_frag(rep, 1024, 16, true), t0).dropped, FragDrop::Inconsistent);
  rep.ident = 8;
  ASSERT_EQ(in4(v4_frag(rep, 1000, 16, true), t0).dropped, FragDrop::None);
  EXPECT_EQ(in4(v4_frag(rep, 8, 8, false), t0).dropped, FragDrop::Inconsistent);
  EXPECT_EQ(r->stats().inconsistent, 3u);
}

TEST_F(ReassemblyTest, KeysSeparateSourcesProtocolsAndIdents) {
  auto a = v4_repr(9);
  auto b = a;
  b.protocol = IpProto::Tcp;
  auto c = v4_repr(9, "10.0.0.9");
  auto d = v4_repr(10);
  for (const auto* rep : {&a, &b, &c, &d}) ASSERT_FALSE(in4(v4_frag(*rep, 0, 8, true), t0).datagram);
  EXPECT_EQ(r->datagrams_in_progress(), 4u);
  for (const auto* rep : {&a, &b, &c, &d}) {
    auto o = in4(v4_frag(*rep, 8, 8, false), t0);
    ASSERT_TRUE(o.datagram);
    EXPECT_EQ(to_buf(o.datagram->view()), v4_whole(*rep, 16));
  }
}

TEST_F(ReassemblyTest, TimeoutsFollowTheCallersClock) {
  const auto rep = v4_repr(11);
  const Buf first = v4_frag(rep, 0, 8, true);
  ASSERT_FALSE(in4(first, t0).datagram);
  ASSERT_FALSE(in4(v4_frag(v4_repr(12), 8, 8, true), t(1)).datagram);  // no fragment 0
  ASSERT_FALSE(in6(v6_frag(13, 0, 8, true), t(2)).datagram);
  EXPECT_EQ(r->next_deadline(), t(30));
  std::vector<Reassembler::Expired> expired;
  auto sink = [&](Reassembler::Expired&& e) { expired.push_back(std::move(e)); };
  EXPECT_EQ(r->poll(t(29.999), sink), 0u);
  EXPECT_EQ(r->poll(t(30), sink), 1u);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].version, IpVersion::V4);
  EXPECT_EQ(to_buf(expired[0].first_fragment.view()), first);  // to quote in ICMP Time Exceeded
  EXPECT_EQ(r->poll(t(31), sink), 1u);  // the one without fragment 0: expired, not reported
  EXPECT_EQ(expired.size(), 1u);
  EXPECT_EQ(r->next_deadline(), t(62));
  EXPECT_EQ(r->poll(t(61), sink), 0u);
  EXPECT_EQ(r->poll(t(62), sink), 1u);  // IPv6 waits 60 s (RFC 8200 §4.5)
  ASSERT_EQ(expired.size(), 2u);
  EXPECT_EQ(expired[1].version, IpVersion::V6);
  EXPECT_EQ(r->stats().timed_out, 3u);
  EXPECT_FALSE(r->next_deadline());
  expired.clear();  // release the buffers before the pool check in TearDown
}

TEST_F(ReassemblyTest, AStaleDatagramIsReplacedEvenWithoutPoll) {
  const auto rep = v4_repr(14);
  ASSERT_FALSE(in4(v4_frag(rep, 0, 8, true), t0).datagram);
  // 40 s later, poll() has not run: the old piece must not be combined with new ones.
  ASSERT_FALSE(in4(v4_frag(rep, 8, 8, false), t(40)).datagram);
  EXPECT_EQ(r->stats().timed_out, 1u);
  EXPECT_EQ(r->fragments_held(), 1u);
}

TEST_F(ReassemblyTest, CapsFragmentsPerDatagram) {
  Reassembler::Config cfg;
  cfg.max_fragments_per_datagram = 4;
  make(cfg);
  const auto rep = v4_repr(15);
  for (std::size_t i = 0; i < 4; ++i) ASSERT_EQ(in4(v4_frag(rep, i * 8, 8, true), t0).dropped, FragDrop::None);
  EXPECT_EQ(in4(v4_frag(rep, 32, 8, false), t0).dropped, FragDrop::TooManyFragments);
  EXPECT_EQ(r->fragments_held(), 0u);
  EXPECT_EQ(in4(v4_frag(rep, 40, 8, false), t0).dropped, FragDrop::DeadDatagram);
}

TEST_F(ReassemblyTest, CapsBytesPerSource) {
  Reassembler::Config cfg;
  cfg.max_bytes_per_source = 3 * pool.config().small_size;
  make(cfg);
  const auto a1 = v4_repr(16), a2 = v4_repr(17), b1 = v4_repr(16, "10.0.0.7");
  ASSERT_EQ(in4(v4_frag(a1, 0, 8, true), t0).dropped, FragDrop::None);
  ASSERT_EQ(in4(v4_frag(a1, 8, 8, true), t0).dropped, FragDrop::None);
  ASSERT_EQ(in4(v4_frag(a2, 0, 8, true), t0).dropped, FragDrop::None);
  EXPECT_EQ(in4(v4_frag(a2, 8, 8, true), t0).dropped, FragDrop::OverSourceCap);
  EXPECT_LE(r->bytes_held(), 3 * pool.config().small_size);
  // Another source is not affected, and a1 (untouched) still completes.
  ASSERT_EQ(in4(v4_frag(b1, 0, 8, true), t0).dropped, FragDrop::None);
  EXPECT_TRUE(in4(v4_frag(b1, 8, 8, false), t0).datagram);
  EXPECT_TRUE(in4(v4_frag(a1, 16, 8, false), t0).datagram);
  EXPECT_EQ(r->stats().over_source_cap, 1u);
}

TEST_F(ReassemblyTest, Ipv6SourcesShareTheirCapPerSlash64) {
  Reassembler::Config cfg;
  cfg.max_bytes_per_source = 2 * pool.config().small_size;
  make(cfg);
  ASSERT_EQ(in6(v6_frag(1, 0, 8, true, false, 0, "fd00::1"), t0).dropped, FragDrop::None);
  ASSERT_EQ(in6(v6_frag(2, 0, 8, true, false, 0, "fd00::2"), t0).dropped, FragDrop::None);
  // A third interface identifier in the same /64 is the same source.
  EXPECT_EQ(in6(v6_frag(3, 0, 8, true, false, 0, "fd00::3"), t0).dropped, FragDrop::OverSourceCap);
  EXPECT_EQ(in6(v6_frag(4, 0, 8, true, false, 0, "fd00:0:0:1::1"), t0).dropped, FragDrop::None);
}

TEST_F(ReassemblyTest, GlobalMemoryCapEvictsTheOldestDatagram) {
  Reassembler::Config cfg;
  cfg.max_bytes = 4 * pool.config().small_size;
  make(cfg);
  const auto a = v4_repr(20, "10.0.1.1"), b = v4_repr(21, "10.0.1.2"), c = v4_repr(22, "10.0.1.3");
  ASSERT_EQ(in4(v4_frag(a, 0, 8, true), t0).dropped, FragDrop::None);
  ASSERT_EQ(in4(v4_frag(a, 8, 8, true), t0).dropped, FragDrop::None);
  ASSERT_EQ(in4(v4_frag(b, 0, 8, true), t(1)).dropped, FragDrop::None);
  ASSERT_EQ(in4(v4_frag(b, 8, 8, true), t(1)).dropped, FragDrop::None);
  EXPECT_EQ(r->bytes_held(), 4 * pool.config().small_size);
  ASSERT_EQ(in4(v4_frag(c, 0, 8, true), t(2)).dropped, FragDrop::None);  // evicts a
  EXPECT_EQ(r->stats().evicted, 1u);
  EXPECT_LE(r->bytes_held(), cfg.max_bytes);
  EXPECT_EQ(in4(v4_frag(a, 16, 8, false), t(2)).dropped, FragDrop::DeadDatagram);
  EXPECT_TRUE(in4(v4_frag(b, 16, 8, false), t(2)).datagram);
  EXPECT_TRUE(in4(v4_frag(c, 8, 8, false), t(2)).datagram);
  // One datagram larger than the whole cap cannot be helped: it is dropped, not grown.
  const auto big = v4_repr(23);
  for (std::size_t i = 0; i < 4; ++i) ASSERT_EQ(in4(v4_frag(big, i * 8, 8, true), t(3)).dropped, FragDrop::None);
  EXPECT_EQ(in4(v4_frag(big, 32, 8, true), t(3)).dropped, FragDrop::OverMemory);
  EXPECT_EQ(r->bytes_held(), 0u);
}

TEST_F(ReassemblyTest, CapsDatagramsAndTotalFragments) {
  Reassembler::Config cfg;
  cfg.max_datagrams = 2;
  cfg.max_fragments = 3;
  make(cfg);
  const auto a = v4_repr(30), b = v4_repr(31), c = v4_repr(32);
  ASSERT_EQ(in4(v4_frag(a, 0, 8, true), t0).dropped, FragDrop::None);
  ASSERT_EQ(in4(v4_frag(b, 0, 8, true), t(1)).dropped, FragDrop::None);
  ASSERT_EQ(in4(v4_frag(c, 0, 8, true), t(2)).dropped, FragDrop::None);  // evicts a (slots)
  EXPECT_EQ(r->datagrams_in_progress(), 2u);
  EXPECT_EQ(r->stats().evicted, 1u);
  ASSERT_EQ(in4(v4_frag(c, 8, 8, true), t(2)).dropped, FragDrop::None);
  ASSERT_EQ(in4(v4_frag(c, 16, 8, true), t(2)).dropped, FragDrop::None);  // evicts b (records)
  EXPECT_EQ(r->fragments_held(), 3u);
  EXPECT_EQ(r->stats().evicted, 2u);
  EXPECT_EQ(in4(v4_frag(c, 24, 8, true), t(2)).dropped, FragDrop::OverMemory);
}

TEST_F(ReassemblyTest, NoOutputBufferIsCountedAndFreesEverything) {
  BufPool::Config pc;
  pc.max_bytes = 100;  // refuses every allocation
  BufPool tiny(pc);
  Reassembler small(tiny);
  const auto rep = v4_repr(33);
  ASSERT_FALSE(small.input_v4(pool.copy_of(view(v4_frag(rep, 0, 8, true))), t0).datagram);
  auto o = small.input_v4(pool.copy_of(view(v4_frag(rep, 8, 8, false))), t0);
  EXPECT_FALSE(o.datagram);
  EXPECT_EQ(o.dropped, FragDrop::NoBuffer);
  EXPECT_EQ(small.bytes_held(), 0u);
  EXPECT_EQ(small.stats().no_buffer, 1u);
}

TEST_F(ReassemblyTest, Ipv6ReassemblesWithTheUnfragmentablePartAndFixesNextHeader) {
  for (bool hbh : {false, true}) {
    const Buf whole = v6_whole(2900, hbh);
    const std::vector<Buf> f = {v6_frag(40, 1448, 1448, true, hbh), v6_frag(40, 2896, 4, false, hbh),
                                v6_frag(40, 0, 1448, true, hbh)};
    std::optional<PacketBuf> out;
    for (const Buf& x : f) {
      auto o = in6(x, t0);
      ASSERT_EQ(o.dropped, FragDrop::None);
      if (o.datagram) out = std::move(o.datagram);
    }
    ASSERT_TRUE(out);
    EXPECT_EQ(to_buf(out->view()), whole);
  }
}

TEST_F(ReassemblyTest, Ipv6AtomicFragmentsBypassReassembly) {
  // Two atomic fragments with the same ident: each is its own datagram (RFC 6946 §4).
  for (int i = 0; i < 2; ++i) {
    auto o = in6(v6_frag(50, 0, 24, false, /*hbh=*/true), t0);
    ASSERT_TRUE(o.datagram);
    EXPECT_EQ(to_buf(o.datagram->view()), v6_whole(24, true));
  }
  EXPECT_EQ(r->datagrams_in_progress(), 0u);
  EXPECT_EQ(r->stats().atomic, 2u);
  // Also when in-progress state for that ident exists.
  ASSERT_FALSE(in6(v6_frag(50, 0, 8, true), t0).datagram);
  EXPECT_TRUE(in6(v6_frag(50, 0, 24, false), t0).datagram);
  EXPECT_EQ(r->fragments_held(), 1u);
}

TEST_F(ReassemblyTest, Ipv6LengthProblemsComeBackWithTheIcmpPointer) {
  const Buf odd = v6_frag(60, 0, 12, true);  // M set, 12 bytes: not a multiple of 8
  auto o = in6(odd, t0);
  EXPECT_EQ(o.dropped, FragDrop::BadLength);
  ASSERT_TRUE(o.param_problem);
  EXPECT_EQ(o.param_problem->code, wire::Ipv6ProblemCode::ErroneousField);
  EXPECT_EQ(o.param_problem->pointer, 4u);  // Payload Length
  EXPECT_EQ(to_buf(o.offending.view()), odd);

  o = in6(v6_frag(61, 65528, 16, false, true), t0);  // 8 + 8 + 65528 + 16 > 65535
  EXPECT_EQ(o.dropped, FragDrop::TooBig);
  ASSERT_TRUE(o.param_problem);
  EXPECT_EQ(o.param_problem->pointer, 48u + 2);  // Fragment Offset, behind the Hop-by-Hop

  Buf tcp_first = v6_frag(62, 0, 16, true);
  tcp_first[40] = static_cast<std::byte>(kTcp);  // 16 bytes cannot hold a TCP header
  o = in6(tcp_first, t0);
  EXPECT_EQ(o.dropped, FragDrop::IncompleteChain);
  ASSERT_TRUE(o.param_problem);
  EXPECT_EQ(o.param_problem->code, wire::Ipv6ProblemCode::IncompleteChain);
  EXPECT_EQ(o.param_problem->pointer, 0u);
  EXPECT_EQ(r->fragments_held(), 0u);
}

TEST_F(ReassemblyTest, Ipv6OverlapDiscardsEverythingRfc5722) {
  ASSERT_EQ(in6(v6_frag(70, 0, 1448, true), t0).dropped, FragDrop::None);
  EXPECT_EQ(in6(v6_frag(70, 1440, 16, true), t0).dropped, FragDrop::Overlap);
  EXPECT_EQ(in6(v6_frag(70, 1448, 8, false), t0).dropped, FragDrop::DeadDatagram);
  EXPECT_EQ(r->fragments_held(), 0u);
  EXPECT_EQ(r->stats().reassembled, 0u);
}

TEST_F(ReassemblyTest, Ipv6WalkRejectionsComeBackToTheCaller) {
  Buf b = v6_frag(80, 0, 8, true, /*hbh=*/true);
  b[42] = std::byte{0x9e};  // the HBH PadN becomes an unknown option of action 10
  b[43] = std::byte{4};
  auto o = in6(b, t0);
  EXPECT_EQ(o.dropped, FragDrop::Rejected);
  ASSERT_TRUE(o.param_problem);
  EXPECT_EQ(o.param_problem->code, wire::Ipv6ProblemCode::UnknownOption);
  EXPECT_EQ(o.param_problem->pointer, 42u);
  EXPECT_TRUE(o.offending.valid());
  // Without a Fragment header the packet is simply handed back.
  auto w = in6(v6_whole(100), t0);
  ASSERT_TRUE(w.datagram);
  EXPECT_EQ(r->stats().unfragmented, 1u);
}

TEST_F(ReassemblyTest, Ipv6FragmentInfoThatDoesNotMatchThePacketIsMalformed) {
  const Buf b = v6_frag(90, 0, 8, true);
  auto v = wire::Ipv6View::check(view(b));
  auto c = wire::walk_ext_headers(*v);
  ASSERT_TRUE(c && c->fragment);
  wire::Ipv6FragmentInfo info = *c->fragment;
  info.header_offset = 44;
  EXPECT_EQ(r->input_v6(pool.copy_of(view(b)), info, t0).dropped, FragDrop::Malformed);
  info = *c->fragment;
  info.next_header_field = 7;
  EXPECT_EQ(r->input_v6(pool.copy_of(view(b)), info, t0).dropped, FragDrop::Malformed);
  info = *c->fragment;
  info.header_offset = b.size() - 4;
  EXPECT_EQ(r->input_v6(pool.copy_of(view(b)), info, t0).dropped, FragDrop::Malformed);
  EXPECT_EQ(r->input_v6(pool.copy_of(view(b)), *c->fragment, t0).dropped, FragDrop::None);
}

TEST(FragDrop, HasStableNamesAndStatsVisitEveryField) {
  EXPECT_STREQ(to_string(FragDrop::Overlap), "overlap");
  Reassembler::Stats s;
  std::size_t n = 0;
  s.visit([&](std::string_view, std::uint64_t) { ++n; });
  EXPECT_EQ(n * sizeof(Counter), sizeof(Reassembler::Stats));
}

}  // namespace
}  // namespace tunstack::ip
