#include "stack/wire/tcp.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string_view>
#include <type_traits>
#include <vector>

#include "stack/checksum/checksum.hpp"
#include "stack/core/packet_buf.hpp"
#include "tests/support/checksum_reference.hpp"
#include "tests/support/hex.hpp"

namespace tunstack::wire {
namespace {

using testing::Buf;
using testing::hex;

Buf text(std::string_view s) {
  Buf out;
  for (char c : s) out.push_back(static_cast<std::byte>(c));
  return out;
}

/// RFC 1071 done the slow, obvious way, independent of the checksum module.
std::uint16_t ref_checksum(const Buf& b) {
  return checksum::test::textbook_checksum(b);
}

/// The pseudo-header bytes followed by the segment (RFC 9293 §3.1, RFC 8200 §8.1).
Buf with_pseudo(const IpAddr& src, const IpAddr& dst, const Buf& seg) {
  Buf out;
  const auto push = [&](Bytes b) { out.insert(out.end(), b.begin(), b.end()); };
  push(src.bytes());
  push(dst.bytes());
  const auto len = static_cast<std::uint32_t>(seg.size());
  if (src.is_v4()) {
    out.push_back(std::byte{0});
    out.push_back(std::byte{6});
    out.push_back(static_cast<std::byte>(len >> 8));
    out.push_back(static_cast<std::byte>(len));
  } else {
    for (int sh = 24; sh >= 0; sh -= 8) out.push_back(static_cast<std::byte>(len >> sh));
    out.insert(out.end(), {std::byte{0}, std::byte{0}, std::byte{0}, std::byte{6}});
  }
  out.insert(out.end(), seg.begin(), seg.end());
  return out;
}

const IpAddr kSrc4 = *IpAddr::parse("10.0.0.1");
const IpAddr kDst4 = *IpAddr::parse("10.0.0.2");
const IpAddr kSrc6 = *IpAddr::parse("fd00::1");
const IpAddr kDst6 = *IpAddr::parse("fd00::2");

/// The SYN Linux sends: MSS 1460, SACK-permitted, timestamps, NOP, window scale 7.
TcpRepr linux_syn() {
  TcpRepr r;
  r.src_port = Port{40000};
  r.dst_port = Port{80};
  r.seq = SeqNum{0x12345678};
  r.flags = TcpFlags::SYN;
  r.window = 64240;
  r.options.mss = 1460;
  r.options.sack_permitted = true;
  r.options.timestamps = TcpTimestamps{0x00a1b2c3, 0};
  r.options.wscale = 7;
  return r;
}

// Hand-written: ports 40000 -> 80, seq 0x12345678, data offset 10, SYN, window 64240, then
// 02 04 05b4 (MSS 1460), 04 02 (SACK-permitted) 08 0a tsval tsecr, 01 (NOP) 03 03 07 (WS 7).
// Checksums computed independently (Python) over the pseudo-headers 10.0.0.1 -> 10.0.0.2 and
// fd00::1 -> fd00::2.
const Buf kLinuxSyn4 = hex(
    "9c40 0050 12345678 00000000 a0 02 faf0 806b 0000"
    "020405b4 0402080a 00a1b2c3 00000000 01030307");
const Buf kLinuxSyn6 = hex(
    "9c40 0050 12345678 00000000 a0 02 faf0 9a69 0000"
    "020405b4 0402080a 00a1b2c3 00000000 01030307");

Buf emit_to_vec(const TcpRepr& r, const Buf& payload, const IpAddr& src, const IpAddr& dst) {
  Buf out(r.size() + payload.size());
  std::copy(payload.begin(), payload.end(), out.begin() + static_cast<std::ptrdiff_t>(r.size()));
  const std::size_t n = r.emit(MutBytes{out.data(), r.size()},
                               Bytes{out.data() + r.size(), payload.size()}, src, dst);
  EXPECT_EQ(n, r.size());
  return out;
}

Result<TcpRepr, ParseError> parse_bytes(const Buf& b) {
  auto v = TcpView::check(b);
  if (!v) return Err{v.error()};
  return TcpRepr::parse(*v);
}

/// A 20-byte header followed by `opts`, data offset set to cover them (opts padded by caller).
Buf segment_with_options(const Buf& opts) {
  Buf seg(20 + opts.size());
  seg[12] = static_cast<std::byte>((seg.size() / 4) << 4);
  std::copy(opts.begin(), opts.end(), seg.begin() + 20);
  return seg;
}

// --- TcpFlags ----------------------------------------------------------------------------------

TEST(TcpFlags, BitsAndSetOperations) {
  static_assert(!std::is_convertible_v<std::uint8_t, TcpFlags>);
  static_assert(TcpFlags::FIN.bits() == 0x01 && TcpFlags::SYN.bits() == 0x02);
  static_assert(TcpFlags::RST.bits() == 0x04 && TcpFlags::PSH.bits() == 0x08);
  static_assert(TcpFlags::ACK.bits() == 0x10 && TcpFlags::URG.bits() == 0x20);
  static_assert(TcpFlags::ECE.bits() == 0x40 && TcpFlags::CWR.bits() == 0x80);
  constexpr TcpFlags synack = TcpFlags::SYN | TcpFlags::ACK;
  EXPECT_TRUE(synack.has(TcpFlags::SYN));
  EXPECT_TRUE(synack.has(TcpFlags::SYN | TcpFlags::ACK));
  EXPECT_FALSE(synack.has(TcpFlags::SYN | TcpFlags::FIN));
  EXPECT_TRUE(synack.any(TcpFlags::SYN | TcpFlags::FIN));
  EXPECT_FALSE(synack.any(TcpFlags::FIN | TcpFlags::RST));
  EXPECT_EQ(synack.without(TcpFlags::SYN), TcpFlags::ACK);
  EXPECT_EQ(synack & TcpFlags::ACK, TcpFlags::ACK);
  EXPECT_TRUE(TcpFlags{}.empty());
  TcpFlags f;
  f |= TcpFlags::FIN;
  EXPECT_EQ(f, TcpFlags::FIN);
  EXPECT_EQ(synack.to_string(), "SYN|ACK");
  EXPECT_EQ(TcpFlags{0xff}.to_string(), "FIN|SYN|RST|PSH|ACK|URG|ECE|CWR");
  EXPECT_EQ(TcpFlags{}.to_string(), "none");
}

// --- known vectors -----------------------------------------------------------------------------

TEST(TcpRepr, LinuxSynIsByteExact) {
  const TcpRepr syn = linux_syn();
  EXPECT_EQ(syn.size(), 40u);
  EXPECT_EQ(emit_to_vec(syn, {}, kSrc4, kDst4), kLinuxSyn4);
  EXPECT_EQ(emit_to_vec(syn, {}, kSrc6, kDst6), kLinuxSyn6);
}

TEST(TcpRepr, LinuxSynParses) {
  auto v = TcpView::check(kLinuxSyn4);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->src_port(), Port{40000});
  EXPECT_EQ(v->dst_port(), Port{80});
  EXPECT_EQ(v->seq(), SeqNum{0x12345678});
  EXPECT_EQ(v->header_len(), 40u);
  EXPECT_EQ(v->flags(), TcpFlags::SYN);
  EXPECT_EQ(v->window(), 64240);
  EXPECT_EQ(v->checksum(), 0x806b);
  EXPECT_EQ(v->urgent(), 0);
  EXPECT_EQ(v->options().size(), 20u);
  EXPECT_TRUE(v->payload().empty());
  EXPECT_TRUE(v->verify_checksum(kSrc4, kDst4));
  EXPECT_FALSE(v->verify_checksum(kDst4, IpAddr{*Ip4Addr::parse("10.0.0.3")}));
  auto r = TcpRepr::parse(*v, kSrc4, kDst4);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, linux_syn());
  EXPECT_FALSE(r->ack.has_value());
  EXPECT_EQ(r->segment_len(), 1u);

