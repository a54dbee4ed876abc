#include "stack/icmp/icmp_out.hpp"

#include <cstring>

#include "stack/ip/ip_out.hpp"
#include "stack/wire/icmpv4.hpp"
#include "stack/wire/icmpv6.hpp"

namespace tunstack::icmp {
namespace {

wire::Icmpv4Repr v4_message(const ErrorSpec& s, Bytes quote) {
  using U = wire::Icmpv4Unreach;
  switch (s.kind) {
    case ErrorKind::NetUnreachable: return wire::Icmpv4Repr::dest_unreachable(U::Net, quote);
    case ErrorKind::HostUnreachable: return wire::Icmpv4Repr::dest_unreachable(U::Host, quote);
    case ErrorKind::ProtocolUnreachable: return wire::Icmpv4Repr::dest_unreachable(U::Protocol, quote);
    case ErrorKind::PortUnreachable: return wire::Icmpv4Repr::dest_unreachable(U::Port, quote);
    case ErrorKind::AdminProhibited: return wire::Icmpv4Repr::dest_unreachable(U::AdminProhibited, quote);
    case ErrorKind::PacketTooBig:
      return wire::Icmpv4Repr::frag_needed(static_cast<std::uint16_t>(std::min<std::uint32_t>(s.mtu, 0xffff)), quote);
    case ErrorKind::TimeExceeded:
      return wire::Icmpv4Repr::time_exceeded(wire::Icmpv4TimeExceededCode::TtlExceeded, quote);
    case ErrorKind::ReassemblyTimeout:
      return wire::Icmpv4Repr::time_exceeded(wire::Icmpv4TimeExceededCode::FragReassembly, quote);
    case ErrorKind::ParamProblem:
      return wire::Icmpv4Repr::param_problem(static_cast<std::uint8_t>(s.pointer), quote);
  }
  return wire::Icmpv4Repr::dest_unreachable(U::Host, quote);
}

wire::Icmpv6Repr v6_message(const ErrorSpec& s, Bytes quote) {
  using U = wire::Icmpv6Unreach;
  switch (s.kind) {
    case ErrorKind::NetUnreachable: return wire::Icmpv6Repr::dest_unreachable(U::NoRoute, quote);
    case ErrorKind::HostUnreachable: return wire::Icmpv6Repr::dest_unreachable(U::Address, quote);
    case ErrorKind::ProtocolUnreachable:
      return wire::Icmpv6Repr::param_problem(wire::Icmpv6ParamCode::UnrecognizedNextHeader, s.pointer, quote);
    case ErrorKind::PortUnreachable: return wire::Icmpv6Repr::dest_unreachable(U::Port, quote);
    case ErrorKind::AdminProhibited: return wire::Icmpv6Repr::dest_unreachable(U::AdminProhibited, quote);
    case ErrorKind::PacketTooBig: return wire::Icmpv6Repr::packet_too_big(s.mtu, quote);
    case ErrorKind::TimeExceeded:
      return wire::Icmpv6Repr::time_exceeded(wire::Icmpv6TimeExceededCode::HopLimit, quote);
    case ErrorKind::ReassemblyTimeout:
      return wire::Icmpv6Repr::time_exceeded(wire::Icmpv6TimeExceededCode::FragReassembly, quote);
    case ErrorKind::ParamProblem:
      return wire::Icmpv6Repr::param_problem(static_cast<wire::Icmpv6ParamCode>(s.v6_code), s.pointer, quote);
  }
  return wire::Icmpv6Repr::dest_unreachable(U::Address, quote);
}

}  // namespace

bool ErrorSender::allowed(const ErrorSpec& spec, Bytes offending) const {
  if (spec.client.version() != spec.reporter.version()) return false;
  if (spec.client.is_v4()) {
    wire::Icmpv4ErrorTrigger t;
    t.src = spec.client.v4();
    t.dst = spec.reporter.v4();
    t.icmp_type = spec.offending_icmp_type;
    t.non_initial_fragment = spec.offending_non_initial_fragment;
    return wire::may_send_error_for(t);
  }
  wire::Icmpv6ErrorTrigger t;
  t.src = spec.client.v6();
  t.dst = spec.reporter.v6();
  t.icmpv6_type = spec.offending_icmp_type;
  return wire::may_send_error_for(t, v6_message(spec, offending));
}

bool ErrorSender::send(Instant now, const ErrorSpec& spec, Bytes offending) {
  if (!allowed(spec, offending)) {
    ++stats_.not_allowed;
    return false;
  }
  if (!bucket_.take(now)) {
    ++stats_.rate_limited;
    return false;
  }
  const IpVersion v = spec.client.version();
  PacketBuf pkt = pool_.alloc(wire::kIcmpv6ErrorMaxPacket);
  if (!pkt.valid()) {
    ++stats_.no_buffer;
    return false;
  }
  // The one copy: the quoted bytes go behind the ICMP header (the repr cuts them to the
  // RFC 792 / RFC 4443 §2.4(c) size).
  if (v == IpVersion::V4) {
    const wire::Icmpv4Repr msg = v4_message(spec, offending);
    msg.emit(pkt.append(msg.size()));
  } else {
    const wire::Icmpv6Repr msg = v6_message(spec, offending);
    msg.emit(pkt.append(msg.size()), spec.reporter.v6(), spec.client.v6());
  }
  ip::OriginFields f{cfg_.hop_limit, next_ident_++, false};
  const auto proto = v == IpVersion::V4 ? wire::IpProto::Icmp : wire::IpProto::Icmpv6;
  if (!ip::prepend_ip_header(pkt, spec.reporter, spec.client, proto, f)) {
    ++stats_.no_buffer;
    return false;
  }
  out_.emit(std::move(pkt));
  ++stats_.sent;
  return true;
}

PacketBuf build_echo_reply(BufPool& pool, const IpAddr& from, const IpAddr& to, std::uint16_t id,
                           std::uint16_t seq, Bytes data, std::uint8_t hop_limit) {
  if (from.version() != to.version()) return {};
  PacketBuf pkt = pool.alloc(data.size() + 8);
  if (!pkt.valid()) return {};
  if (from.is_v4()) {
    const auto msg = wire::Icmpv4Repr::echo_reply(wire::Icmpv4Echo{false, id, seq, data});
    msg.emit(pkt.append(msg.size()));
  } else {
    const auto msg = wire::Icmpv6Repr::echo_reply(wire::Icmpv6Echo{false, id, seq, data});
    msg.emit(pkt.append(msg.size()), from.v6(), to.v6());
  }
  const auto proto = from.is_v4() ? wire::IpProto::Icmp : wire::IpProto::Icmpv6;
  if (!ip::prepend_ip_header(pkt, from, to, proto, ip::OriginFields{hop_limit, 0, false})) return {};
  return pkt;
}

}  // namespace tunstack::icmp
