#include "stack/udp/udp_out.hpp"

#include <array>

#include "stack/ip/fragment.hpp"
#include "stack/ip/ip_out.hpp"
#include "stack/wire/udp.hpp"

namespace tunstack::udp {

const char* to_string(BuildError e) {
  switch (e) {
    case BuildError::FamilyMismatch: return "family_mismatch";
    case BuildError::NoHeadroom: return "no_headroom";
    case BuildError::TooLarge: return "too_large";
    case BuildError::NoBuffer: return "no_buffer";
  }
  return "?";
}

Result<std::size_t, BuildError> emit_datagram(PacketBuf payload, const Endpoint& from,
                                              const Endpoint& to, const OutFields& fields,
                                              BufPool& pool, PacketOutput& out) {
  if (from.addr.version() != to.addr.version()) return Err{BuildError::FamilyMismatch};
  if (payload.size() > wire::kUdpMaxPayload) return Err{BuildError::TooLarge};
  const std::size_t ip_len = ip::ip_header_len(from.addr.version());
  if (payload.headroom() < wire::kUdpHeaderLen + ip_len) return Err{BuildError::NoHeadroom};

  const Bytes body = payload.view();
  wire::UdpRepr udp{from.port, to.port, static_cast<std::uint16_t>(body.size())};
  udp.emit(payload.prepend(wire::kUdpHeaderLen), body, from.addr, to.addr);
  // RFC 791: IPv4 datagrams we originate leave DF clear so that they can be fragmented here.
  ip::OriginFields f{fields.hop_limit, static_cast<std::uint16_t>(fields.ident), false};
  if (!ip::prepend_ip_header(payload, from.addr, to.addr, wire::IpProto::Udp, f))
    return Err{BuildError::TooLarge};

  if (payload.size() <= fields.mtu) {
    out.emit(std::move(payload));
    return std::size_t{1};
  }
  // Too big for the TUN: fragment. Each fragment is a fresh buffer (one copy of its share).
  std::array<PacketBuf, 128> frags;
  auto n = from.addr.is_v4()
               ? ip::fragment_v4(payload.view(), fields.mtu, pool, frags)
               : ip::fragment_v6(payload.view(), fields.mtu, fields.ident, pool, frags);
  if (!n) {
    if (n.error() == ip::FragmentError::NoBuffer) return Err{BuildError::NoBuffer};
    return Err{BuildError::TooLarge};
  }
  for (std::size_t i = 0; i < *n; ++i) out.emit(std::move(frags[i]));
  return *n;
}

}  // namespace tunstack::udp