  auto v6 = TcpView::check(kLinuxSyn6);
  ASSERT_TRUE(v6);
  auto r6 = TcpRepr::parse(*v6, kSrc6, kDst6);
  ASSERT_TRUE(r6);
  EXPECT_EQ(*r6, linux_syn());
  // The v4 bytes do not verify under the v6 pseudo-header and vice versa.
  EXPECT_EQ(TcpRepr::parse(*v6, kSrc4, kDst4).error(), ParseError::BadChecksum);
  EXPECT_EQ(TcpRepr::parse(*v, kSrc6, kDst6).error(), ParseError::BadChecksum);
}

TEST(TcpRepr, EstablishedAckWithTimestampsAndPayload) {
  // Linux layout for a data segment: NOP, NOP, TS. Checksum computed in Python.
  const Buf expected = hex(
      "9c40 0050 12345679 abcdef01 80 18 01f6 850c 0000"
      "0101080a 00a1b2c4 11223344"
      "68656c6c6f");
  TcpRepr r;
  r.src_port = Port{40000};
  r.dst_port = Port{80};
  r.seq = SeqNum{0x12345679};
  r.ack = SeqNum{0xabcdef01};
  r.flags = TcpFlags::ACK | TcpFlags::PSH;
  r.window = 502;
  r.options.timestamps = TcpTimestamps{0x00a1b2c4, 0x11223344};
  r.payload_len = 5;
  EXPECT_EQ(r.size(), 32u);
  EXPECT_EQ(emit_to_vec(r, text("hello"), kSrc4, kDst4), expected);
  auto back = parse_bytes(expected);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, r);
  EXPECT_EQ(back->segment_len(), 5u);
}

