#include "stack/wire/icmpv4.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string_view>
#include <vector>

#include "stack/core/packet_buf.hpp"
#include "tests/support/checksum_reference.hpp"
#include "tests/support/hex.hpp"

namespace tunstack::wire {
namespace {

using testing::Buf;
using testing::hex;

/// RFC 1071 the slow way, independent of the checksum module: 0 when the checksum is right.
std::uint16_t ref_residue(Bytes b) {
  return checksum::test::textbook_checksum(b);
}

/// A made-up invoking packet: an IPv4 header (UDP, 10.0.0.2 -> 10.0.0.1) and `len - 20` bytes.
Buf offending_packet(std::size_t len) {
  Buf p = hex("45000000 00000000 40110000 0a000002 0a000001");
  p[2] = static_cast<std::byte>(len >> 8);
  p[3] = static_cast<std::byte>(len);
  while (p.size() < len) p.push_back(static_cast<std::byte>(p.size() * 3));
  p.resize(len);
  return p;
}

/// Rewrites the checksum field after a test edited the message.
void fix_checksum(Buf& m) {
  m[2] = m[3] = std::byte{0};
  const std::uint16_t c = ref_residue(m);
  m[2] = static_cast<std::byte>(c >> 8);
  m[3] = static_cast<std::byte>(c);
}

Buf emit_to_vec(const Icmpv4Repr& r) {
  Buf out(r.size());
  r.emit(out);
  return out;
}

Result<Icmpv4Repr, ParseError> parse_bytes(const Buf& b) {
  auto v = Icmpv4View::check(b);
  if (!v) return Err{v.error()};
  return Icmpv4Repr::parse(*v);
}

// Echo request id 0x1234 seq 1 data "pingdata", and its reply; checksums from Python.
const Buf kEchoRequest = hex("08 00 2e37 1234 0001 70696e6764617461");
const Buf kEchoReply = hex("00 00 3637 1234 0001 70696e6764617461");

TEST(Icmpv4, EchoKnownVectorsAndReply) {
  auto v = Icmpv4View::check(kEchoRequest);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->type(), 8);
  EXPECT_EQ(v->code(), 0);
  EXPECT_EQ(v->checksum(), 0x2e37);
  EXPECT_EQ(v->echo_id(), 0x1234);
  EXPECT_EQ(v->echo_seq(), 1);
  EXPECT_TRUE(v->verify_checksum());
  auto r = Icmpv4Repr::parse(*v);
  ASSERT_TRUE(r);
  ASSERT_TRUE(std::holds_alternative<Icmpv4Echo>(r->message));
  const auto& echo = std::get<Icmpv4Echo>(r->message);
  EXPECT_FALSE(echo.reply);
  EXPECT_EQ(echo.id, 0x1234);
  EXPECT_EQ(echo.seq, 1);
  EXPECT_EQ(echo.data.size(), 8u);
  EXPECT_FALSE(r->is_error());
  EXPECT_EQ(emit_to_vec(*r), kEchoRequest);
  EXPECT_EQ(emit_to_vec(Icmpv4Repr::echo_reply(echo)), kEchoReply);
}

TEST(Icmpv4, TruncatedBadChecksumAndUnknownType) {
  for (std::size_t n = 0; n < kIcmpv4HeaderLen; ++n)
    EXPECT_EQ(Icmpv4View::check(Bytes{kEchoRequest.data(), n}).error(), ParseError::Truncated) << n;
  // An 8-byte echo with no data is fine.
  auto empty = Icmpv4Repr{Icmpv4Echo{false, 1, 2, {}}};
  EXPECT_TRUE(parse_bytes(emit_to_vec(empty)));
  for (std::size_t i = 0; i < kEchoRequest.size(); ++i) {
    Buf bad = kEchoRequest;
    bad[i] ^= std::byte{0x40};
    EXPECT_EQ(parse_bytes(bad).error(), ParseError::BadChecksum) << i;
  }
  // Timestamp (13), redirect (5), source quench (4), router advert (9): not parsed.
  for (int type : {4, 5, 9, 13, 14, 42}) {
    Buf m = kEchoRequest;
    m[0] = static_cast<std::byte>(type);
    fix_checksum(m);
    EXPECT_EQ(parse_bytes(m).error(), ParseError::BadType) << int{type};
  }
}

TEST(Icmpv4, DestUnreachableEveryCodeRoundTrips) {
  const Buf off = offending_packet(60);
  for (std::uint8_t code = 0; code <= 15; ++code) {
    const auto c = static_cast<Icmpv4Unreach>(code);
    Icmpv4Repr r = c == Icmpv4Unreach::FragNeeded ? Icmpv4Repr::frag_needed(1400, off)
                                                  : Icmpv4Repr::dest_unreachable(c, off);
    Buf m = emit_to_vec(r);
    EXPECT_EQ(ref_residue(m), 0);
    EXPECT_EQ(m[0], std::byte{3});
    EXPECT_EQ(m[1], static_cast<std::byte>(code));
    auto back = parse_bytes(m);
    ASSERT_TRUE(back) << int{code};
    const auto& du = std::get<Icmpv4DestUnreachable>(back->message);
    EXPECT_EQ(du.code, c);
    EXPECT_EQ(du.next_hop_mtu, c == Icmpv4Unreach::FragNeeded ? 1400 : 0);
    EXPECT_TRUE(std::equal(du.invoking.begin(), du.invoking.end(), off.begin(), off.end()));
    EXPECT_TRUE(back->is_error());
  }
}

TEST(Icmpv4, FragNeededMtuIsTheLow16Bits) {
  // RFC 1191 §4: bytes 4-5 unused (zero), bytes 6-7 next-hop MTU.
  Buf m = emit_to_vec(Icmpv4Repr::frag_needed(0x05dc, offending_packet(28)));
  EXPECT_EQ(Buf(m.begin() + 4, m.begin() + 8), hex("000005dc"));
  // For other codes the same bytes are unused and not reported as an MTU.
  Buf port = emit_to_vec(Icmpv4Repr::dest_unreachable(Icmpv4Unreach::Port, offending_packet(28)));
  EXPECT_EQ(Buf(port.begin() + 4, port.begin() + 8), hex("00000000"));
  port[7] = std::byte{0x99};
  fix_checksum(port);
  auto back = parse_bytes(port);
  ASSERT_TRUE(back);
  EXPECT_EQ(std::get<Icmpv4DestUnreachable>(back->message).next_hop_mtu, 0);
}

TEST(Icmpv4, TimeExceededAndParamProblem) {
  const Buf off = offending_packet(48);
  for (auto code : {Icmpv4TimeExceededCode::TtlExceeded, Icmpv4TimeExceededCode::FragReassembly}) {
    Buf m = emit_to_vec(Icmpv4Repr::time_exceeded(code, off));
    EXPECT_EQ(m[0], std::byte{11});
    auto back = parse_bytes(m);
    ASSERT_TRUE(back);
    EXPECT_EQ(std::get<Icmpv4TimeExceeded>(back->message).code, code);
  }
  Buf m = emit_to_vec(Icmpv4Repr::param_problem(9, off));
  EXPECT_EQ(Buf(m.begin(), m.begin() + 2), hex("0c00"));
  EXPECT_EQ(Buf(m.begin() + 4, m.begin() + 8), hex("09000000"));
  auto back = parse_bytes(m);
  ASSERT_TRUE(back);
  const auto& pp = std::get<Icmpv4ParamProblem>(back->message);
  EXPECT_EQ(pp.pointer, 9);
  EXPECT_EQ(pp.code, 0);
  EXPECT_EQ(pp.invoking.size(), 48u);
}

TEST(Icmpv4, ErrorsMustQuoteHeaderPlus8Bytes) {
  const Buf off = offending_packet(kIcmpv4MinQuote);
  for (std::size_t len = 0; len <= kIcmpv4MinQuote; ++len) {
    const Icmpv4Repr r{Icmpv4TimeExceeded{Icmpv4TimeExceededCode::TtlExceeded, Bytes{off.data(), len}}};
    auto back = parse_bytes(emit_to_vec(r));
    if (len < kIcmpv4MinQuote) {
      EXPECT_EQ(back.error(), ParseError::Truncated) << len;
    } else {
      EXPECT_TRUE(back);
    }
  }
}

TEST(Icmpv4, ErrorQuoteIsCutToFit576Bytes) {
  static_assert(kIcmpv4MaxQuote == 548);
  for (std::size_t len : {28u, 100u, 547u, 548u, 549u, 1500u, 65535u}) {
    const Buf off = offending_packet(len);
    Icmpv4Repr r = Icmpv4Repr::dest_unreachable(Icmpv4Unreach::Port, off);
    const std::size_t quoted = std::min<std::size_t>(len, 548);
    EXPECT_EQ(r.body().size(), quoted) << len;
    EXPECT_EQ(r.body().data(), off.data());  // borrowed, not copied
    EXPECT_LE(20 + r.size(), kIcmpv4ErrorMaxDatagram);
    if (len >= 548) {
      EXPECT_EQ(20 + r.size(), 576u);
    }
  }
}

TEST(Icmpv4, EmitInPlaceAndOverlapping) {
  const Buf off = offending_packet(1500);
  const Buf expected = emit_to_vec(Icmpv4Repr::dest_unreachable(Icmpv4Unreach::Port, off));

  // The zero-copy way: truncate the offending packet in its own buffer and prepend the header.
  BufPool pool;
  PacketBuf pb = pool.copy_of(off);
  ASSERT_TRUE(pb.valid());
  pb.truncate(kIcmpv4MaxQuote);
  Icmpv4Repr r = Icmpv4Repr::dest_unreachable(Icmpv4Unreach::Port, pb.view());
  r.emit_header(pb.prepend(kIcmpv4HeaderLen));
  EXPECT_EQ(Buf(pb.view().begin(), pb.view().end()), expected);

  // emit() with a body that overlaps the output (starts where the header goes).
  Buf work = off;
  work.resize(1600);
  Icmpv4Repr o = Icmpv4Repr::dest_unreachable(Icmpv4Unreach::Port, Bytes{work.data(), off.size()});
  o.emit(MutBytes{work.data(), o.size()});
  EXPECT_EQ(Buf(work.begin(), work.begin() + static_cast<std::ptrdiff_t>(o.size())), expected);
}

TEST(Icmpv4, MaySendErrorFor) {
  const Ip4Addr host = *Ip4Addr::parse("10.0.0.2");
  const Ip4Addr me = *Ip4Addr::parse("10.0.0.1");
  Icmpv4ErrorTrigger ok{host, me, std::nullopt, false, false};
  EXPECT_TRUE(may_send_error_for(ok));

  auto with = [&](auto f) {
    Icmpv4ErrorTrigger t = ok;
    f(t);
    return may_send_error_for(t);
  };
  // Not about ICMP errors (or unknown types); informational ICMP is fine.
  for (int type : {3, 4, 5, 11, 12, 7, 200})
    EXPECT_FALSE(with([&](auto& t) { t.icmp_type = type; })) << int{type};
  for (int type : {0, 8, 13, 14, 17})
    EXPECT_TRUE(with([&](auto& t) { t.icmp_type = type; })) << int{type};
  // Not to broadcast/multicast destinations.
  EXPECT_FALSE(with([](auto& t) { t.dst = *Ip4Addr::parse("224.0.0.1"); }));
  EXPECT_FALSE(with([](auto& t) { t.dst = *Ip4Addr::parse("255.255.255.255"); }));
  EXPECT_FALSE(with([](auto& t) { t.dst_is_broadcast = true; }));
  // Not about non-initial fragments.
  EXPECT_FALSE(with([](auto& t) { t.non_initial_fragment = true; }));
  // Not to sources that do not name one host.
  for (const char* s : {"0.0.0.0", "0.1.2.3", "127.0.0.1", "255.255.255.255", "239.1.1.1", "240.0.0.1"})
    EXPECT_FALSE(with([&](auto& t) { t.src = *Ip4Addr::parse(s); })) << s;
}

}  // namespace
}  // namespace tunstack::wire
