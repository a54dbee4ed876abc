// Fragmentation (stack/ip/fragment.hpp) and the seeded fragment -> shuffle -> reassemble tests.
#include "stack/ip/fragment.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "stack/ip/reassembly.hpp"
#include "stack/wire/ipv4.hpp"
#include "stack/wire/ipv6.hpp"

namespace tunstack::ip {
namespace {

using Buf = std::vector<std::byte>;
using wire::IpProto;

Bytes view(const Buf& b) { return {b.data(), b.size()}; }
Buf to_buf(Bytes b) { return Buf(b.begin(), b.end()); }

Buf random_bytes(std::mt19937& rng, std::size_t n) {
  Buf b(n);
  for (auto& x : b) x = static_cast<std::byte>(rng());
  return b;
}

/// A valid IPv4 datagram with the given options and a random payload.
Buf v4_datagram(std::mt19937& rng, std::size_t payload, const Buf& options = {}, bool df = false) {
  wire::Ipv4Repr r;
  r.src = Ip4Addr::from_host(0x0a000001);
  r.dst = Ip4Addr::from_host(0x0a000002);
  r.protocol = IpProto::Udp;
  r.ident = static_cast<std::uint16_t>(rng());
  r.dont_frag = df;
  EXPECT_TRUE(r.options.assign(view(options)));
  r.payload_len = static_cast<std::uint16_t>(payload);
  Buf b(r.header_len());
  r.emit(MutBytes{b.data(), b.size()});
  const Buf p = random_bytes(rng, payload);
  b.insert(b.end(), p.begin(), p.end());
  return b;
}

/// A valid IPv6 packet: fixed header, then `ext` (whose first next-header byte chain must end
/// in UDP; `first_nh` names the first), then a random payload.
Buf v6_packet(std::mt19937& rng, std::uint8_t first_nh, const Buf& ext, std::size_t payload) {
  wire::Ipv6Repr r;
  r.src = *Ip6Addr::parse("fd00::1");
  r.dst = *Ip6Addr::parse("fd00::2");
  r.next_header = static_cast<IpProto>(first_nh);
  r.payload_len = static_cast<std::uint16_t>(ext.size() + payload);
  Buf b(40);
  r.emit(MutBytes{b.data(), b.size()});
  b.insert(b.end(), ext.begin(), ext.end());
  const Buf p = random_bytes(rng, payload);
  b.insert(b.end(), p.begin(), p.end());
  return b;
}

std::vector<Buf> bytes_of(std::span<PacketBuf> frags) {
  std::vector<Buf> out;
  for (auto& f : frags) out.push_back(to_buf(f.view()));
  return out;
}

constexpr std::uint8_t kUdp = 17, kHbh = 0, kRoute = 43, kDest = 60;

class FragmentTest : public ::testing::Test {
 protected:
  BufPool pool;
  std::vector<PacketBuf> out = std::vector<PacketBuf>(2048);
  std::mt19937 rng{0xf4a9};
};

TEST_F(FragmentTest, Ipv4SplitsOnEightByteBoundariesAndCopiesOnlyCopiedOptions) {
  // Router Alert (copied), Record Route (not copied), NOP padding: 4 + 7 + 1 = 12 bytes.
  const Buf opts = {std::byte{0x94}, std::byte{4},    std::byte{0}, std::byte{0},
                    std::byte{7},    std::byte{7},    std::byte{4}, std::byte{0},
                    std::byte{0},    std::byte{0},    std::byte{0}, std::byte{1}};
  const Buf d = v4_datagram(rng, 3000, opts);
  auto n = fragment_v4(view(d), 1500, pool, out);
  ASSERT_TRUE(n);
  ASSERT_EQ(*n, 3u);
  std::size_t off = 0;
  for (std::size_t i = 0; i < *n; ++i) {
    auto v = wire::Ipv4View::check(out[i].view());
    ASSERT_TRUE(v);
    EXPECT_TRUE(v->checksum_ok());
    EXPECT_LE(v->total_length(), 1500);
    EXPECT_EQ(v->header_len(), i == 0 ? 32u : 24u);  // later: Router Alert only
    if (i > 0) {
      EXPECT_EQ(v->options()[0], std::byte{0x94});
    }
    EXPECT_EQ(v->frag_offset(), off);
    EXPECT_EQ(v->more_frags(), i + 1 < *n);
    if (v->more_frags()) {
      EXPECT_EQ(v->payload().size() % 8, 0u);
    }
    EXPECT_TRUE(std::equal(v->payload().begin(), v->payload().end(), d.begin() + 32 + off));
    off += v->payload().size();
  }
  EXPECT_EQ(off, 3000u);
}

TEST_F(FragmentTest, Ipv4ErrorsAndTheFitsCase) {
  const Buf small = v4_datagram(rng, 100);
  auto n = fragment_v4(view(small), 1500, pool, out);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 1u);
  EXPECT_EQ(to_buf(out[0].view()), small);