TEST(TcpOptions, LinuxLayouts) {
  TcpOptions o;
  EXPECT_EQ(o.size(), 0u);
  o.sack_permitted = true;  // SACK-permitted without timestamps: NOP, NOP, SACK_PERM
  Buf out(o.size());
  o.emit(out);
  EXPECT_EQ(out, hex("01010402"));
  o.mss = 1400;
  o.wscale = 0;
  out.assign(o.size(), std::byte{0xee});
  o.emit(out);
  EXPECT_EQ(out, hex("02040578 01010402 01030300"));
  // SACK blocks after timestamps: NOP, NOP, SACK.
  TcpOptions s;
  s.timestamps = TcpTimestamps{1, 2};
  ASSERT_TRUE(s.add_sack({SeqNum{10}, SeqNum{20}}));
  ASSERT_TRUE(s.add_sack({SeqNum{30}, SeqNum{40}}));
  out.assign(s.size(), std::byte{0xee});
  s.emit(out);
  EXPECT_EQ(out, hex("0101080a 00000001 00000002 01010512 0000000a 00000014 0000001e 00000028"));
}

TEST(TcpOptions, SackBlocksAreCutToFitBesideOtherOptions) {
  TcpOptions o;
  for (std::uint32_t i = 0; i < 4; ++i) ASSERT_TRUE(o.add_sack({SeqNum{i * 100}, SeqNum{i * 100 + 50}}));
  EXPECT_FALSE(o.add_sack({SeqNum{1}, SeqNum{2}}));
  EXPECT_EQ(o.emitted_sack_count(), 4u);  // 4 + 32 = 36 bytes
  EXPECT_EQ(o.size(), 36u);
  o.timestamps = TcpTimestamps{1, 2};
  EXPECT_EQ(o.emitted_sack_count(), 3u);  // 12 + 4 + 24 = 40, as Linux
  EXPECT_EQ(o.size(), 40u);
  o.wscale = 3;
  o.mss = 1000;
  EXPECT_EQ(o.emitted_sack_count(), 2u);  // 4 + 12 + 4 + (4 + 16) = 40
  o.sack_permitted = true;                // rides in the TS word: no change
  EXPECT_EQ(o.size(), 40u);
  o.timestamps.reset();                   // SACK_PERM now needs its own word
  EXPECT_EQ(o.emitted_sack_count(), 3u);  // 4 + 4 + 4 + (4 + 24) = 40
  Buf out(o.size());
  o.emit(out);
  auto back = TcpOptions::parse(out);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->sack_count, 3);
  EXPECT_EQ(back->sack[1], (SackBlock{SeqNum{100}, SeqNum{150}}));
}

