#include "stack/wire/udp.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string_view>
#include <vector>

#include "stack/checksum/checksum.hpp"
#include "stack/core/packet_buf.hpp"
#include "tests/support/checksum_reference.hpp"
#include "tests/support/hex.hpp"

namespace tunstack::wire {
namespace {

using testing::Buf;
using testing::hex;

/// RFC 1071 done the slow, obvious way over pseudo-header + datagram, independent of the
/// checksum module. Returns the value a correct checksum field makes zero.
std::uint16_t ref_residue(const IpAddr& src, const IpAddr& dst, const Buf& dgram) {
  Buf all;
  const auto push = [&](Bytes b) { all.insert(all.end(), b.begin(), b.end()); };
  push(src.bytes());
  push(dst.bytes());
  const auto len = static_cast<std::uint32_t>(dgram.size());
  if (src.is_v4()) {
    all.insert(all.end(), {std::byte{0}, std::byte{17}, static_cast<std::byte>(len >> 8),
                           static_cast<std::byte>(len)});
  } else {
    for (int sh = 24; sh >= 0; sh -= 8) all.push_back(static_cast<std::byte>(len >> sh));
    all.insert(all.end(), {std::byte{0}, std::byte{0}, std::byte{0}, std::byte{17}});
  }
  all.insert(all.end(), dgram.begin(), dgram.end());
  return checksum::test::textbook_checksum(all);
}

const IpAddr kSrc4 = *IpAddr::parse("10.0.0.1");
const IpAddr kDst4 = *IpAddr::parse("10.0.0.2");
const IpAddr kSrc6 = *IpAddr::parse("fd00::1");
const IpAddr kDst6 = *IpAddr::parse("fd00::2");

// 10.0.0.1:5353 -> 10.0.0.2:53, payload "abc"; checksums computed independently (Python).
const Buf kDgram4 = hex("14e9 0035 000b 1255 616263");
const Buf kDgram6 = hex("14e9 0035 000b 2c53 616263");

Buf emit_to_vec(const UdpRepr& r, const Buf& payload, const IpAddr& src, const IpAddr& dst) {
  Buf out(kUdpHeaderLen + payload.size());
  std::copy(payload.begin(), payload.end(), out.begin() + kUdpHeaderLen);
  r.emit(MutBytes{out.data(), kUdpHeaderLen}, Bytes{out.data() + kUdpHeaderLen, payload.size()},
         src, dst);
  return out;
}

TEST(UdpView, ReadsKnownVector) {
  auto v = UdpView::check(kDgram4);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->src_port(), Port{5353});
  EXPECT_EQ(v->dst_port(), Port{53});
  EXPECT_EQ(v->length(), 11);
  EXPECT_EQ(v->checksum(), 0x1255);
  EXPECT_EQ(v->header().size(), 8u);
  ASSERT_EQ(v->payload().size(), 3u);
  EXPECT_EQ(v->payload()[0], std::byte{'a'});
  EXPECT_TRUE(v->verify_checksum(kSrc4, kDst4));
  auto r = UdpRepr::parse(*v, kSrc4, kDst4);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, (UdpRepr{Port{5353}, Port{53}, 3}));
}

TEST(UdpView, TruncatedAtEveryLength) {
  for (std::size_t n = 0; n < kDgram4.size(); ++n) {
    auto v = UdpView::check(Bytes{kDgram4.data(), n});
    ASSERT_FALSE(v) << n;
    EXPECT_EQ(v.error(), ParseError::Truncated) << n;  // short header, or length 11 > n
  }
}

TEST(UdpView, LengthFieldBelowHeaderIsBadTotalLength) {
  Buf d = kDgram4;
  for (int len = 0; len < 8; ++len) {
    d[4] = std::byte{0};
    d[5] = static_cast<std::byte>(len);
    EXPECT_EQ(UdpView::check(d).error(), ParseError::BadTotalLength) << len;
  }
  d[5] = std::byte{8};  // a header with no payload is fine
  auto v = UdpView::check(d);
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->payload().empty());
}

TEST(UdpView, PayloadIsCutAtTheLengthField) {
  Buf padded = kDgram4;
  padded.insert(padded.end(), {std::byte{0xde}, std::byte{0xad}});  // e.g. IP/link padding
  auto v = UdpView::check(padded);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->payload().size(), 3u);
  EXPECT_EQ(v->datagram().size(), 11u);
  EXPECT_TRUE(v->verify_checksum(kSrc4, kDst4));  // the padding is not summed
}