  const Buf df = v4_datagram(rng, 2000, {}, /*df=*/true);
  EXPECT_EQ(fragment_v4(view(df), 1500, pool, out).error(), FragmentError::DontFragment);
  EXPECT_TRUE(fragment_v4(view(df), 2020, pool, out));  // fits: DF does not matter

  const Buf big = v4_datagram(rng, 2000);
  EXPECT_EQ(fragment_v4(view(big), 27, pool, out).error(), FragmentError::MtuTooSmall);
  EXPECT_TRUE(fragment_v4(view(big), 28, pool, out));  // 20 + 8: one 8-byte block each
  EXPECT_EQ(fragment_v4(view(big), 1500, pool, std::span<PacketBuf>(out).first(1)).error(),
            FragmentError::TooManyFragments);
  EXPECT_EQ(fragment_v4(view(Buf(10)), 1500, pool, out).error(), FragmentError::Malformed);

  BufPool::Config pc;
  pc.max_bytes = 2 * pc.small_size;  // room for two fragments, not three
  BufPool tiny(pc);
  std::vector<PacketBuf> few(8);
  EXPECT_EQ(fragment_v4(view(v4_datagram(rng, 4000)), 1500, tiny, few).error(),
            FragmentError::NoBuffer);
  EXPECT_EQ(tiny.stats().blocks_out, 0u);  // nothing half-made is left behind
  for (auto& f : few) EXPECT_FALSE(f.valid());
}

TEST_F(FragmentTest, Ipv4RefragmentsAFragment) {
  const Buf d = v4_datagram(rng, 4000);
  ASSERT_EQ(*fragment_v4(view(d), 2020, pool, out), 2u);  // 2000 + 2000
  const std::vector<Buf> first_pass = bytes_of(std::span<PacketBuf>(out).first(2));
  // Split the first fragment (MF set) again along a smaller MTU: offsets add, MF stays.
  auto n = fragment_v4(view(first_pass[0]), 576, pool, out);
  ASSERT_TRUE(n);
  std::vector<Buf> all = bytes_of(std::span<PacketBuf>(out).first(*n));
  for (const Buf& f : all) EXPECT_TRUE(wire::Ipv4View::check(view(f))->more_frags());
  all.push_back(first_pass[1]);
  Reassembler r(pool);
  std::optional<PacketBuf> got;
  std::shuffle(all.begin(), all.end(), rng);
  for (const Buf& f : all) {
    auto o = r.input_v4(pool.copy_of(view(f)), instant_from_ns(0));
    if (o.datagram) got = std::move(o.datagram);
  }
  ASSERT_TRUE(got);
  EXPECT_EQ(to_buf(got->view()), d);
}

TEST_F(FragmentTest, Ipv6CarriesTheUnfragmentablePartInEveryFragment) {
  // HBH (-> DestOpts), DestOpts (-> Routing), Routing (-> DestOpts), DestOpts (-> UDP).
  Buf ext = {std::byte{kDest}, std::byte{0}, std::byte{1}, std::byte{4}, std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0},
             std::byte{kRoute}, std::byte{0}, std::byte{1}, std::byte{4}, std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0},
             std::byte{kDest}, std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0},
             std::byte{kUdp}, std::byte{0}, std::byte{1}, std::byte{4}, std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0}};
  const Buf p = v6_packet(rng, kHbh, ext, 3000);
  auto n = fragment_v6(view(p), 1280, 0xabcdef, pool, out);
  ASSERT_TRUE(n);
  ASSERT_EQ(*n, 3u);
  std::size_t off = 0;
  for (std::size_t i = 0; i < *n; ++i) {
    auto v = wire::Ipv6View::check(out[i].view());
    ASSERT_TRUE(v);
    EXPECT_LE(v->bytes().size(), 1280u);
    auto c = wire::walk_ext_headers(*v);
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->fragment);
    EXPECT_EQ(c->fragment->header_offset, 64u);  // after HBH, DestOpts and Routing
    EXPECT_EQ(c->fragment->next_header_field, 56u);
    EXPECT_EQ(c->fragment->header.next_header, kDest);
    EXPECT_EQ(c->fragment->header.ident, 0xabcdefu);
    EXPECT_EQ(c->fragment->header.offset, off);
    EXPECT_EQ(c->fragment->header.more, i + 1 < *n);
    // The unfragmentable part, but for Payload Length (4-5) and the last Next Header (56).
    EXPECT_TRUE(std::equal(v->bytes().begin(), v->bytes().begin() + 4, p.begin()));
    EXPECT_TRUE(std::equal(v->bytes().begin() + 6, v->bytes().begin() + 56, p.begin() + 6));
    EXPECT_EQ(v->bytes()[56], std::byte{44});
    off += c->fragment->data_len;
  }
  EXPECT_EQ(off, p.size() - 64);
}