// --- options parser ----------------------------------------------------------------------------

TEST(TcpOptions, ParsesOtherStacksOrders) {
  // FreeBSD/macOS order: MSS, NOP, WS, NOP, NOP, TS, SACK_PERM, EOL, EOL.
  auto o = TcpOptions::parse(hex("020405b4 01030306 0101080a 00000010 00000020 04020000"));
  ASSERT_TRUE(o);
  EXPECT_EQ(o->mss, 1460);
  EXPECT_EQ(o->wscale, 6);
  EXPECT_FALSE(o->wscale_clamped);
  EXPECT_TRUE(o->sack_permitted);
  EXPECT_EQ(o->timestamps, (TcpTimestamps{0x10, 0x20}));
  EXPECT_EQ(o->sack_count, 0);
}

TEST(TcpOptions, TimestampFastPathAgreesWithTheGeneralParser) {
  // Exactly NOP,NOP,TS takes the fast path; the same options with EOL padding, or in another
  // order, take the general one.
  auto fast = TcpOptions::parse(hex("0101080a 01020304 05060708"));
  auto padded = TcpOptions::parse(hex("0101080a 01020304 05060708 00000000"));
  auto other = TcpOptions::parse(hex("080a0102 03040506 07080101"));
  ASSERT_TRUE(fast && padded && other);
  EXPECT_EQ(fast->timestamps, (TcpTimestamps{0x01020304, 0x05060708}));
  EXPECT_EQ(*fast, *padded);
  EXPECT_EQ(*fast, *other);
  // A fast-path-shaped area with a bad TS length is still refused by the general parser.
  EXPECT_EQ(TcpOptions::parse(hex("0101080b 01020304 05060708")).error(), ParseError::BadOption);
  // parse_into resets whatever the target held.
  TcpOptions o;
  o.mss = 9;
  o.sack_permitted = true;
  ASSERT_TRUE(TcpOptions::parse_into(hex("0101080a 01020304 05060708"), o));
  EXPECT_EQ(o, *fast);
  EXPECT_FALSE(o.mss);
}

TEST(TcpOptions, SackBlocksOfEveryCount) {
  for (std::uint8_t n = 1; n <= 4; ++n) {
    Buf opts = {std::byte{1}, std::byte{1}, std::byte{5}, static_cast<std::byte>(2 + 8 * n)};
    for (std::uint32_t i = 0; i < n; ++i)
      for (std::uint32_t v : {0xfffffff0u + i, 0x10u + i})
        for (int sh = 24; sh >= 0; sh -= 8) opts.push_back(static_cast<std::byte>(v >> sh));
    auto o = TcpOptions::parse(opts);
    ASSERT_TRUE(o) << int{n};
    ASSERT_EQ(o->sack_count, n);
    for (std::uint32_t i = 0; i < n; ++i)
      EXPECT_EQ(o->sack_blocks()[i], (SackBlock{SeqNum{0xfffffff0u + i}, SeqNum{0x10u + i}}));
  }
}

