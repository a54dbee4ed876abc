// Real packets built by the Linux kernel: the IP header checksum and the UDP / TCP / ICMP /
// ICMPv6 checksum (with the RFC 768 / RFC 9293 §3.1 / RFC 8200 §8.1 pseudo-header) must verify
// with every implementation, and recomputing each from scratch must give the kernel's value.
//
// How they were captured (Linux 6.x, as root, nothing routed off the machine): two throw-away
// namespaces csumcap1/csumcap2 joined by a veth pair, 198.18.99.1/24 + fd00:99::1/64 and
// 198.18.99.2/24 + fd00:99::2/64, only connected routes. Checksum offload was switched off on both
// ends (`ethtool -K csumvethN tx off rx off`), because veth otherwise hands over CHECKSUM_PARTIAL
// packets whose checksum field holds only the pseudo-header sum. In csumcap1 a python3 script sent
// UDP datagrams (odd and even payloads) and made a TCP connection carrying one HTTP request to a
// python3 listener in csumcap2, over IPv4 and IPv6, then `ping -c1 -s 33` and `ping -6 -c1 -s 41`.
// A python3 AF_PACKET socket on csumveth2 recorded both directions (the Ethernet header is
// stripped below); every packet was checked with an independent python3 RFC 1071 sum before being
// embedded. The namespaces were deleted afterwards.
#include <gtest/gtest.h>

#include <string_view>
#include <vector>

#include "stack/checksum/checksum.hpp"
#include "stack/wire/ip_proto.hpp"

