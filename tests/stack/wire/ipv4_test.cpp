#include "stack/wire/ipv4.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string_view>
#include <vector>

#include "stack/checksum/checksum.hpp"
#include "tests/support/hex.hpp"

namespace tunstack::wire {
namespace {

using testing::Buf;
using testing::hex;

Bytes view(const Buf& b) { return {b.data(), b.size()}; }

/// A datagram: the repr's header followed by payload_len bytes of a counting pattern.
Buf build(const Ipv4Repr& r) {
  Buf b(r.total_len());
  r.emit(MutBytes{b.data(), b.size()});
  for (std::size_t i = r.header_len(); i < b.size(); ++i) b[i] = static_cast<std::byte>(i * 7);
  return b;
}

// The classic example header (UDP, 192.168.0.1 -> 192.168.0.199, checksum 0xb861).
constexpr std::string_view kExampleHeader =
    "45 00 00 73 00 00 40 00 40 11 b8 61 c0 a8 00 01 c0 a8 00 c7";

Buf example_datagram() {
  Buf b = hex(kExampleHeader);
  b.resize(0x73, std::byte{0x5a});
  return b;
}

TEST(Ipv4View, ReadsAKnownHeader) {
  const Buf b = example_datagram();
  auto v = Ipv4View::check(view(b));
  ASSERT_TRUE(v);
  EXPECT_EQ(v->version(), 4);
  EXPECT_EQ(v->ihl(), 5);
  EXPECT_EQ(v->header_len(), 20u);
  EXPECT_EQ(v->dscp(), 0);
  EXPECT_EQ(v->ecn(), 0);
  EXPECT_EQ(v->total_length(), 0x73);
  EXPECT_EQ(v->ident(), 0);
  EXPECT_TRUE(v->dont_frag());
  EXPECT_FALSE(v->more_frags());
  EXPECT_EQ(v->frag_offset(), 0);
  EXPECT_FALSE(v->is_fragment());
  EXPECT_EQ(v->ttl(), 64);
  EXPECT_EQ(v->protocol(), IpProto::Udp);
  EXPECT_EQ(v->protocol_raw(), 17);
  EXPECT_EQ(v->checksum(), 0xb861);
  EXPECT_EQ(v->src(), *Ip4Addr::parse("192.168.0.1"));
  EXPECT_EQ(v->dst(), *Ip4Addr::parse("192.168.0.199"));
  EXPECT_TRUE(v->options().empty());
  EXPECT_EQ(v->header().size(), 20u);
  EXPECT_EQ(v->payload().size(), 0x73u - 20);
  EXPECT_TRUE(v->checksum_ok());
}

TEST(Ipv4Repr, EmitReproducesTheKnownHeaderByteForByte) {
  const Buf b = example_datagram();
  auto r = Ipv4Repr::parse(*Ipv4View::check(view(b)));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->payload_len, 0x73 - 20);
  Buf out(r->header_len());
  r->emit(MutBytes{out.data(), out.size()});
  EXPECT_EQ(out, hex(kExampleHeader));
}

TEST(Ipv4View, ReadsAKernelLikeFragmentWithOptionsAndEcn) {
  // IHL 6 with a Router Alert option (94 04 00 00), DSCP 46 (EF) + ECT(0), MF set, offset 185*8.
  Ipv4Repr r;
  r.src = *Ip4Addr::parse("10.0.0.1");
  r.dst = *Ip4Addr::parse("10.0.0.2");
  r.protocol = IpProto::Udp;
  r.ttl = 63;
  r.dscp_ecn = (46 << 2) | 2;
  r.ident = 0xbeef;
  r.more_frags = true;
  r.frag_offset = 185 * 8;
  r.payload_len = 1480;
  ASSERT_TRUE(r.options.assign(view(hex("94 04 00 00"))));
  const Buf b = build(r);
  EXPECT_EQ(b[0], std::byte{0x46});
  EXPECT_EQ(load_be16(b.data() + 6), 0x2000 | 185);  // flags and offset field as on the wire
  auto v = Ipv4View::check(view(b));
  ASSERT_TRUE(v);
  EXPECT_EQ(v->dscp(), 46);
  EXPECT_EQ(v->ecn(), 2);
  EXPECT_EQ(v->ident(), 0xbeef);
  EXPECT_TRUE(v->more_frags());
  EXPECT_FALSE(v->dont_frag());
  EXPECT_EQ(v->frag_offset(), 1480);
  EXPECT_TRUE(v->is_fragment());
  EXPECT_EQ(v->header_len(), 24u);
  EXPECT_EQ(v->options().size(), 4u);
  EXPECT_TRUE(v->checksum_ok());
  auto back = Ipv4Repr::parse(*v);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, r);
}