TEST(TcpOptions, WindowScaleAbove14IsClamped) {
  for (int shift : {0, 7, 14}) {
    Buf b = hex("01030300");
    b[3] = static_cast<std::byte>(shift);
    auto o = TcpOptions::parse(b);
    ASSERT_TRUE(o);
    EXPECT_EQ(o->wscale, shift);
    EXPECT_FALSE(o->wscale_clamped);
  }
  for (int shift : {15, 16, 255}) {
    Buf b = hex("01030300");
    b[3] = static_cast<std::byte>(shift);
    auto o = TcpOptions::parse(b);
    ASSERT_TRUE(o);
    EXPECT_EQ(o->wscale, 14);  // RFC 7323 §2.3
    EXPECT_TRUE(o->wscale_clamped);
  }
}

TEST(TcpOptions, UnknownSkippedEolStopsRepeatedLastWins) {
  // TFO cookie (34, len 10) and an MPTCP option (30, len 4) are skipped by their length.
  auto o = TcpOptions::parse(hex("220a0102030405060708 1e040000 020405b4 02040400"));
  ASSERT_TRUE(o);
  EXPECT_EQ(o->mss, 1024);  // the second MSS wins
  // Anything after EOL is padding, even bytes that would be malformed options.
  auto e = TcpOptions::parse(hex("020405b4 00 0200ffff"));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->mss, 1460);
  EXPECT_FALSE(e->wscale);
  // Only NOPs, or nothing: no options.
  EXPECT_TRUE(TcpOptions::parse(hex("01010101")));
  EXPECT_TRUE(TcpOptions::parse(Bytes{}));
}

TEST(TcpOptions, MalformedLengthsAreBadOption) {
  // Length 0 or 1 on any non-single-byte kind, known or not.
  for (int kind : {2, 3, 4, 5, 8, 30, 254}) {
    for (int len : {0, 1}) {
      Buf b = {static_cast<std::byte>(kind), static_cast<std::byte>(len), std::byte{0}, std::byte{0}};
      EXPECT_EQ(TcpOptions::parse(b).error(), ParseError::BadOption) << kind << "/" << len;
    }
    // A kind byte with no room for its length byte.
    Buf tail = {std::byte{1}, std::byte{1}, std::byte{1}, static_cast<std::byte>(kind)};
    EXPECT_EQ(TcpOptions::parse(tail).error(), ParseError::BadOption) << kind;
    // A length running past the option area.
    Buf past = {static_cast<std::byte>(kind), std::byte{5}, std::byte{0}, std::byte{0}};
    EXPECT_EQ(TcpOptions::parse(past).error(), ParseError::BadOption) << kind;
  }
}

TEST(TcpOptions, WrongFixedLengthForEveryKnownKindIsBadOption) {
  struct Case {
    int kind;
    int good;  // the one valid length (SACK checked separately)
  };
  for (Case c : {Case{2, 4}, Case{3, 3}, Case{4, 2}, Case{8, 10}}) {
    for (int len = 2; len <= 38; ++len) {
      Buf b(40, std::byte{0});
      b[0] = static_cast<std::byte>(c.kind);
      b[1] = static_cast<std::byte>(len);
      auto o = TcpOptions::parse(b);
      if (len == c.good) {
        EXPECT_TRUE(o) << c.kind << "/" << len;
      } else {
        EXPECT_EQ(o.error(), ParseError::BadOption) << c.kind << "/" << len;
      }
    }
  }
  for (int len = 2; len <= 40; ++len) {
    Buf b(40, std::byte{0});
    b[0] = std::byte{5};
    b[1] = static_cast<std::byte>(len);
    const bool good = len == 10 || len == 18 || len == 26 || len == 34;
    auto o = TcpOptions::parse(b);
    if (good) {
      EXPECT_TRUE(o) << "sack/" << len;
    } else {
      EXPECT_EQ(o.error(), ParseError::BadOption) << "sack/" << len;
    }
  }
}

// --- view errors -------------------------------------------------------------------------------

