#pragma once
// IP protocol / IPv6 next-header numbers (IANA "Assigned Internet Protocol Numbers").
#include <cstdint>

namespace tunstack::wire {

/// An IPv4 protocol or IPv6 next-header value.
enum class IpProto : std::uint8_t {
  HopByHop = 0,
  Icmp = 1,
  Tcp = 6,
  Udp = 17,
  Ipv6Route = 43,
  Ipv6Frag = 44,
  Esp = 50,
  Ah = 51,
  Icmpv6 = 58,
  Ipv6NoNext = 59,
  Ipv6Opts = 60,
};

}  // namespace tunstack::wire
