#include "nat/return_path.hpp"

#include <array>

#include "stack/udp/udp_out.hpp"
#include "stack/wire/icmpv4.hpp"
#include "stack/wire/icmpv6.hpp"
#include "stack/wire/ipv4.hpp"
#include "stack/wire/ipv6.hpp"
#include "stack/wire/udp.hpp"

namespace tunstack::nat {
namespace {

icmp::ErrorKind kind_of(dispatch::RemoteError::Kind k) {
  using K = dispatch::RemoteError::Kind;
  switch (k) {
    case K::PortUnreachable: return icmp::ErrorKind::PortUnreachable;
    case K::HostUnreachable: return icmp::ErrorKind::HostUnreachable;
    case K::NetUnreachable: return icmp::ErrorKind::NetUnreachable;
    case K::AdminProhibited: return icmp::ErrorKind::AdminProhibited;
    case K::PacketTooBig: return icmp::ErrorKind::PacketTooBig;
    case K::TimeExceeded: return icmp::ErrorKind::TimeExceeded;
    case K::Other: break;
  }
  return icmp::ErrorKind::HostUnreachable;
}

}  // namespace

bool ReturnPath::udp(const Endpoint& from, const Endpoint& to, PacketBuf payload) {
  udp::OutFields f{cfg_.mtu, cfg_.hop_limit, next_ident_++};
  auto n = udp::emit_datagram(std::move(payload), from, to, f, pool_, out_);
  if (!n) {
    switch (n.error()) {
      case udp::BuildError::NoBuffer: ++stats_.drop_no_buffer; break;
      case udp::BuildError::NoHeadroom: ++stats_.drop_no_headroom; break;
      case udp::BuildError::TooLarge:
      case udp::BuildError::FamilyMismatch: ++stats_.drop_too_large; break;
    }
    return false;
  }
  stats_.udp_packets += *n;
  if (*n > 1) ++stats_.udp_fragmented;
  return true;
}

bool ReturnPath::echo_reply(const IpAddr& from, const Endpoint& client, Bytes message) {
  std::uint16_t seq = 0;
  Bytes data;
  if (from.is_v4()) {
    auto v = wire::Icmpv4View::check(message);
    if (!v || v->type() != static_cast<std::uint8_t>(wire::Icmpv4Type::EchoReply)) {
      ++stats_.drop_bad_echo;
      return false;
    }
    seq = load_be16(message.data() + 6);
    data = v->body();
  } else {
    auto v = wire::Icmpv6View::check(message);
    if (!v || v->type() != static_cast<std::uint8_t>(wire::Icmpv6Type::EchoReply)) {
      ++stats_.drop_bad_echo;
      return false;
    }
    seq = load_be16(message.data() + 6);
    data = v->body();
  }
  // The outbound's ping socket rewrote the identifier; the client gets its own back.
  PacketBuf pkt = icmp::build_echo_reply(pool_, from, client.addr, client.port.value, seq, data, cfg_.hop_limit);
  if (!pkt.valid()) {
    ++stats_.drop_no_buffer;
    return false;
  }
  if (pkt.size() > cfg_.mtu) {
    ++stats_.drop_too_large;
    return false;
  }
  out_.emit(std::move(pkt));
  ++stats_.echo_replies;
  return true;
}

bool ReturnPath::icmp_error(Instant now, const dispatch::RemoteError& err, const Endpoint& client,
                            std::size_t sent_len, dispatch::Proto proto) {
  // Rebuild the invoking packet the way the client sent it, so its kernel can find the socket:
  // IP header client -> remote, then the UDP header (or the echo header for pings).
  std::array<std::byte, 48> quote{};
  const bool v4 = client.addr.is_v4();
  const std::size_t ip_len = v4 ? 20 : 40;
  const auto l4_len = static_cast<std::uint16_t>(std::min<std::size_t>(8 + sent_len, 0xffff - ip_len));
  MutBytes l4{quote.data() + ip_len, 8};
  std::optional<std::uint8_t> icmp_type;
  if (proto == dispatch::Proto::Icmp) {
    // Echo request header: type, code 0, checksum (not needed for matching), id, seq 0.
    const std::uint8_t type = v4 ? static_cast<std::uint8_t>(wire::Icmpv4Type::EchoRequest)
                                 : static_cast<std::uint8_t>(wire::Icmpv6Type::EchoRequest);
    store_u8(l4.data(), type);
    store_be16(l4.data() + 4, client.port.value);
    icmp_type = type;
  } else {
    wire::UdpRepr udp{client.port, err.remote.port, 0};
    udp.emit(l4, Bytes{}, client.addr, err.remote.addr);
    store_be16(l4.data() + 4, l4_len);  // the length the client really sent
  }
  const auto l4_proto = proto == dispatch::Proto::Icmp ? (v4 ? wire::IpProto::Icmp : wire::IpProto::Icmpv6)
                                                        : wire::IpProto::Udp;
  if (v4) {
    wire::Ipv4Repr ip;
    ip.src = client.addr.v4();
    ip.dst = err.remote.addr.v4();
    ip.protocol = l4_proto;
    ip.payload_len = l4_len;
    ip.emit(MutBytes{quote.data(), 20});
  } else {
    wire::Ipv6Repr ip;
    ip.src = client.addr.v6();
    ip.dst = err.remote.addr.v6();
    ip.next_header = l4_proto;
    ip.payload_len = l4_len;
    ip.emit(MutBytes{quote.data(), 40});
  }
  icmp::ErrorSpec spec;
  spec.kind = kind_of(err.kind);
  spec.mtu = err.mtu;
  // The error comes from the host that reported it when it is of the client's family.
  spec.reporter = err.reporter.version() == client.addr.version() ? err.reporter : err.remote.addr;
  spec.client = client.addr;
  spec.offending_icmp_type = icmp_type;
  return errors_.send(now, spec, Bytes{quote.data(), ip_len + 8});
}

}  // namespace tunstack::nat