TEST(TcpView, TruncatedAtEveryLength) {
  for (std::size_t n = 0; n < kLinuxSyn4.size(); ++n) {
    auto v = TcpView::check(Bytes{kLinuxSyn4.data(), n});
    ASSERT_FALSE(v) << n;
    // Below 20 bytes there is no header; from 20 on the data offset (40) points past the end.
    EXPECT_EQ(v.error(), n < 20 ? ParseError::Truncated : ParseError::BadHeaderLength) << n;
  }
  EXPECT_TRUE(TcpView::check(kLinuxSyn4));
}

TEST(TcpView, DataOffsetBounds) {
  Buf seg(60, std::byte{0});
  for (int off = 0; off < 16; ++off) {
    seg[12] = static_cast<std::byte>(off << 4);
    auto v = TcpView::check(seg);
    if (off < 5) {
      EXPECT_EQ(v.error(), ParseError::BadHeaderLength) << off;
    } else {
      ASSERT_TRUE(v) << off;
      EXPECT_EQ(v->header_len(), std::size_t(off) * 4);
      EXPECT_EQ(v->options().size(), std::size_t(off) * 4 - 20);
      EXPECT_EQ(v->payload().size(), 60 - std::size_t(off) * 4);
    }
  }
  seg.resize(43);
  seg[12] = static_cast<std::byte>(11 << 4);  // 44 > 43
  EXPECT_EQ(TcpView::check(seg).error(), ParseError::BadHeaderLength);
}

TEST(TcpRepr, BadOptionsFailTheRepr) {
  Buf seg = segment_with_options(hex("02030000"));  // MSS with length 3
  auto v = TcpView::check(seg);
  ASSERT_TRUE(v);
  EXPECT_EQ(TcpRepr::parse(*v).error(), ParseError::BadOption);
}

TEST(TcpRepr, AckOnlyWhenAckFlag) {
  Buf seg = segment_with_options({});
  seg[8] = std::byte{0x55};  // a stale ack field with ACK clear
  seg[13] = std::byte{0x04};  // RST
  auto r = parse_bytes(seg);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ack.has_value());
  EXPECT_EQ(r->flags, TcpFlags::RST);
  seg[13] = std::byte{0x14};  // RST|ACK
  r = parse_bytes(seg);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->ack, SeqNum{0x55000000});
  // Emitting without ack writes a zero ack field.
  TcpRepr rst;
  rst.flags = TcpFlags::RST;
  Buf out = emit_to_vec(rst, {}, kSrc4, kDst4);
  EXPECT_EQ(out[8], std::byte{0});
  EXPECT_EQ(out[13], std::byte{0x04});
}

// --- checksums ---------------------------------------------------------------------------------

TEST(TcpRepr, ChecksumMatchesReferenceAndCatchesCorruption) {
  TcpRepr r = linux_syn();
  r.flags = TcpFlags::ACK | TcpFlags::PSH;
  r.ack = SeqNum{0xfeedface};
  r.options = TcpOptions{};
  r.options.timestamps = TcpTimestamps{7, 8};
  for (const auto& [src, dst] : {std::pair{kSrc4, kDst4}, std::pair{kSrc6, kDst6}}) {
    for (std::size_t plen : {0u, 1u, 2u, 3u, 17u, 1000u, 1401u}) {
      Buf payload(plen);
      for (std::size_t i = 0; i < plen; ++i) payload[i] = static_cast<std::byte>(i * 7 + 3);
      Buf seg = emit_to_vec(r, payload, src, dst);
      EXPECT_EQ(ref_checksum(with_pseudo(src, dst, seg)), 0) << plen;
      auto v = TcpView::check(seg);
      ASSERT_TRUE(v);
      EXPECT_TRUE(TcpRepr::parse(*v, src, dst)) << plen;
      // Any single flipped bit is caught.
      for (std::size_t i = 0; i < seg.size(); i += 5) {
        Buf bad = seg;
        bad[i] ^= std::byte{0x10};
        auto bv = TcpView::check(bad);
        if (!bv) continue;  // the flip broke the data offset
        EXPECT_FALSE(bv->verify_checksum(src, dst)) << plen << " byte " << i;
      }
    }
  }
}