TEST(Ipv4View, RejectsEveryTruncation) {
  Ipv4Repr r;
  ASSERT_TRUE(r.options.assign(view(hex("01 01 94 04 00 00 01 00"))));
  r.payload_len = 30;
  const Buf b = build(r);
  ASSERT_TRUE(Ipv4View::check(view(b)));
  for (std::size_t n = 0; n < b.size(); ++n) {
    auto v = Ipv4View::check(Bytes{b.data(), n});
    ASSERT_FALSE(v) << n;
    EXPECT_EQ(v.error(), ParseError::Truncated) << n;
  }
}

TEST(Ipv4View, RejectsBadVersionIhlAndTotalLength) {
  Buf b = example_datagram();
  b[0] = std::byte{0x65};
  EXPECT_EQ(Ipv4View::check(view(b)).error(), ParseError::BadVersion);
  for (int ihl = 0; ihl < 5; ++ihl) {
    b[0] = static_cast<std::byte>(0x40 | ihl);
    EXPECT_EQ(Ipv4View::check(view(b)).error(), ParseError::BadHeaderLength) << ihl;
  }
  b[0] = std::byte{0x4f};  // 60-byte header, but total_length 0x73 is fine
  EXPECT_TRUE(Ipv4View::check(view(b)));
  store_be16(b.data() + 2, 59);  // total below the header length
  EXPECT_EQ(Ipv4View::check(view(b)).error(), ParseError::BadTotalLength);
  b[0] = std::byte{0x45};
  store_be16(b.data() + 2, 19);
  EXPECT_EQ(Ipv4View::check(view(b)).error(), ParseError::BadTotalLength);
  store_be16(b.data() + 2, static_cast<std::uint16_t>(b.size() + 1));
  EXPECT_EQ(Ipv4View::check(view(b)).error(), ParseError::Truncated);
}

TEST(Ipv4View, CutsTrailingBytesAtTotalLength) {
  Buf b = example_datagram();
  b.resize(b.size() + 13, std::byte{0xee});  // e.g. link padding
  auto v = Ipv4View::check(view(b));
  ASSERT_TRUE(v);
  EXPECT_EQ(v->bytes().size(), 0x73u);
  EXPECT_EQ(v->payload().size(), 0x73u - 20);
  store_be16(b.data() + 2, 20);  // header only
  v = Ipv4View::check(view(b));
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->payload().empty());
}

TEST(Ipv4View, ChecksumOkDetectsEverySingleBitFlipInTheHeader) {
  const Buf good = example_datagram();
  for (std::size_t bit = 0; bit < 20 * 8; ++bit) {
    Buf b = good;
    b[bit / 8] ^= static_cast<std::byte>(1u << (bit % 8));
    auto v = Ipv4View::check(view(b));
    if (!v) continue;  // version/IHL/length bits: refused before the checksum
    EXPECT_FALSE(v->checksum_ok()) << bit;
    EXPECT_EQ(Ipv4Repr::parse(*v).error(), ParseError::BadChecksum) << bit;
    // (A changed IHL turns payload bytes into garbage options; every other flip still parses.)
    if (bit >= 8) {
      EXPECT_TRUE(Ipv4Repr::parse(*v, /*verify_checksum=*/false)) << bit;
    }
  }
}