namespace tunstack::checksum {
namespace {

/// One captured IP packet (no link-layer header), as hex.
struct Captured {
  const char* name;
  const char* hex;
};

constexpr Captured kPackets[] = {
    {"ipv4_udp_odd",  // UDP, 35-byte payload (odd)
     "4500003f8ef940004011598cc6126301c6126302af70270f002bf7bb74756e737461636b20636865"
     "636b73756d20746573742c206f6464206c656e67746821"},
    {"ipv4_icmp_port_unreachable",  // ICMP port unreachable quoting the datagram above
     "45c0005bca20000040015d99c6126302c612630103034f62000000004500003f8ef940004011598c"
     "c6126301c6126302af70270f002bf7bb74756e737461636b20636865636b73756d20746573742c20"
     "6f6464206c656e67746821"},
    {"ipv4_tcp_syn",  // TCP SYN: MSS, SACK-ok, timestamps, wscale
     "4500003cc48540004006240ec6126301c6126302c4981f901117727d00000000a002faf00edf0000"
     "020405b40402080a6e5d15ea000000000103030a"},
    {"ipv4_tcp_syn_ack",  // IPv4 TCP SYN-ACK from the listener
     "4500003c000040004006e893c6126302c61263011f90c498a64340f81117727ea012fe881a350000"
     "020405b40402080a062c03996e5d15ea0103030a"},
    {"ipv4_tcp_data",  // IPv4 TCP segment with a 30-byte HTTP request
     "45000052c4874000400623f6c6126301c6126302c4981f901117727ea64340f98018003f8c970000"
     "0101080a6e5d15eb062c0399474554202f20485454502f312e310d0a486f73743a206373756d0d0a"
     "0d0a"},
    {"ipv4_tcp_data_odd",  // IPv4 TCP segment with a 27-byte reply (odd length)
     "4500004f39ea40004006ae96c6126302c61263011f90c498a64340f91117729c80180040cdc20000"
     "0101080a062c03996e5d15eb485454502f312e3120323034204e6f20436f6e74656e740d0a0d0a"},
    {"ipv4_icmp_echo_odd",  // IPv4 ICMP echo request, 33 bytes of data (ping -s 33)
     "6000000000203afffd000099000000000000000000000001ff0200000000000000000001ff000002"
     "870083db00000000fd0000990000000000000000000000020101cabe4c9ae331"},
    {"ipv6_icmpv6_neighbor_solicit",  // ICMPv6 neighbour solicitation
     "6001b8fa002b1140fd000099000000000000000000000001fd000099000000000000000000000002"
     "938c270f002b6a9274756e737461636b20636865636b73756d20746573742c206f6464206c656e67"
     "746821"},
    {"ipv6_udp_odd",  // UDP, 35-byte payload (odd)
     "600034a200280640fd000099000000000000000000000001fd000099000000000000000000000002"
     "d12c1f9045ce379000000000a002fd20e1950000020405a00402080afbdb042d000000000103030a"},
    {"ipv6_tcp_syn",  // IPv6 TCP SYN with options
     "600034a2003e0640fd000099000000000000000000000001fd000099000000000000000000000002"
     "d12c1f9045ce3791b28bc63080180040362c00000101080afbdb042d3b0e6875474554202f204854"
     "54502f312e310d0a486f73743a206373756d0d0a0d0a"},
    {"ipv6_tcp_data",  // IPv6 TCP segment with a 30-byte HTTP request
     "60075314003b0640fd000099000000000000000000000002fd000099000000000000000000000001"
     "1f90d12cb28bc63045ce37af8018003f775800000101080a3b0e6876fbdb042d485454502f312e31"
     "20323034204e6f20436f6e74656e740d0a0d0a"},
    {"ipv6_tcp_data_odd",  // IPv6 TCP segment with a 27-byte reply (odd length)
     "4500003d454240004001a355c6126301c6126302080013fc7e140001747e036b0000000013440200"
     "00000000101112131415161718191a1b1c1d1e1f20"},
    {"ipv6_icmpv6_echo_request_odd",  // ICMPv6 echo request, 41 bytes of data (ping -6 -s 41)
     "600981df00313a40fd000099000000000000000000000001fd000099000000000000000000000002"
     "800076807e150001747e036b00000000a78b030000000000101112131415161718191a1b1c1d1e1f"
     "202122232425262728"},
    {"ipv6_icmpv6_echo_reply_odd",  // ICMPv6 echo reply to it
     "600ea7ab00313a40fd000099000000000000000000000002fd000099000000000000000000000001"
     "810075807e150001747e036b00000000a78b030000000000101112131415161718191a1b1c1d1e1f"
     "202122232425262728"},
};

constexpr auto kIcmp = static_cast<std::uint8_t>(wire::IpProto::Icmp);
constexpr auto kTcp = static_cast<std::uint8_t>(wire::IpProto::Tcp);
constexpr auto kUdp = static_cast<std::uint8_t>(wire::IpProto::Udp);

std::vector<std::byte> from_hex(std::string_view hex) {
  auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  std::vector<std::byte> out(hex.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<std::byte>(nibble(hex[2 * i]) * 16 + nibble(hex[2 * i + 1]));
  }
  return out;
}

/// Where the upper-layer checksum field lives (RFC 768, RFC 9293 §3.1, RFC 792, RFC 4443 §2.1).
std::size_t checksum_offset(std::uint8_t proto) {
  switch (proto) {
    case kUdp:
      return 6;
    case kTcp:
      return 16;
    default:
      return 2;  // ICMP and ICMPv6
  }
}

/// The parts of a captured packet that the checksums cover.
struct Parsed {
  Bytes ip_header;      // empty for IPv6, which has no header checksum
  Bytes upper;          // the transport segment / ICMP message
  std::uint8_t proto;
  std::uint64_t pseudo;  // 0 for ICMPv4, whose checksum has no pseudo-header
  std::uint64_t pseudo_generic;  // the same through pseudo_header(IpAddr, ...)
};

Parsed parse(const std::vector<std::byte>& p) {
  Parsed r{};
  if ((load_u8(p.data()) >> 4) == 4) {
    const std::size_t ihl = (load_u8(p.data()) & 0x0fu) * 4u;
    const std::size_t total = load_be16(p.data() + 2);
    r.ip_header = Bytes(p).first(ihl);
    r.upper = Bytes(p).subspan(ihl, total - ihl);
    r.proto = load_u8(p.data() + 9);
    const Ip4Addr src = Ip4Addr::load(p.data() + 12), dst = Ip4Addr::load(p.data() + 16);
    const auto len = static_cast<std::uint16_t>(r.upper.size());
    if (r.proto != kIcmp) {
      r.pseudo = pseudo_header_v4(src, dst, r.proto, len);
      r.pseudo_generic = pseudo_header(IpAddr(src), IpAddr(dst), r.proto, len);
    }
  } else {
    r.upper = Bytes(p).subspan(40, load_be16(p.data() + 4));
    r.proto = load_u8(p.data() + 6);  // no extension headers in these captures
    const Ip6Addr src = Ip6Addr::load(p.data() + 8), dst = Ip6Addr::load(p.data() + 24);
    const auto len = static_cast<std::uint32_t>(r.upper.size());
    r.pseudo = pseudo_header_v6(src, dst, r.proto, len);
    r.pseudo_generic = pseudo_header(IpAddr(src), IpAddr(dst), r.proto, len);
  }
  return r;
}

using AddFn = std::uint64_t (*)(Bytes, std::uint64_t);

std::vector<AddFn> impls() {
  std::vector<AddFn> v{&add, &add_portable};
  if (cpu_supports(Impl::Avx2)) v.push_back(&add_avx2);
  if (cpu_supports(Impl::Avx512)) v.push_back(&add_avx512);
  return v;
}

TEST(ChecksumRealPackets, VerifyWithEveryImplementation) {
  for (const Captured& c : kPackets) {
    const auto bytes = from_hex(c.hex);
    const Parsed p = parse(bytes);
    EXPECT_EQ(p.pseudo, p.pseudo_generic) << c.name;
    for (AddFn fn : impls()) {
      if (!p.ip_header.empty()) {
        EXPECT_EQ(fold(fn(p.ip_header, 0)), 0xffff) << c.name;
      }
      EXPECT_EQ(fold(fn(p.upper, p.pseudo)), 0xffff) << c.name;
    }
    EXPECT_TRUE(verify(p.upper, p.pseudo)) << c.name;
  }
}

TEST(ChecksumRealPackets, RecomputingGivesTheKernelsValue) {
  for (const Captured& c : kPackets) {
    auto bytes = from_hex(c.hex);
    const Parsed p = parse(bytes);
    const std::size_t ip_len = p.ip_header.size() != 0 ? p.ip_header.size() : 40;
    if (!p.ip_header.empty()) {
      const std::uint16_t kernel = load_be16(bytes.data() + 10);
      store_be16(bytes.data() + 10, 0);
      EXPECT_EQ(internet(Bytes(bytes).first(ip_len)), kernel) << c.name;
    }
    std::byte* field = bytes.data() + ip_len + checksum_offset(p.proto);
    const std::uint16_t kernel = load_be16(field);
    store_be16(field, 0);
    EXPECT_EQ(finish(add(Bytes(bytes).subspan(ip_len, p.upper.size()), p.pseudo)), kernel)
        << c.name;
  }
}

TEST(ChecksumRealPackets, IncrementalNatRewriteMatchesRecomputation) {
  // What a NAT does: rewrite the IPv4 source address and the source port, updating both the IP
  // and the transport checksum incrementally (RFC 1624; the address is in the pseudo-header).
  for (const Captured& c : kPackets) {
    auto bytes = from_hex(c.hex);
    if ((load_u8(bytes.data()) >> 4) != 4) continue;
    const Parsed before = parse(bytes);
    if (before.proto != kTcp && before.proto != kUdp) continue;
    const std::size_t ihl = before.ip_header.size();
    std::byte* l4 = bytes.data() + ihl;
    const std::uint32_t old_addr = load_be32(bytes.data() + 12), new_addr = 0xc612fffe;
    const std::uint16_t old_port = load_be16(l4), new_port = 61000;
    const std::size_t off = checksum_offset(before.proto);
    store_be16(bytes.data() + 10, update32(load_be16(bytes.data() + 10), old_addr, new_addr));
    store_be16(l4 + off, update16(update32(load_be16(l4 + off), old_addr, new_addr), old_port,
                                  new_port));
    store_be32(bytes.data() + 12, new_addr);
    store_be16(l4, new_port);
    const Parsed after = parse(bytes);
    EXPECT_TRUE(verify(after.ip_header)) << c.name;
    EXPECT_TRUE(verify(after.upper, after.pseudo)) << c.name;
  }
}

}  // namespace
}  // namespace tunstack::checksum