TEST_F(FragmentTest, Ipv6ErrorsAndTheFitsCase) {
  const Buf small = v6_packet(rng, kUdp, {}, 100);
  auto n = fragment_v6(view(small), 1280, 1, pool, out);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 1u);
  EXPECT_EQ(to_buf(out[0].view()), small);  // no atomic Fragment header (RFC 8021)

  const Buf big = v6_packet(rng, kUdp, {}, 3000);
  EXPECT_EQ(fragment_v6(view(big), 55, 1, pool, out).error(), FragmentError::MtuTooSmall);
  EXPECT_TRUE(fragment_v6(view(big), 56, 1, pool, out));
  EXPECT_EQ(fragment_v6(view(big), 1280, 1, pool, std::span<PacketBuf>(out).first(2)).error(),
            FragmentError::TooManyFragments);
  ASSERT_EQ(*fragment_v6(view(big), 1280, 1, pool, out), 3u);
  const Buf frag = to_buf(out[0].view());
  EXPECT_EQ(fragment_v6(view(frag), 600, 1, pool, out).error(), FragmentError::AlreadyFragmented);
  EXPECT_EQ(fragment_v6(view(Buf(39)), 1280, 1, pool, out).error(), FragmentError::Malformed);
}

/// Feeds fragments (as byte strings) in order; returns every datagram that came out.
std::vector<Buf> feed(Reassembler& r, BufPool& pool, const std::vector<Buf>& frags, bool v6) {
  std::vector<Buf> got;
  for (const Buf& f : frags) {
    auto o = v6 ? r.input_v6(pool.copy_of(view(f)), instant_from_ns(0))
                : r.input_v4(pool.copy_of(view(f)), instant_from_ns(0));
    EXPECT_FALSE(o.param_problem);
    if (o.datagram) got.push_back(to_buf(o.datagram->view()));
  }
  return got;
}

