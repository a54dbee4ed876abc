// The host layer, sans-IO: real packets in (built with the stack's emitters or by hand), handler
// calls and emitted packets checked by parsing them back.
#include "stack/host.hpp"

#include <gtest/gtest.h>

#include <array>

#include "stack/checksum/checksum.hpp"
#include "stack/ip/fragment.hpp"
#include "stack/ip/ip_out.hpp"
#include "stack/wire/icmpv4.hpp"
#include "stack/wire/icmpv6.hpp"
#include "stack/wire/ipv4.hpp"
#include "stack/wire/ipv6.hpp"
#include "tests/support/packets.hpp"

namespace tunstack {
namespace {

using namespace tunstack::testing;
const Instant kT0 = instant_from_ns(1'000'000'000);

struct UdpSeen {
  Endpoint src, dst;
  std::string payload;
  std::size_t headroom = 0;
};

class RecordingUdp final : public UdpHandler {
 public:
  void on_udp(Instant, const Endpoint& s, const Endpoint& d, PacketBuf p) override {
    seen.push_back({s, d, to_string(p.view()), p.headroom()});
  }
  std::vector<UdpSeen> seen;
};

class RecordingEcho final : public EchoHandler {
 public:
  void on_echo_request(Instant, const Endpoint& c, const IpAddr& d, PacketBuf m) override {
    clients.push_back(c);
    dsts.push_back(d);
    sizes.push_back(m.size());
  }
  std::vector<Endpoint> clients;
  std::vector<IpAddr> dsts;
  std::vector<std::size_t> sizes;
};

struct HostTest : ::testing::Test {
  HostTest() : host_(HostConfig{}, pool_, out_) { host_.set_udp_handler(&udp_); }
  BufPool pool_;
  CaptureOutput out_;
  RecordingUdp udp_;
  Host host_;
};

TEST_F(HostTest, DeliversUdpOverBothFamiliesWithoutCopying) {
  host_.on_packet(kT0, udp_packet(pool_, ep("198.18.0.2:5000"), ep("198.19.0.1:53"), text("v4 query")));
  host_.on_packet(kT0, udp_packet(pool_, ep("[fd00::2]:5000"), ep("[fd00:1::1]:53"), text("v6 query")));
  ASSERT_EQ(udp_.seen.size(), 2u);
  EXPECT_EQ(udp_.seen[0].src, ep("198.18.0.2:5000"));
  EXPECT_EQ(udp_.seen[0].dst, ep("198.19.0.1:53"));
  EXPECT_EQ(udp_.seen[0].payload, "v4 query");
  EXPECT_GE(udp_.seen[0].headroom, 28u);  // the headers became headroom: room to answer in place
  EXPECT_EQ(udp_.seen[1].dst, ep("[fd00:1::1]:53"));
  EXPECT_EQ(udp_.seen[1].payload, "v6 query");
  EXPECT_EQ(host_.stats().udp_datagrams, 2u);
}

TEST_F(HostTest, CorruptUdpChecksumIsDroppedByReason) {
  PacketBuf p = udp_packet(pool_, ep("198.18.0.2:5000"), ep("198.19.0.1:53"), text("payload"));
  p.bytes()[p.size() - 1] ^= std::byte{0x01};
  host_.on_packet(kT0, std::move(p));
  EXPECT_TRUE(udp_.seen.empty());
  EXPECT_EQ(host_.stats().drop_parse[static_cast<std::size_t>(wire::ParseError::BadChecksum)], 1u);
}

TEST_F(HostTest, GarbageOfEveryLengthIsCountedNeverDelivered) {
  PacketBuf good = udp_packet(pool_, ep("198.18.0.2:5000"), ep("198.19.0.1:53"), text("0123456789"));
  const std::vector<std::byte> bytes(good.view().begin(), good.view().end());
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    host_.on_packet(kT0, pool_.copy_of(Bytes{bytes.data(), n}));
  }
  EXPECT_TRUE(udp_.seen.empty());
  std::uint64_t drops = host_.stats().drop_bad_version;
  for (auto d : host_.stats().drop_parse) drops += d;
  EXPECT_EQ(drops, bytes.size());  // every truncated packet landed in exactly one drop counter
  host_.on_packet(kT0, pool_.copy_of(Bytes{bytes.data(), bytes.size()}));
  EXPECT_EQ(udp_.seen.size(), 1u);
}

TEST_F(HostTest, ReassemblesFragmentedDatagrams) {
  std::string big(4000, 'z');
  PacketBuf whole = udp_packet(pool_, ep("198.18.0.2:5000"), ep("198.19.0.1:53"), text(big));
  std::array<PacketBuf, 16> frags;
  auto n = ip::fragment_v4(whole.view(), 1280, pool_, frags);
  ASSERT_TRUE(n.ok());
  ASSERT_GT(*n, 3u);
  for (std::size_t i = *n; i-- > 0;) host_.on_packet(kT0, std::move(frags[i]));  // reverse order
  ASSERT_EQ(udp_.seen.size(), 1u);
  EXPECT_EQ(udp_.seen[0].payload, big);
}

TEST_F(HostTest, AnswersPingLocallyWithoutAnEchoHandler) {
  PacketBuf req = icmp::build_echo_reply(pool_, addr("198.18.0.2"), addr("198.19.0.1"), 77, 3, text("abc"), 64);
  // build_echo_reply makes a reply; turn it into a request (type 8) with a fixed checksum.
  auto bytes = req.bytes();
  store_u8(bytes.data() + 20, 8);
  store_be16(bytes.data() + 22, 0);
  store_be16(bytes.data() + 22, checksum::internet(Bytes{bytes.data() + 20, bytes.size() - 20}));
  host_.on_packet(kT0, std::move(req));
  ASSERT_EQ(out_.packets.size(), 1u);
  auto ip4 = wire::Ipv4View::check(out_.packets[0].view());
  ASSERT_TRUE(ip4.ok());
  EXPECT_EQ(IpAddr{ip4->src()}, addr("198.19.0.1"));
  EXPECT_EQ(IpAddr{ip4->dst()}, addr("198.18.0.2"));
  auto icmp = wire::Icmpv4View::check(ip4->payload());
  ASSERT_TRUE(icmp.ok());
  EXPECT_TRUE(icmp->verify_checksum());
  EXPECT_EQ(icmp->type(), 0);
  EXPECT_EQ(icmp->echo_id(), 77);
  EXPECT_EQ(icmp->echo_seq(), 3);
  EXPECT_EQ(to_string(icmp->body()), "abc");
}

TEST_F(HostTest, ForwardsPingsToTheEchoHandlerKeyedByIdentifier) {
  RecordingEcho echo;
  host_.set_echo_handler(&echo);
  PacketBuf req = icmp::build_echo_reply(pool_, addr("fd00::2"), addr("fd00:1::1"), 4242, 1, text("data"), 64);
  auto bytes = req.bytes();
  store_u8(bytes.data() + 40, 128);  // echo request
  store_be16(bytes.data() + 42, 0);
  const std::uint64_t ph = checksum::pseudo_header_v6(*Ip6Addr::parse("fd00::2"), *Ip6Addr::parse("fd00:1::1"), 58,
                                                      static_cast<std::uint32_t>(bytes.size() - 40));
  store_be16(bytes.data() + 42, checksum::finish(checksum::add(Bytes{bytes.data() + 40, bytes.size() - 40}, ph)));
  host_.on_packet(kT0, std::move(req));
  ASSERT_EQ(echo.clients.size(), 1u);
  EXPECT_EQ(echo.clients[0], ep("[fd00::2]:4242"));
  EXPECT_EQ(echo.dsts[0], addr("fd00:1::1"));
  EXPECT_EQ(echo.sizes[0], 8u + 4u);
  EXPECT_TRUE(out_.packets.empty());
}

TEST_F(HostTest, UnknownProtocolGetsIcmpProtocolUnreachable) {
  PacketBuf p = pool_.alloc(100);
  wire::Ipv4Repr r;
  r.src = *Ip4Addr::parse("198.18.0.2");
  r.dst = *Ip4Addr::parse("198.19.0.1");
  r.protocol = static_cast<wire::IpProto>(253);  // RFC 3692 experimental
  r.payload_len = 8;
  r.emit(p.append(28));
  host_.on_packet(kT0, std::move(p));
  EXPECT_EQ(host_.stats().drop_unknown_proto, 1u);
  ASSERT_EQ(out_.packets.size(), 1u);
  auto ip4 = wire::Ipv4View::check(out_.packets[0].view());
  auto icmp = wire::Icmpv4View::check(ip4->payload());
  EXPECT_EQ(icmp->type(), 3);
  EXPECT_EQ(icmp->code(), 2);
}

TEST_F(HostTest, TcpWithoutAnEngineIsRefusedWithPortUnreachable) {
  PacketBuf p = pool_.alloc(100);
  auto seg = p.append(20);
  std::fill(seg.begin(), seg.end(), std::byte{0});
  store_be16(seg.data(), 40000);
  store_be16(seg.data() + 2, 80);
  store_u8(seg.data() + 12, 5 << 4);
  store_u8(seg.data() + 13, 0x02);  // SYN
  const IpAddr s = addr("198.18.0.2"), d = addr("198.19.0.1");
  store_be16(seg.data() + 16, checksum::finish(checksum::add(seg, checksum::pseudo_header(s, d, 6, 20))));
  ASSERT_TRUE(ip::prepend_ip_header(p, s, d, wire::IpProto::Tcp, {}));
  host_.on_packet(kT0, std::move(p));
  ASSERT_EQ(out_.packets.size(), 1u);
  auto icmp = wire::Icmpv4View::check(wire::Ipv4View::check(out_.packets[0].view())->payload());
  EXPECT_EQ(icmp->type(), 3);
  EXPECT_EQ(icmp->code(), 3);
}

TEST_F(HostTest, MulticastAndMartiansAreDroppedSilently) {
  host_.on_packet(kT0, udp_packet(pool_, ep("198.18.0.2:5353"), ep("224.0.0.251:5353"), text("mdns")));
  host_.on_packet(kT0, udp_packet(pool_, ep("[fd00::2]:5353"), ep("[ff02::fb]:5353"), text("mdns")));
  host_.on_packet(kT0, udp_packet(pool_, ep("127.0.0.1:1"), ep("198.19.0.1:53"), text("spoof")));
  EXPECT_TRUE(udp_.seen.empty());
  EXPECT_TRUE(out_.packets.empty());
  EXPECT_EQ(host_.stats().drop_multicast, 2u);
  EXPECT_EQ(host_.stats().drop_martian_source, 1u);
}

TEST_F(HostTest, IcmpErrorsAreRateLimited) {
  HostConfig cfg;
  cfg.icmp_errors.rate_per_sec = 10;
  cfg.icmp_errors.burst = 5;
  Host host(cfg, pool_, out_);  // no UDP handler: every datagram earns a port unreachable
  for (int i = 0; i < 50; ++i)
    host.on_packet(kT0, udp_packet(pool_, ep("198.18.0.2:5000"), ep("198.19.0.1:53"), text("x")));
  EXPECT_EQ(out_.packets.size(), 5u);
  EXPECT_EQ(host.icmp_errors().stats().rate_limited, 45u);
  host.on_packet(kT0 + std::chrono::milliseconds(1000),
                 udp_packet(pool_, ep("198.18.0.2:5000"), ep("198.19.0.1:53"), text("x")));
  EXPECT_EQ(out_.packets.size(), 6u);
}

}  // namespace
}  // namespace tunstack