TEST(Ipv4OptionReader, WalksNopTlvAndStopsAtEndOfList) {
  // NOP, Record Route (07 07 04 + 4 bytes), NOP, LSRR (83 03 04 truncated value is fine: len 3),
  // EOL, then padding that must not be read as options.
  const Buf opts = hex("01 07 07 04 0a 00 00 01 01 83 03 04 00 ff ff");
  Ipv4OptionReader rd(view(opts));
  std::vector<std::uint8_t> types;
  std::vector<std::size_t> lens;
  for (;;) {
    auto o = rd.next();
    ASSERT_TRUE(o);
    if (!*o) break;
    types.push_back((*o)->type);
    lens.push_back((*o)->length);
    EXPECT_EQ((*o)->raw.size(), (*o)->length);
    if ((*o)->type == 7) {
      ASSERT_EQ((*o)->data.size(), 5u);
      EXPECT_EQ((*o)->data[0], std::byte{0x04});
      EXPECT_FALSE((*o)->copied());
    }
    if ((*o)->type == 0x83) {
      EXPECT_TRUE((*o)->copied());
    }
  }
  EXPECT_EQ(types, (std::vector<std::uint8_t>{1, 7, 1, 0x83}));
  EXPECT_EQ(lens, (std::vector<std::size_t>{1, 7, 1, 3}));
  EXPECT_TRUE(Ipv4OptionReader::validate(view(opts)));
}

TEST(Ipv4OptionReader, CopiedFlagFollowsRfc791) {
  EXPECT_TRUE(ipv4_option_copied(0x94));   // Router Alert
  EXPECT_TRUE(ipv4_option_copied(0x83));   // Loose Source Route
  EXPECT_TRUE(ipv4_option_copied(0x89));   // Strict Source Route
  EXPECT_FALSE(ipv4_option_copied(0x07));  // Record Route
  EXPECT_FALSE(ipv4_option_copied(0x44));  // Timestamp
  EXPECT_FALSE(ipv4_option_copied(0x01));  // NOP
}

TEST(Ipv4OptionReader, RejectsMalformedOptions) {
  for (std::string_view bad : {
           "07",           // no length byte
           "01 01 07",     // no length byte after NOPs
           "07 00 00 00",  // length 0
           "07 01 00 00",  // length 1
           "07 05 00 00",  // runs past the area
           "01 94 09 00 00 00 00 00",  // runs past by one
       }) {
    const Buf b = hex(bad);
    EXPECT_EQ(Ipv4OptionReader::validate(view(b)).error(), ParseError::BadOption) << bad;
    Ipv4OptionReader rd(view(b));
    bool failed = false;
    for (int i = 0; i < 10 && !failed; ++i) {
      auto o = rd.next();
      if (!o) failed = true;
      else if (!*o) break;
    }
    EXPECT_TRUE(failed) << bad;
    auto after = rd.next();  // the reader stays at the end after an error
    ASSERT_TRUE(after);
    EXPECT_FALSE(*after);
  }
  EXPECT_TRUE(Ipv4OptionReader::validate({}));
  const Buf exact = hex("94 04 00 00");
  EXPECT_TRUE(Ipv4OptionReader::validate(view(exact)));
}

TEST(Ipv4Repr, ParseRejectsMalformedOptionsInAValidHeader) {
  Ipv4Repr r;
  ASSERT_TRUE(r.options.assign(view(hex("07 09 00 00"))));  // length 9 in a 4-byte area
  const Buf b = build(r);
  auto v = Ipv4View::check(view(b));
  ASSERT_TRUE(v);
  ASSERT_TRUE(v->checksum_ok());
  EXPECT_EQ(Ipv4Repr::parse(*v).error(), ParseError::BadOption);
}

