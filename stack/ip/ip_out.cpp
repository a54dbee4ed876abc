#include "stack/ip/ip_out.hpp"

#include "stack/wire/ipv4.hpp"
#include "stack/wire/ipv6.hpp"

namespace tunstack::ip {

bool prepend_ip_header(PacketBuf& pkt, const IpAddr& src, const IpAddr& dst, wire::IpProto proto,
                       const OriginFields& fields) {
  if (src.version() != dst.version()) return false;
  const std::size_t hlen = ip_header_len(src.version());
  if (pkt.headroom() < hlen) return false;
  if (src.is_v4()) {
    if (pkt.size() + hlen > wire::kIpv4MaxTotalLen) return false;
    wire::Ipv4Repr r;
    r.src = src.v4();
    r.dst = dst.v4();
    r.protocol = proto;
    r.ttl = fields.hop_limit;
    r.ident = fields.ident;
    r.dont_frag = fields.dont_frag;
    r.payload_len = static_cast<std::uint16_t>(pkt.size());
    r.emit(pkt.prepend(hlen));
    return true;
  }
  if (pkt.size() > wire::kIpv6MaxPayloadLen) return false;
  wire::Ipv6Repr r;
  r.src = src.v6();
  r.dst = dst.v6();
  r.next_header = proto;
  r.hop_limit = fields.hop_limit;
  r.payload_len = static_cast<std::uint16_t>(pkt.size());
  r.emit(pkt.prepend(hlen));
  return true;
}

}  // namespace tunstack::ip