/// Reassembler limits roomy enough for 1600 tiny fragments of one 64 KiB datagram.
Reassembler::Config roomy() {
  Reassembler::Config cfg;
  cfg.max_fragments = 8192;
  cfg.max_fragments_per_datagram = 4096;
  cfg.max_bytes = 256u << 20;
  cfg.max_bytes_per_source = 256u << 20;
  return cfg;
}

std::size_t random_mtu(std::mt19937& rng, std::size_t lo) {
  switch (rng() % 3) {
    case 0: return lo + rng() % 600;         // tiny: hundreds to a thousand+ fragments
    case 1: return 1280 + rng() % 221;       // typical links
    default: return 1500 + rng() % 7500;     // jumbo frames
  }
}

/// Shuffles `frags` and duplicates a random tenth of them at random places.
std::vector<Buf> shuffle_with_duplicates(std::mt19937& rng, std::vector<Buf> frags) {
  const std::size_t n = frags.size();
  for (std::size_t i = 0; i < n; ++i)
    if (rng() % 10 == 0) frags.push_back(frags[i]);
  std::shuffle(frags.begin(), frags.end(), rng);
  return frags;
}

TEST_F(FragmentTest, RandomIpv4FragmentShuffleDuplicateReassemble) {
  Reassembler r(pool, roomy());
  for (int iter = 0; iter < 300; ++iter) {
    Buf opts;
    if (rng() % 2) opts = {std::byte{0x94}, std::byte{4}, std::byte{0}, std::byte{0},   // copied
                           std::byte{0x44}, std::byte{4}, std::byte{5}, std::byte{0}};  // not
    const std::size_t payload = 1 + rng() % (65000 - 20 - opts.size());
    const Buf d = v4_datagram(rng, payload, opts);
    const std::size_t mtu = random_mtu(rng, 68);
    auto n = fragment_v4(view(d), mtu, pool, out);
    ASSERT_TRUE(n) << iter;
    const auto frags = shuffle_with_duplicates(rng, bytes_of(std::span<PacketBuf>(out).first(*n)));
    const auto got = feed(r, pool, frags, false);
    ASSERT_GE(got.size(), 1u) << iter << " mtu " << mtu << " payload " << payload;
    for (const Buf& g : got) ASSERT_EQ(g, d) << iter;  // exactly the original bytes
    r.poll(instant_from_ns(0) + std::chrono::hours(1));  // drop duplicates that arrived late
  }
  EXPECT_GT(r.stats().duplicate, 0u);
  EXPECT_EQ(r.stats().overlap + r.stats().inconsistent, 0u);
}

/// An IPv6 extension chain to put in front of the payload, ending in UDP; returns its first NH.
std::uint8_t random_ext(std::mt19937& rng, Buf& ext) {
  ext.clear();
  const auto opts_header = [](std::uint8_t nh) {
    return Buf{std::byte{nh}, std::byte{0}, std::byte{1}, std::byte{4},
               std::byte{0},  std::byte{0}, std::byte{0}, std::byte{0}};
  };
  const auto routing_idle = [](std::uint8_t nh) {  // type 0, segments_left 0: ignored
    return Buf{std::byte{nh}, std::byte{0}, std::byte{0}, std::byte{0},
               std::byte{0},  std::byte{0}, std::byte{0}, std::byte{0}};
  };
  std::vector<std::uint8_t> kinds;
  if (rng() % 2) kinds.push_back(kHbh);
  if (rng() % 2) kinds.push_back(kRoute);
  if (rng() % 2) kinds.push_back(kDest);
  for (std::size_t i = 0; i < kinds.size(); ++i) {
    const std::uint8_t nh = i + 1 < kinds.size() ? kinds[i + 1] : kUdp;
    const Buf h = kinds[i] == kRoute ? routing_idle(nh) : opts_header(nh);
    ext.insert(ext.end(), h.begin(), h.end());
  }
  return kinds.empty() ? kUdp : kinds[0];
}