TEST(Ipv4Repr, PadsOptionsToFourBytesWithEndOfList) {
  Ipv4Repr r;
  ASSERT_TRUE(r.options.assign(view(hex("01 01 01 01 01"))));
  EXPECT_EQ(r.header_len(), 28u);
  Buf b(28, std::byte{0xcc});
  r.emit(MutBytes{b.data(), b.size()});
  EXPECT_EQ(b[0], std::byte{0x47});
  for (std::size_t i = 25; i < 28; ++i) EXPECT_EQ(b[i], std::byte{0}) << i;
  EXPECT_TRUE(checksum::verify(view(b)));
}

TEST(Ipv4Options, EnforcesTheFortyByteCapacity) {
  Ipv4Options o;
  const Buf forty(40, std::byte{1});
  const Buf one(1, std::byte{1});
  EXPECT_TRUE(o.assign(view(forty)));
  EXPECT_FALSE(o.append(view(one)));
  EXPECT_EQ(o.size(), 40u);
  const Buf fortyone(41, std::byte{1});
  EXPECT_FALSE(o.assign(view(fortyone)));
  EXPECT_EQ(o.size(), 40u);
  o.clear();
  EXPECT_TRUE(o.empty());
  EXPECT_TRUE(o.append(view(one)));
  EXPECT_EQ(o.padded_size(), 4u);
}

/// Random valid options: NOPs and TLVs with random types (never EOL, so all bytes are read).
Ipv4Options random_options(std::mt19937& rng) {
  Ipv4Options o;
  const std::size_t budget = rng() % 41;
  Buf b;
  while (b.size() < budget) {
    const std::size_t left = budget - b.size();
    if (left < 2 || rng() % 4 == 0) {
      b.push_back(std::byte{1});
      continue;
    }
    const std::size_t len = 2 + rng() % (left - 1);
    b.push_back(static_cast<std::byte>(2 + rng() % 254));
    b.push_back(static_cast<std::byte>(len));
    for (std::size_t i = 2; i < len; ++i) b.push_back(static_cast<std::byte>(rng()));
  }
  // Pad to 4 with NOPs so that the parsed options compare equal byte for byte.
  while (b.size() % 4 != 0) b.push_back(std::byte{1});
  if (!o.assign(view(b))) o.clear();
  return o;
}

TEST(Ipv4Repr, RandomRoundTrips) {
  std::mt19937 rng(0x1b4);
  for (int iter = 0; iter < 2000; ++iter) {
    Ipv4Repr r;
    r.src = Ip4Addr::from_host(static_cast<std::uint32_t>(rng()));
    r.dst = Ip4Addr::from_host(static_cast<std::uint32_t>(rng()));
    r.protocol = static_cast<IpProto>(rng() & 0xff);
    r.ttl = static_cast<std::uint8_t>(rng());
    r.dscp_ecn = static_cast<std::uint8_t>(rng());
    r.ident = static_cast<std::uint16_t>(rng());
    r.dont_frag = rng() & 1;
    r.more_frags = rng() & 1;
    r.frag_offset = static_cast<std::uint16_t>((rng() % 8192) * 8);
    r.options = random_options(rng);
    r.payload_len = static_cast<std::uint16_t>(rng() % (65536 - r.header_len()));
    const Buf b = build(r);
    auto v = Ipv4View::check(view(b));
    ASSERT_TRUE(v) << iter;
    auto back = Ipv4Repr::parse(*v);
    ASSERT_TRUE(back) << iter;
    ASSERT_EQ(*back, r) << iter;
    Buf again(back->header_len());
    back->emit(MutBytes{again.data(), again.size()});
    ASSERT_TRUE(std::equal(again.begin(), again.end(), b.begin())) << iter;
  }
}

}  // namespace
}  // namespace tunstack::wire