TEST(UdpView, ChecksumWithPseudoHeaderV4AndV6) {
  auto v6 = UdpView::check(kDgram6);
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->verify_checksum(kSrc6, kDst6));
  EXPECT_FALSE(v6->verify_checksum(kDst6, *IpAddr::parse("fd00::3")));
  // Same datagram bytes, other family: the pseudo-header differs.
  EXPECT_FALSE(UdpView::check(kDgram4)->verify_checksum(kSrc6, kDst6));
  for (std::size_t i = 0; i < kDgram4.size(); ++i) {
    if (i == 4 || i == 5) continue;  // the length field is checked structurally
    Buf bad = kDgram4;
    bad[i] ^= std::byte{0x01};
    auto v = UdpView::check(bad);
    ASSERT_TRUE(v);
    EXPECT_EQ(UdpRepr::parse(*v, kSrc4, kDst4).error(), ParseError::BadChecksum) << i;
  }
}

TEST(UdpView, ZeroChecksumMeansNoneOnV4AndInvalidOnV6) {
  Buf d = kDgram4;
  d[6] = d[7] = std::byte{0};
  auto v = UdpView::check(d);
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->verify_checksum(kSrc4, kDst4));       // RFC 768
  EXPECT_FALSE(v->verify_checksum(kSrc6, kDst6));      // RFC 8200 §8.1
  EXPECT_EQ(UdpRepr::parse(*v, kSrc6, kDst6).error(), ParseError::BadChecksum);
  EXPECT_EQ(UdpRepr::parse(*v).payload_len, 3);        // the unchecked path still reads it
}

TEST(UdpRepr, EmitMatchesKnownVectors) {
  const UdpRepr r{Port{5353}, Port{53}, 3};
  const Buf abc = hex("616263");
  EXPECT_EQ(emit_to_vec(r, abc, kSrc4, kDst4), kDgram4);
  EXPECT_EQ(emit_to_vec(r, abc, kSrc6, kDst6), kDgram6);
}

TEST(UdpRepr, ComputedZeroIsSentAsAllOnes) {
  for (const auto& [src, dst] : {std::pair{kSrc4, kDst4}, std::pair{kSrc6, kDst6}}) {
    // Choose the last payload word so the checksum computes to 0: first emit with it zero, then
    // add the residue (ones' complement) so the sum becomes 0xffff.
    Buf payload = hex("0102030405060000");
    const UdpRepr r{Port{1000}, Port{2000}, 0};
    Buf d = emit_to_vec(r, payload, src, dst);
    const std::uint16_t c = static_cast<std::uint16_t>(std::to_integer<int>(d[6]) << 8 |
                                                       std::to_integer<int>(d[7]));
    payload[6] = static_cast<std::byte>(c >> 8);
    payload[7] = static_cast<std::byte>(c);
    d = emit_to_vec(r, payload, src, dst);
    EXPECT_EQ(d[6], std::byte{0xff});
    EXPECT_EQ(d[7], std::byte{0xff});
    EXPECT_EQ(ref_residue(src, dst, d), 0);
    auto v = UdpView::check(d);
    ASSERT_TRUE(v);
    EXPECT_TRUE(v->verify_checksum(src, dst));
  }
}

TEST(UdpRepr, RoundTripsAndPrependsIntoPacketBuf) {
  BufPool pool;
  for (const auto& [src, dst] : {std::pair{kSrc4, kDst4}, std::pair{kSrc6, kDst6}}) {
    for (std::size_t plen : {0u, 1u, 7u, 64u, 1471u}) {
      Buf payload(plen);
      for (std::size_t i = 0; i < plen; ++i) payload[i] = static_cast<std::byte>(i * 13 + 1);
      PacketBuf pb = pool.copy_of(payload);
      ASSERT_TRUE(pb.valid());
      const UdpRepr r{Port{static_cast<std::uint16_t>(plen + 1)}, Port{443},
                      static_cast<std::uint16_t>(plen)};
      const Bytes pl = pb.view();
      r.emit(pb.prepend(UdpRepr::size()), pl, src, dst);
      Buf d(pb.view().begin(), pb.view().end());
      EXPECT_EQ(ref_residue(src, dst, d), 0) << plen;
      EXPECT_EQ(d, emit_to_vec(r, payload, src, dst));  // same bytes from separate buffers
      auto v = UdpView::check(d);
      ASSERT_TRUE(v);
      auto back = UdpRepr::parse(*v, src, dst);
      ASSERT_TRUE(back);
      EXPECT_EQ(*back, r);
      EXPECT_TRUE(std::equal(v->payload().begin(), v->payload().end(), payload.begin(), payload.end()));
    }
  }
}

TEST(UdpRepr, EmitFromNonContiguousPayload) {
  Buf payload = hex("00112233445566778899");
  Buf header(8);
  const UdpRepr r{Port{1}, Port{2}, 10};
  r.emit(header, payload, kSrc4, kDst4);
  Buf d = header;
  d.insert(d.end(), payload.begin(), payload.end());
  EXPECT_EQ(ref_residue(kSrc4, kDst4, d), 0);
}

}  // namespace
}  // namespace tunstack::wire