TEST_F(FragmentTest, RandomIpv6FragmentShuffleDuplicateReassemble) {
  Reassembler r(pool, roomy());
  Buf ext;
  for (int iter = 0; iter < 300; ++iter) {
    const std::uint8_t first = random_ext(rng, ext);
    const std::size_t payload = 8 + rng() % (65000 - ext.size());
    const Buf p = v6_packet(rng, first, ext, payload);
    const std::size_t mtu = random_mtu(rng, 40 + ext.size() + 8 + 48);  // <= 1400 fragments
    auto n = fragment_v6(view(p), mtu, static_cast<std::uint32_t>(rng()), pool, out);
    ASSERT_TRUE(n) << iter;
    const auto frags = shuffle_with_duplicates(rng, bytes_of(std::span<PacketBuf>(out).first(*n)));
    const auto got = feed(r, pool, frags, true);
    ASSERT_GE(got.size(), 1u) << iter << " mtu " << mtu << " payload " << payload;
    for (const Buf& g : got) ASSERT_EQ(g, p) << iter;
    r.poll(instant_from_ns(0) + std::chrono::hours(1));
  }
  EXPECT_GT(r.stats().duplicate, 0u);
  EXPECT_EQ(r.stats().overlap + r.stats().inconsistent, 0u);
}

/// Splits the same datagram along two MTUs and slips a fragment of the second split, which does
/// not coincide with any fragment of the first, into the first's stream before its last piece.
/// Policy (both families): the datagram must never come out.
void overlapping_splits(std::mt19937& rng, BufPool& pool, std::vector<PacketBuf>& out, bool v6) {
  Reassembler r(pool, roomy());
  int checked = 0;
  for (int iter = 0; iter < 200; ++iter) {
    Buf ext;
    const std::size_t payload = 3000 + rng() % 60000;
    const Buf d = v6 ? v6_packet(rng, random_ext(rng, ext), ext, payload) : v4_datagram(rng, payload);
    const std::uint32_t ident = static_cast<std::uint32_t>(rng());
    auto split = [&](std::size_t mtu) {
      auto n = v6 ? fragment_v6(view(d), mtu, ident, pool, out) : fragment_v4(view(d), mtu, pool, out);
      EXPECT_TRUE(n);
      return bytes_of(std::span<PacketBuf>(out).first(n ? *n : 0));
    };
    const std::size_t lo = v6 ? 40 + ext.size() + 8 + 48 : 68;
    std::vector<Buf> a = split(random_mtu(rng, lo));
    const std::vector<Buf> b = split(random_mtu(rng, lo));
    std::vector<Buf> strangers;
    for (const Buf& x : b)
      if (std::find(a.begin(), a.end(), x) == a.end()) strangers.push_back(x);
    // Skip when the splits coincide, or one is the whole datagram (not a fragment at all).
    if (strangers.empty() || a.size() < 2 || b.size() < 2) continue;
    std::shuffle(a.begin(), a.end(), rng);
    const std::size_t at = rng() % a.size();  // before the last piece of a
    a.insert(a.begin() + static_cast<std::ptrdiff_t>(at), strangers[rng() % strangers.size()]);
    const auto before = r.stats().overlap + r.stats().inconsistent;
    const auto got = feed(r, pool, a, v6);
    EXPECT_TRUE(got.empty()) << iter;
    EXPECT_GT(r.stats().overlap + r.stats().inconsistent, before) << iter;
    r.poll(instant_from_ns(0) + std::chrono::hours(1));
    ++checked;
  }
  EXPECT_GT(checked, 100);
  EXPECT_EQ(r.stats().reassembled, 0u);
}

TEST_F(FragmentTest, RandomOverlapsNeverProduceAnIpv4Datagram) { overlapping_splits(rng, pool, out, false); }
TEST_F(FragmentTest, RandomOverlapsNeverProduceAnIpv6Datagram) { overlapping_splits(rng, pool, out, true); }

}  // namespace
}  // namespace tunstack::ip
