#include "stack/wire/icmpv6.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "stack/core/packet_buf.hpp"
#include "tests/support/checksum_reference.hpp"
#include "tests/support/hex.hpp"

namespace tunstack::wire {
namespace {

using testing::Buf;
using testing::hex;

const Ip6Addr kA = *Ip6Addr::parse("fd00::1");
const Ip6Addr kB = *Ip6Addr::parse("fd00::2");

/// RFC 1071 over the IPv6 pseudo-header (next header 58) and the message, the slow way and
/// independent of the checksum module: 0 when the checksum is right.
std::uint16_t ref_residue(const Ip6Addr& src, const Ip6Addr& dst, const Buf& m) {
  Buf all(src.b.size() + dst.b.size());
  std::memcpy(all.data(), src.b.data(), 16);
  std::memcpy(all.data() + 16, dst.b.data(), 16);
  const auto len = static_cast<std::uint32_t>(m.size());
  for (int sh = 24; sh >= 0; sh -= 8) all.push_back(static_cast<std::byte>(len >> sh));
  all.insert(all.end(), {std::byte{0}, std::byte{0}, std::byte{0}, std::byte{58}});
  all.insert(all.end(), m.begin(), m.end());
  return checksum::test::textbook_checksum(all);
}

void fix_checksum(Buf& m, const Ip6Addr& src = kA, const Ip6Addr& dst = kB) {
  m[2] = m[3] = std::byte{0};
  const std::uint16_t c = ref_residue(src, dst, m);
  m[2] = static_cast<std::byte>(c >> 8);
  m[3] = static_cast<std::byte>(c);
}

/// A made-up invoking packet: an IPv6 header (UDP, fd00::2 -> fd00::1) and `len - 40` bytes.
Buf offending_packet(std::size_t len) {
  Buf p = hex("60000000 0000 11 40 fd000000000000000000000000000002 fd000000000000000000000000000001");
  p[4] = static_cast<std::byte>((len - 40) >> 8);
  p[5] = static_cast<std::byte>(len - 40);
  while (p.size() < len) p.push_back(static_cast<std::byte>(p.size() * 5));
  p.resize(len);
  return p;
}

Buf emit_to_vec(const Icmpv6Repr& r, const Ip6Addr& src = kA, const Ip6Addr& dst = kB) {
  Buf out(r.size());
  r.emit(out, src, dst);
  return out;
}

Result<Icmpv6Repr, ParseError> parse_bytes(const Buf& b, const Ip6Addr& src = kA,
                                           const Ip6Addr& dst = kB) {
  auto v = Icmpv6View::check(b);
  if (!v) return Err{v.error()};
  return Icmpv6Repr::parse(*v, src, dst);
}

// Echo request fd00::1 -> fd00::2, id 0x1234, seq 1, "pingdata", and the reply fd00::2 ->
// fd00::1; checksums computed independently (Python).
const Buf kEchoRequest = hex("80 00 bbe7 1234 0001 70696e6764617461");
const Buf kEchoReply = hex("81 00 bae7 1234 0001 70696e6764617461");

TEST(Icmpv6, EchoKnownVectorsAndReply) {
  auto v = Icmpv6View::check(kEchoRequest);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->type(), 128);
  EXPECT_FALSE(v->is_error());
  EXPECT_TRUE(v->verify_checksum(kA, kB));
  EXPECT_FALSE(v->verify_checksum(kA, *Ip6Addr::parse("fd00::4")));
  EXPECT_FALSE(v->verify_checksum(kA, *Ip6Addr::parse("fd00::3")));
  auto r = Icmpv6Repr::parse(*v, kA, kB);
  ASSERT_TRUE(r);
  const auto& e = std::get<Icmpv6Echo>(r->message);
  EXPECT_FALSE(e.reply);
  EXPECT_EQ(e.id, 0x1234);
  EXPECT_EQ(e.seq, 1);
  EXPECT_EQ(e.data.size(), 8u);
  EXPECT_FALSE(r->is_error());
  EXPECT_EQ(emit_to_vec(*r), kEchoRequest);
  EXPECT_EQ(emit_to_vec(Icmpv6Repr::echo_reply(e), kB, kA), kEchoReply);
  EXPECT_EQ(Icmpv6Repr::parse(*v, kA, *Ip6Addr::parse("fd00::3")).error(), ParseError::BadChecksum);
}

TEST(Icmpv6, TruncatedBadChecksumAndUnparsedTypes) {
  for (std::size_t n = 0; n < kIcmpv6HeaderLen; ++n)
    EXPECT_EQ(Icmpv6View::check(Bytes{kEchoRequest.data(), n}).error(), ParseError::Truncated) << n;
  for (std::size_t i = 0; i < kEchoRequest.size(); ++i) {
    Buf bad = kEchoRequest;
    bad[i] ^= std::byte{0x02};
    EXPECT_EQ(parse_bytes(bad).error(), ParseError::BadChecksum) << i;
  }
  // Router advertisement, redirect, MLD, an unassigned error type: not parsed.
  for (int type : {134, 137, 130, 143, 100, 5}) {
    Buf m(64);
    m[0] = static_cast<std::byte>(type);
    fix_checksum(m);
    EXPECT_EQ(parse_bytes(m).error(), ParseError::BadType) << int{type};
  }
}

TEST(Icmpv6, ErrorMessagesRoundTrip) {
  const Buf off = offending_packet(120);
  for (std::uint8_t code = 0; code <= 6; ++code) {
    const auto c = static_cast<Icmpv6Unreach>(code);
    Buf m = emit_to_vec(Icmpv6Repr::dest_unreachable(c, off));
    EXPECT_EQ(ref_residue(kA, kB, m), 0);
    EXPECT_EQ(Buf(m.begin(), m.begin() + 2), (Buf{std::byte{1}, static_cast<std::byte>(code)}));
    auto back = parse_bytes(m);
    ASSERT_TRUE(back) << int{code};
    EXPECT_EQ(std::get<Icmpv6DestUnreachable>(back->message).code, c);
    EXPECT_TRUE(back->is_error());
  }
  Buf ptb = emit_to_vec(Icmpv6Repr::packet_too_big(1280, off));
  EXPECT_EQ(Buf(ptb.begin(), ptb.begin() + 2), hex("0200"));
  EXPECT_EQ(Buf(ptb.begin() + 4, ptb.begin() + 8), hex("00000500"));  // 32-bit MTU
  auto p = parse_bytes(ptb);
  ASSERT_TRUE(p);
  EXPECT_EQ(std::get<Icmpv6PacketTooBig>(p->message).mtu, 1280u);
  EXPECT_EQ(std::get<Icmpv6PacketTooBig>(p->message).invoking.size(), 120u);

  for (auto code : {Icmpv6TimeExceededCode::HopLimit, Icmpv6TimeExceededCode::FragReassembly}) {
    auto t = parse_bytes(emit_to_vec(Icmpv6Repr::time_exceeded(code, off)));
    ASSERT_TRUE(t);
    EXPECT_EQ(std::get<Icmpv6TimeExceeded>(t->message).code, code);
  }
  Buf pp = emit_to_vec(Icmpv6Repr::param_problem(Icmpv6ParamCode::UnrecognizedNextHeader, 0x01020304, off));
  EXPECT_EQ(Buf(pp.begin() + 4, pp.begin() + 8), hex("01020304"));  // 32-bit pointer
  auto q = parse_bytes(pp);
  ASSERT_TRUE(q);
  const auto& prob = std::get<Icmpv6ParamProblem>(q->message);
  EXPECT_EQ(prob.code, Icmpv6ParamCode::UnrecognizedNextHeader);
  EXPECT_EQ(prob.pointer, 0x01020304u);
}

TEST(Icmpv6, ErrorsMustQuoteTheIpv6Header) {
  const Buf off = offending_packet(kIcmpv6MinQuote);
  for (std::size_t len = 0; len <= kIcmpv6MinQuote; ++len) {
    const Icmpv6Repr r{Icmpv6DestUnreachable{Icmpv6Unreach::Port, Bytes{off.data(), len}}};
    auto back = parse_bytes(emit_to_vec(r));
    if (len < kIcmpv6MinQuote) {
      EXPECT_EQ(back.error(), ParseError::Truncated) << len;
    } else {
      EXPECT_TRUE(back);
    }
  }
}

TEST(Icmpv6, ErrorQuoteIsCutToFitTheMinimumMtu) {
  static_assert(kIcmpv6MaxQuote == 1232);
  for (std::size_t len : {48u, 1231u, 1232u, 1233u, 1500u, 9000u}) {
    const Buf off = offending_packet(len);
    const Icmpv6Repr r = Icmpv6Repr::packet_too_big(1280, off);
    EXPECT_EQ(r.body().size(), std::min<std::size_t>(len, 1232)) << len;
    EXPECT_EQ(r.body().data(), off.data());  // borrowed, not copied
    EXPECT_LE(40 + r.size(), kIcmpv6ErrorMaxPacket);
    if (len >= 1232) {
      EXPECT_EQ(40 + r.size(), 1280u);
    }
  }
}

TEST(Icmpv6, EmitInPlaceMatchesCopy) {
  const Buf off = offending_packet(1500);
  const Buf expected = emit_to_vec(Icmpv6Repr::dest_unreachable(Icmpv6Unreach::Port, off));
  BufPool pool;
  PacketBuf pb = pool.copy_of(off);
  ASSERT_TRUE(pb.valid());
  pb.truncate(kIcmpv6MaxQuote);
  const Icmpv6Repr r = Icmpv6Repr::dest_unreachable(Icmpv6Unreach::Port, pb.view());
  r.emit_header(pb.prepend(r.header_len()), kA, kB);
  EXPECT_EQ(Buf(pb.view().begin(), pb.view().end()), expected);
  EXPECT_EQ(ref_residue(kA, kB, expected), 0);
}

// --- NDP (informational) -----------------------------------------------------------------------

// NS for fe80::1 with a source link-layer address option (type 1, length 1 = 8 bytes).
Buf neighbor_solicit() {
  Buf m = hex("87 00 0000 00000000 fe800000000000000000000000000001 0101 020000000001");
  fix_checksum(m);
  return m;
}

TEST(Icmpv6Ndp, NeighborSolicitation) {
  const Buf m = neighbor_solicit();
  auto r = parse_bytes(m);
  ASSERT_TRUE(r);
  const auto& ns = std::get<NdpNeighborSolicit>(r->message);
  EXPECT_EQ(ns.target, *Ip6Addr::parse("fe80::1"));
  EXPECT_EQ(ns.options.size(), 8u);
  EXPECT_FALSE(r->is_error());
  EXPECT_EQ(r->header_len(), 24u);
  EXPECT_EQ(emit_to_vec(*r), m);
}

TEST(Icmpv6Ndp, NeighborAdvertisementFlags) {
  Buf m = hex("88 00 0000 e0000000 fe800000000000000000000000000001");
  for (int flags : {0x00, 0x80, 0x40, 0x20, 0xe0, 0xa0}) {
    m[4] = static_cast<std::byte>(flags);
    fix_checksum(m);
    auto r = parse_bytes(m);
    ASSERT_TRUE(r);
    const auto& na = std::get<NdpNeighborAdvert>(r->message);
    EXPECT_EQ(na.router, (flags & 0x80) != 0);
    EXPECT_EQ(na.solicited, (flags & 0x40) != 0);
    EXPECT_EQ(na.override_entry, (flags & 0x20) != 0);
    EXPECT_TRUE(na.options.empty());
    EXPECT_EQ(emit_to_vec(*r), m);
  }
}

TEST(Icmpv6Ndp, RouterSolicitation) {
  Buf m = hex("85 00 0000 00000000 0101 0200 0000 0001");
  fix_checksum(m);
  auto r = parse_bytes(m);
  ASSERT_TRUE(r);
  EXPECT_EQ(std::get<NdpRouterSolicit>(r->message).options.size(), 8u);
  EXPECT_EQ(r->header_len(), 8u);
  EXPECT_EQ(emit_to_vec(*r), m);
}

TEST(Icmpv6Ndp, MalformedNdpIsRefused) {
  // Nonzero code (RFC 4861 §7.1.1).
  Buf code = neighbor_solicit();
  code[1] = std::byte{1};
  fix_checksum(code);
  EXPECT_EQ(parse_bytes(code).error(), ParseError::BadField);
  // Multicast target.
  Buf mcast = neighbor_solicit();
  mcast[8] = std::byte{0xff};
  fix_checksum(mcast);
  EXPECT_EQ(parse_bytes(mcast).error(), ParseError::BadField);
  // Option of length 0, option running past the end, option with no length byte.
  for (const char* opt : {"0100 000000000000", "0102 000000000000", "01"}) {
    Buf bad = neighbor_solicit();
    bad.resize(24);
    const Buf o = hex(opt);
    bad.insert(bad.end(), o.begin(), o.end());
    fix_checksum(bad);
    EXPECT_EQ(parse_bytes(bad).error(), ParseError::BadOption) << opt;
  }
  // Shorter than the 24-byte fixed part, at every length from 8.
  for (std::size_t n = 8; n < 24; ++n) {
    Buf shortm = neighbor_solicit();
    shortm.resize(n);
    fix_checksum(shortm);
    EXPECT_EQ(parse_bytes(shortm).error(), ParseError::Truncated) << n;
  }
}

// --- RFC 4443 §2.4(e) --------------------------------------------------------------------------

TEST(Icmpv6, MaySendErrorFor) {
  const Ip6Addr peer = *Ip6Addr::parse("2001:db8::5");
  const Ip6Addr me = *Ip6Addr::parse("2001:db8::1");
  const Ip6Addr mcast = *Ip6Addr::parse("ff02::1");
  const Buf off = offending_packet(80);
  const Icmpv6Repr unreach = Icmpv6Repr::dest_unreachable(Icmpv6Unreach::Port, off);
  const Icmpv6Repr ptb = Icmpv6Repr::packet_too_big(1280, off);

  EXPECT_TRUE(may_send_error_for({peer, me, std::nullopt}, unreach));
  EXPECT_TRUE(may_send_error_for({peer, me, std::uint8_t{128}}, unreach));  // about an echo: ok
  // e.1: never about an error (types 0-127), e.2: nor a redirect.
  for (int t : {1, 2, 3, 4, 100, 127, 137})
    EXPECT_FALSE(may_send_error_for({peer, me, t}, unreach)) << int{t};
  // e.6: the source must identify one node.
  for (const char* s : {"::", "ff02::1", "::1"})
    EXPECT_FALSE(may_send_error_for({*Ip6Addr::parse(s), me, std::nullopt}, unreach)) << s;
  // e.3: to multicast only PTB, or param problem code 2 about an option of type 10xxxxxx.
  EXPECT_FALSE(may_send_error_for({peer, mcast, std::nullopt}, unreach));
  EXPECT_TRUE(may_send_error_for({peer, mcast, std::nullopt}, ptb));
  Buf hbh = off;
  hbh[42] = std::byte{0x9e};  // option type 10 011110
  hbh[43] = std::byte{0xc2};  // option type 11 000010
  const auto pp = [&](Icmpv6ParamCode c, std::uint32_t ptr) {
    return Icmpv6Repr::param_problem(c, ptr, hbh);
  };
  EXPECT_TRUE(may_send_error_for({peer, mcast, std::nullopt}, pp(Icmpv6ParamCode::UnrecognizedOption, 42)));
  EXPECT_FALSE(may_send_error_for({peer, mcast, std::nullopt}, pp(Icmpv6ParamCode::UnrecognizedOption, 43)));
  EXPECT_FALSE(may_send_error_for({peer, mcast, std::nullopt}, pp(Icmpv6ParamCode::ErroneousHeader, 42)));
  EXPECT_FALSE(may_send_error_for({peer, mcast, std::nullopt}, pp(Icmpv6ParamCode::UnrecognizedOption, 5000)));
  EXPECT_TRUE(may_send_error_for({peer, me, std::nullopt}, pp(Icmpv6ParamCode::UnrecognizedOption, 43)));
  // The PTB exception does not lift the other rules.
  EXPECT_FALSE(may_send_error_for({peer, mcast, std::uint8_t{1}}, ptb));
  // Not an error message at all.
  EXPECT_FALSE(may_send_error_for({peer, me, std::nullopt}, Icmpv6Repr{Icmpv6Echo{true, 1, 1, {}}}));
}

}  // namespace
}  // namespace tunstack::wire
