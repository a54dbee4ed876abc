#pragma once
// Prepends the IP header to a packet the stack originates: the L4 header and payload are already
// in the buffer, the IP header goes into its headroom (no copy).
#include <cstdint>

#include "stack/core/addr.hpp"
#include "stack/core/packet_buf.hpp"
#include "stack/wire/ip_proto.hpp"

namespace tunstack::ip {

/// Header fields of an originated packet that are not addresses or protocol.
struct OriginFields {
  std::uint8_t hop_limit = 64;
  std::uint16_t ident = 0;   ///< IPv4 identification (unused for IPv6)
  bool dont_frag = false;    ///< IPv4 DF
};

/// Bytes of IP header prepend_ip_header() writes for this family (no options/extensions).
constexpr std::size_t ip_header_len(IpVersion v) { return v == IpVersion::V4 ? 20 : 40; }

/// Writes an IPv4 or IPv6 header in front of the L4 bytes already in `pkt`. False when the
/// buffer lacks headroom, the families differ, or the result would exceed 65535 bytes.
[[nodiscard]] bool prepend_ip_header(PacketBuf& pkt, const IpAddr& src, const IpAddr& dst,
                                     wire::IpProto proto, const OriginFields& fields);

}  // namespace tunstack::ip