TEST(TcpRepr, EmitInFrontOfPacketBufPayloadMatchesSeparateBuffers) {
  BufPool pool;
  const Buf payload = text("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  PacketBuf pb = pool.copy_of(payload);
  ASSERT_TRUE(pb.valid());
  TcpRepr r = linux_syn();
  r.flags = TcpFlags::ACK;
  r.ack = SeqNum{1};
  r.options.mss.reset();
  r.options.wscale.reset();
  const Bytes pl = pb.view();
  MutBytes hdr = pb.prepend(r.size());
  r.emit(hdr, pl, kSrc6, kDst6);
  Buf contiguous(pb.view().begin(), pb.view().end());

  Buf separate_header(r.size());
  r.emit(separate_header, payload, kSrc6, kDst6);
  Buf joined = separate_header;
  joined.insert(joined.end(), payload.begin(), payload.end());
  EXPECT_EQ(contiguous, joined);

  // The precomputed-payload-sum path gives the same header.
  Buf hdr2(r.size());
  r.emit_with_payload_sum(hdr2, checksum::add(payload), payload.size(), kSrc6, kDst6);
  EXPECT_EQ(hdr2, separate_header);
}

// --- round trips -------------------------------------------------------------------------------

TEST(TcpRepr, RandomRoundTrips) {
  std::mt19937 rng(12345);
  const auto u32 = [&] { return static_cast<std::uint32_t>(rng()); };
  for (int i = 0; i < 2000; ++i) {
    TcpRepr r;
    r.src_port = Port{static_cast<std::uint16_t>(u32())};
    r.dst_port = Port{static_cast<std::uint16_t>(u32())};
    r.seq = SeqNum{u32()};
    r.flags = TcpFlags{static_cast<std::uint8_t>(u32())};
    if (r.flags.has(TcpFlags::ACK)) r.ack = SeqNum{u32()};
    r.window = static_cast<std::uint16_t>(u32());
    r.urgent = static_cast<std::uint16_t>(u32());
    if (u32() & 1) r.options.mss = static_cast<std::uint16_t>(u32());
    if (u32() & 1) r.options.wscale = static_cast<std::uint8_t>(u32() % 15);
    r.options.sack_permitted = (u32() & 1) != 0;
    if (u32() & 1) r.options.timestamps = TcpTimestamps{u32(), u32()};
    const std::uint32_t nsack = u32() % 5;
    for (std::uint32_t k = 0; k < nsack; ++k) ASSERT_TRUE(r.options.add_sack({SeqNum{u32()}, SeqNum{u32()}}));
    Buf payload(u32() % 64);
    for (auto& b : payload) b = static_cast<std::byte>(u32());
    r.payload_len = static_cast<std::uint32_t>(payload.size());
    const bool v6 = (i & 1) != 0;
    const IpAddr& src = v6 ? kSrc6 : kSrc4;
    const IpAddr& dst = v6 ? kDst6 : kDst4;
    Buf seg = emit_to_vec(r, payload, src, dst);
    ASSERT_EQ(seg.size() % 4, payload.size() % 4);
    auto v = TcpView::check(seg);
    ASSERT_TRUE(v);
    auto back = TcpRepr::parse(*v, src, dst);
    ASSERT_TRUE(back) << i;
    TcpRepr expected = r;
    expected.options.sack_count = static_cast<std::uint8_t>(r.options.emitted_sack_count());
    EXPECT_EQ(*back, expected) << i;
    EXPECT_TRUE(std::equal(v->payload().begin(), v->payload().end(), payload.begin(), payload.end()));
  }
}

}  // namespace
}  // namespace tunstack::wire
