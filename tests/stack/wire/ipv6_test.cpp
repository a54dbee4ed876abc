#include "stack/wire/ipv6.hpp"
#include "tests/support/hex.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string_view>
#include <vector>

namespace tunstack::wire {
namespace {

using testing::Buf;
using testing::hex;

Bytes view(const Buf& b) { return {b.data(), b.size()}; }

Buf cat(std::initializer_list<Buf> parts) {
  Buf out;
  for (const Buf& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

/// A packet: fixed header naming `nh`, then `rest` (extension headers and payload).
Buf packet(std::uint8_t nh, const Buf& rest, std::string_view dst = "fd00::2") {
  Ipv6Repr r;
  r.src = *Ip6Addr::parse("fd00::1");
  r.dst = *Ip6Addr::parse(dst);
  r.next_header = static_cast<IpProto>(nh);
  r.payload_len = static_cast<std::uint16_t>(rest.size());
  Buf b(kIpv6HeaderLen);
  r.emit(MutBytes{b.data(), b.size()});
  b.insert(b.end(), rest.begin(), rest.end());
  return b;
}

/// A Hop-by-Hop or Destination Options header carrying `options`, padded to 8 bytes.
Buf options_header(std::uint8_t nh, const Buf& options) {
  Buf h{static_cast<std::byte>(nh), std::byte{0}};
  h.insert(h.end(), options.begin(), options.end());
  const std::size_t pad = (8 - h.size() % 8) % 8;
  if (pad == 1) h.push_back(std::byte{0});  // Pad1
  if (pad >= 2) {
    h.push_back(std::byte{1});  // PadN
    h.push_back(static_cast<std::byte>(pad - 2));
    h.resize(h.size() + pad - 2, std::byte{0});
  }
  h[1] = static_cast<std::byte>(h.size() / 8 - 1);
  return h;
}

Buf routing_header(std::uint8_t nh, std::uint8_t type, std::uint8_t segments_left) {
  Buf h(24, std::byte{0});  // one 16-byte address: Hdr Ext Len 2
  h[0] = static_cast<std::byte>(nh);
  h[1] = std::byte{2};
  h[2] = static_cast<std::byte>(type);
  h[3] = static_cast<std::byte>(segments_left);
  return h;
}

Buf fragment_header(std::uint8_t nh, std::uint16_t offset, bool more, std::uint32_t ident) {
  Buf h(8);
  Ipv6FragHeader{nh, offset, more, ident}.emit(MutBytes{h.data(), h.size()});
  return h;
}

const Buf kUdp = hex("30 39 00 35 00 0c 00 00 61 62 63 64");  // 12-byte UDP datagram

constexpr std::uint8_t kHbh = 0, kUdpNh = 17, kTcpNh = 6, kRoute = 43, kFrag = 44, kEsp = 50,
                       kAh = 51, kIcmp6 = 58, kNoNext = 59, kDest = 60;

Ipv6Chain walk_ok(const Buf& b, const Ipv6WalkLimits& limits = {}) {
  auto v = Ipv6View::check(view(b));
  EXPECT_TRUE(v);
  auto c = walk_ext_headers(*v, limits);
  EXPECT_TRUE(c);
  return c ? *c : Ipv6Chain{};
}

ParseError walk_error(const Buf& b, const Ipv6WalkLimits& limits = {}) {
  auto v = Ipv6View::check(view(b));
  EXPECT_TRUE(v);
  auto c = walk_ext_headers(*v, limits);
  EXPECT_FALSE(c);
  return c ? ParseError::BadField : c.error();
}

TEST(Ipv6View, ReadsAKnownHeader) {
  const Buf b = hex(
      "6a b1 23 45 00 08 11 40"
      "fd 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01"
      "fd 00 00 00 00 00 00 00 00 00 00 00 00 00 00 02"
      "30 39 00 35 00 08 00 00");
  auto v = Ipv6View::check(view(b));
  ASSERT_TRUE(v);
  EXPECT_EQ(v->version(), 6);
  EXPECT_EQ(v->traffic_class(), 0xab);
  EXPECT_EQ(v->flow_label(), 0x12345u);
  EXPECT_EQ(v->payload_length(), 8);
  EXPECT_EQ(v->next_header(), IpProto::Udp);
  EXPECT_EQ(v->next_header_raw(), 17);
  EXPECT_EQ(v->hop_limit(), 64);
  EXPECT_EQ(v->src(), *Ip6Addr::parse("fd00::1"));
  EXPECT_EQ(v->dst(), *Ip6Addr::parse("fd00::2"));
  EXPECT_EQ(v->payload().size(), 8u);
  EXPECT_EQ(v->header().size(), 40u);
  auto r = Ipv6Repr::parse(*v);
  ASSERT_TRUE(r);
  Buf out(40);
  r->emit(MutBytes{out.data(), out.size()});
  EXPECT_TRUE(std::equal(out.begin(), out.end(), b.begin()));
}

TEST(Ipv6View, RejectsEveryTruncationBadVersionAndJumbograms) {
  const Buf b = packet(kUdpNh, kUdp);
  for (std::size_t n = 0; n < b.size(); ++n) {
    auto v = Ipv6View::check(Bytes{b.data(), n});
    ASSERT_FALSE(v) << n;
    EXPECT_EQ(v.error(), ParseError::Truncated) << n;
  }
  Buf bad = b;
  bad[0] = std::byte{0x40};
  EXPECT_EQ(Ipv6View::check(view(bad)).error(), ParseError::BadVersion);
  // Payload length 0 with Hop-by-Hop: a jumbogram (RFC 2675), refused with a clear error.
  Buf jumbo = packet(kHbh, cat({options_header(kUdpNh, hex("c2 04 00 01 00 00")), kUdp}));
  store_be16(jumbo.data() + 4, 0);
  EXPECT_EQ(Ipv6View::check(view(jumbo)).error(), ParseError::BadTotalLength);
  // Payload length 0 without Hop-by-Hop is just an empty packet.
  Buf empty = packet(kNoNext, {});
  EXPECT_TRUE(Ipv6View::check(view(empty)));
}

TEST(Ipv6View, CutsTrailingBytesAtPayloadLength) {
  Buf b = packet(kUdpNh, kUdp);
  b.resize(b.size() + 9, std::byte{0xee});
  auto v = Ipv6View::check(view(b));
  ASSERT_TRUE(v);
  EXPECT_EQ(v->bytes().size(), 40u + kUdp.size());
  EXPECT_EQ(v->payload().size(), kUdp.size());
}

TEST(Ipv6Repr, RandomRoundTrips) {
  std::mt19937 rng(0x6e6);
  for (int iter = 0; iter < 5000; ++iter) {
    Ipv6Repr r;
    for (auto& x : r.src.b) x = static_cast<std::uint8_t>(rng());
    for (auto& x : r.dst.b) x = static_cast<std::uint8_t>(rng());
    r.next_header = static_cast<IpProto>(rng());
    r.hop_limit = static_cast<std::uint8_t>(rng());
    r.traffic_class = static_cast<std::uint8_t>(rng());
    r.flow_label = rng() & 0xfffff;
    r.payload_len = static_cast<std::uint16_t>(1 + rng() % 300);  // non-zero: not a jumbogram
    Buf b(40 + r.payload_len);
    r.emit(MutBytes{b.data(), b.size()});
    auto v = Ipv6View::check(view(b));
    ASSERT_TRUE(v);
    auto back = Ipv6Repr::parse(*v);
    ASSERT_TRUE(back);
    ASSERT_EQ(*back, r);
  }
}

TEST(Ipv6FragHeader, ParsesEmitsAndIgnoresReservedBits) {
  const Buf h = hex("11 ff 05 a9 de ad be ef");  // reserved byte and bits 1-2 set
  auto f = Ipv6FragHeader::parse(view(h));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->next_header, 17);
  EXPECT_EQ(f->offset, 0x05a8);
  EXPECT_TRUE(f->more);
  EXPECT_EQ(f->ident, 0xdeadbeefu);
  EXPECT_FALSE(f->atomic());
  Buf out(8);
  f->emit(MutBytes{out.data(), out.size()});
  EXPECT_EQ(out, hex("11 00 05 a9 de ad be ef"));
  EXPECT_EQ(Ipv6FragHeader::parse(Bytes{h.data(), 7}).error(), ParseError::Truncated);
  EXPECT_TRUE((Ipv6FragHeader{6, 0, false, 1}.atomic()));
}

TEST(Ipv6Walk, PlainUpperLayer) {
  const Buf b = packet(kUdpNh, kUdp);
  const Ipv6Chain c = walk_ok(b);
  EXPECT_EQ(c.upper(), IpProto::Udp);
  EXPECT_EQ(c.upper_offset, 40u);
  EXPECT_EQ(c.upper_len, kUdp.size());
  EXPECT_EQ(c.next_header_field, 6u);
  EXPECT_EQ(c.ext_headers, 0);
  EXPECT_FALSE(c.fragment);
  EXPECT_EQ(c.verdict, Ipv6Verdict::Accept);
}

TEST(Ipv6Walk, WalksHopByHopDestOptsAndAnIdleRoutingHeader) {
  // HBH (Router Alert + Pad1s), DestOpts (PadN), Routing type 0 with segments_left 0, UDP.
  const Buf hbh = options_header(kDest, hex("05 02 00 00 00 00"));
  const Buf dest = options_header(kRoute, hex("01 02 00 00"));
  const Buf rt = routing_header(kUdpNh, 0, 0);
  const Buf b = packet(kHbh, cat({hbh, dest, rt, kUdp}));
  const Ipv6Chain c = walk_ok(b);
  EXPECT_EQ(c.verdict, Ipv6Verdict::Accept);
  EXPECT_EQ(c.upper(), IpProto::Udp);
  EXPECT_EQ(c.upper_offset, 40 + hbh.size() + dest.size() + rt.size());
  EXPECT_EQ(c.upper_len, kUdp.size());
  EXPECT_EQ(c.next_header_field, 40 + hbh.size() + dest.size());
  EXPECT_EQ(c.ext_headers, 3);
}

TEST(Ipv6Walk, HopByHopAnywhereButFirstIsParameterProblemCode1) {
  const Buf dest = options_header(kHbh, {});
  const Buf b = packet(kDest, cat({dest, options_header(kUdpNh, {}), kUdp}));
  const Ipv6Chain c = walk_ok(b);
  EXPECT_EQ(c.verdict, Ipv6Verdict::DiscardIcmp);
  EXPECT_EQ(c.problem.code, Ipv6ProblemCode::UnknownNextHeader);
  EXPECT_EQ(c.problem.pointer, 40u);  // the Destination Options' Next Header byte
}

TEST(Ipv6Walk, UnknownOptionsActByTheirHighBits) {
  // The option sits after a PadN so that its offset is not trivial: 40 + 2 + 3 = 45.
  struct Case {
    std::uint8_t type;
    std::string_view dst;
    Ipv6Verdict verdict;
  };
  for (const Case& k : {Case{0x1e, "fd00::2", Ipv6Verdict::Accept},
                        Case{0x5e, "fd00::2", Ipv6Verdict::Discard},
                        Case{0x9e, "fd00::2", Ipv6Verdict::DiscardIcmp},
                        Case{0x9e, "ff02::1", Ipv6Verdict::DiscardIcmp},
                        Case{0xde, "fd00::2", Ipv6Verdict::DiscardIcmp},
                        Case{0xde, "ff02::1", Ipv6Verdict::Discard}}) {
    for (std::uint8_t first : {kHbh, kDest}) {
      Buf opts = hex("01 01 00");
      opts.push_back(static_cast<std::byte>(k.type));
      opts.push_back(std::byte{2});
      opts.push_back(std::byte{0xaa});
      opts.push_back(std::byte{0xbb});
      const Buf b = packet(first, cat({options_header(kUdpNh, opts), kUdp}), k.dst);
      const Ipv6Chain c = walk_ok(b);
      EXPECT_EQ(c.verdict, k.verdict) << int{k.type} << " " << k.dst;
      if (c.verdict == Ipv6Verdict::DiscardIcmp) {
        EXPECT_EQ(c.problem.code, Ipv6ProblemCode::UnknownOption);
        EXPECT_EQ(c.problem.pointer, 45u);
      }
      if (c.verdict == Ipv6Verdict::Accept) {
        EXPECT_EQ(c.upper(), IpProto::Udp);
      }
    }
  }
}

TEST(Ipv6Walk, MalformedOptionsAreBadOption) {
  for (std::string_view bad : {"01 09 00 00 00 00",  // PadN runs past the header
                               "00 00 00 00 00 1e"}) {  // last byte: a type without a length
    Buf h = hex("11 00");
    const Buf o = hex(bad);
    h.insert(h.end(), o.begin(), o.end());
    const Buf b = packet(kDest, cat({h, kUdp}));
    EXPECT_EQ(walk_error(b), ParseError::BadOption) << bad;
  }
}

TEST(Ipv6Walk, ActiveRoutingHeaderIsParameterProblemCode0) {
  for (int type : {0, 2, 3, 4, 253}) {
    const Buf dest = options_header(kRoute, {});
    const Buf b = packet(kDest, cat({dest, routing_header(kUdpNh, static_cast<std::uint8_t>(type), 1), kUdp}));
    const Ipv6Chain c = walk_ok(b);
    EXPECT_EQ(c.verdict, Ipv6Verdict::DiscardIcmp) << type;
    EXPECT_EQ(c.problem.code, Ipv6ProblemCode::ErroneousField);
    EXPECT_EQ(c.problem.pointer, 40 + dest.size() + 2);  // the Routing Type byte
  }
}

TEST(Ipv6Walk, StopsAtANonAtomicFragment) {
  // Kernel-like first fragment of a UDP datagram: Frag header 11 00 00 01 + ident, UDP header.
  const Buf hbh = options_header(kFrag, {});
  const Buf b = packet(kHbh, cat({hbh, hex("11 00 00 01 ab cd ef 01"), kUdp, Buf(4)}));
  const Ipv6Chain c = walk_ok(b);
  EXPECT_EQ(c.verdict, Ipv6Verdict::Accept);
  EXPECT_EQ(c.upper(), IpProto::Ipv6Frag);
  ASSERT_TRUE(c.fragment);
  EXPECT_EQ(c.fragment->header_offset, 48u);
  EXPECT_EQ(c.fragment->data_offset, 56u);
  EXPECT_EQ(c.fragment->data_len, 16u);
  EXPECT_EQ(c.fragment->next_header_field, 40u);
  EXPECT_EQ(c.fragment->header.next_header, kUdpNh);
  EXPECT_EQ(c.fragment->header.offset, 0);
  EXPECT_TRUE(c.fragment->header.more);
  EXPECT_EQ(c.fragment->header.ident, 0xabcdef01u);
  EXPECT_EQ(c.upper_offset, 56u);

  const Buf later = packet(kFrag, cat({fragment_header(kUdpNh, 1448, false, 7), Buf(24)}));
  const Ipv6Chain c2 = walk_ok(later);
  ASSERT_TRUE(c2.fragment);
  EXPECT_EQ(c2.fragment->header.offset, 1448);
  EXPECT_FALSE(c2.fragment->header.more);
  EXPECT_EQ(c2.fragment->next_header_field, 6u);
  EXPECT_EQ(c2.upper_offset, 48u);
}

TEST(Ipv6Walk, WalksThroughAnAtomicFragment) {
  const Buf b = packet(kFrag, cat({fragment_header(kDest, 0, false, 9), options_header(kUdpNh, {}), kUdp}));
  const Ipv6Chain c = walk_ok(b);
  ASSERT_TRUE(c.fragment);
  EXPECT_TRUE(c.fragment->header.atomic());
  EXPECT_EQ(c.upper(), IpProto::Udp);
  EXPECT_EQ(c.upper_offset, 56u);
  EXPECT_EQ(c.next_header_field, 48u);
  // A second Fragment header after an atomic one is malformed.
  const Buf two = packet(kFrag, cat({fragment_header(kFrag, 0, false, 9),
                                     fragment_header(kUdpNh, 0, true, 9), kUdp}));
  EXPECT_EQ(walk_error(two), ParseError::BadExtHeader);
}

TEST(Ipv6Walk, StopsAtEspAhNoNextAndUnknownValues) {
  for (std::uint8_t nh : {kEsp, kAh, kNoNext, kIcmp6, kTcpNh, std::uint8_t{253}, std::uint8_t{143}}) {
    const Buf dest = options_header(nh, {});
    const Buf b = packet(kDest, cat({dest, Buf(16)}));
    const Ipv6Chain c = walk_ok(b);
    EXPECT_EQ(c.upper_protocol, nh);
    EXPECT_EQ(c.upper_offset, 48u);
    EXPECT_EQ(c.upper_len, 16u);
    EXPECT_EQ(c.next_header_field, 40u);  // the pointer for Parameter Problem code 1
    EXPECT_EQ(c.verdict, Ipv6Verdict::Accept);
  }
}

TEST(Ipv6Walk, CapsTheChainLength) {
  Buf rest = kUdp;
  std::uint8_t nh = kUdpNh;
  for (int i = 0; i < 8; ++i) {
    rest = cat({options_header(nh, {}), rest});
    nh = kDest;
  }
  const Buf eight = packet(kDest, rest);
  EXPECT_EQ(walk_ok(eight).ext_headers, 8);
  const Buf nine = packet(kDest, cat({options_header(kDest, {}), rest}));
  EXPECT_EQ(walk_error(nine), ParseError::ExtChainTooLong);
  EXPECT_EQ(walk_ok(nine, Ipv6WalkLimits{9}).upper(), IpProto::Udp);
}

TEST(Ipv6Walk, ExtensionHeaderPastThePacketIsTruncated) {
  Buf dest = options_header(kUdpNh, {});
  dest[1] = std::byte{3};  // claims 32 bytes
  EXPECT_EQ(walk_error(packet(kDest, cat({dest, Buf(8)}))), ParseError::Truncated);
  EXPECT_EQ(walk_error(packet(kDest, hex("11 00 01 00"))), ParseError::Truncated);
  EXPECT_EQ(walk_error(packet(kFrag, hex("11 00 00 01 00 00"))), ParseError::Truncated);
  EXPECT_EQ(walk_error(packet(kRoute, hex("11 00 00 00"))), ParseError::Truncated);
}

TEST(Ipv6FirstFragment, ChecksTheWholeChainIsPresent) {
  EXPECT_TRUE(first_fragment_chain_complete(view(kUdp), kUdpNh));
  EXPECT_FALSE(first_fragment_chain_complete(view(hex("30 39 00 35 00 0c 00")), kUdpNh));
  EXPECT_FALSE(first_fragment_chain_complete(view(Buf(19)), kTcpNh));
  EXPECT_TRUE(first_fragment_chain_complete(view(Buf(20)), kTcpNh));
  const Buf dest = options_header(kUdpNh, {});
  EXPECT_TRUE(first_fragment_chain_complete(view(cat({dest, kUdp})), kDest));
  EXPECT_FALSE(first_fragment_chain_complete(view(cat({dest, Buf(4)})), kDest));
  EXPECT_FALSE(first_fragment_chain_complete(view(Buf(dest.begin(), dest.begin() + 5)), kDest));
  // AH counts its length in 4-byte units: 12-byte AH (len field 1) then UDP.
  const Buf ah = hex("11 01 00 00 00 00 00 01 00 00 00 02");
  EXPECT_TRUE(first_fragment_chain_complete(view(cat({ah, kUdp})), kAh));
  EXPECT_FALSE(first_fragment_chain_complete(view(ah), kAh));
  EXPECT_TRUE(first_fragment_chain_complete(view(Buf{}), kNoNext));
}

TEST(Ipv6Unfragmentable, EndsAfterHopByHopAndTheLastRoutingHeader) {
  const Buf hbh = options_header(kDest, {});
  const Buf dest1 = options_header(kRoute, {});
  const Buf rt = routing_header(kDest, 0, 0);
  const Buf dest2 = options_header(kUdpNh, {});
  auto find = [](const Buf& b) { return find_unfragmentable(*Ipv6View::check(view(b))); };

  auto u = find(packet(kUdpNh, kUdp));
  ASSERT_TRUE(u);
  EXPECT_EQ(u->length, 40u);
  EXPECT_EQ(u->next_header_field, 6u);

  u = find(packet(kHbh, cat({options_header(kUdpNh, {}), kUdp})));
  ASSERT_TRUE(u);
  EXPECT_EQ(u->length, 48u);
  EXPECT_EQ(u->next_header_field, 40u);

  u = find(packet(kHbh, cat({hbh, dest1, rt, dest2, kUdp})));
  ASSERT_TRUE(u);
  EXPECT_EQ(u->length, 40 + hbh.size() + dest1.size() + rt.size());
  EXPECT_EQ(u->next_header_field, 40 + hbh.size() + dest1.size());

  u = find(packet(kDest, cat({dest2, kUdp})));  // DestOpts without Routing: fragmentable
  ASSERT_TRUE(u);
  EXPECT_EQ(u->length, 40u);

  EXPECT_EQ(find(packet(kFrag, cat({fragment_header(kUdpNh, 0, true, 1), kUdp}))).error(),
            ParseError::BadFragment);
  EXPECT_EQ(find(packet(kDest, cat({options_header(kHbh, {}), options_header(kUdpNh, {})}))).error(),
            ParseError::BadExtHeader);
}

}  // namespace
}  // namespace tunstack::wire
