#include "stack/host.hpp"

#include "stack/wire/icmpv4.hpp"
#include "stack/wire/icmpv6.hpp"
#include "stack/wire/ipv4.hpp"
#include "stack/wire/ipv6.hpp"
#include "stack/wire/tcp.hpp"
#include "stack/wire/udp.hpp"

namespace tunstack {

using wire::IpProto;
using wire::ParseError;

namespace {
constexpr std::uint8_t proto_num(IpProto p) { return static_cast<std::uint8_t>(p); }
}  // namespace

Host::Host(HostConfig cfg, BufPool& pool, PacketOutput& out)
    : cfg_(cfg), pool_(pool), out_(out), reasm_(pool, cfg.reassembly), errors_(cfg.icmp_errors, pool, out) {}

void Host::on_packet(Instant now, PacketBuf pkt) {
  ++stats_.rx_packets;
  stats_.rx_bytes += pkt.size();
  if (pkt.size() == 0) {
    drop_parse(ParseError::Truncated);
    return;
  }
  switch (load_u8(pkt.data()) >> 4) {
    case 4: input_v4(now, std::move(pkt)); return;
    case 6: input_v6(now, std::move(pkt)); return;
    default: ++stats_.drop_bad_version; return;
  }
}

bool Host::source_ok(const IpAddr& src) const {
  // A source that names no single host cannot be answered and must not open flows.
  if (src.is_v4()) {
    const Ip4Addr a = src.v4();
    return !(a.is_unspecified() || a.is_multicast() || a.is_broadcast() || a.is_loopback());
  }
  const Ip6Addr& a = src.v6();
  return !(a.is_unspecified() || a.is_multicast() || a.is_loopback());
}

void Host::input_v4(Instant now, PacketBuf pkt) {
  ++stats_.rx_ipv4;
  auto view = wire::Ipv4View::check(pkt.view());
  if (!view) return drop_parse(view.error());
  if (!view->checksum_ok()) return drop_parse(ParseError::BadChecksum);
  pkt.truncate(view->total_length());  // bytes past total_length are link padding, not data
  if (view->is_fragment()) {
    auto out = reasm_.input_v4(std::move(pkt), now);
    if (out.dropped != ip::FragDrop::None) ++stats_.drop_fragment;
    if (!out.datagram) return;
    pkt = std::move(*out.datagram);
    view = wire::Ipv4View::check(pkt.view());
    if (!view) return drop_parse(view.error());
  }
  L4 l4;
  l4.src = view->src();
  l4.dst = view->dst();
  l4.proto = view->protocol_raw();
  l4.offset = view->header_len();
  l4.length = view->total_length() - view->header_len();
  if (!source_ok(l4.src)) {
    ++stats_.drop_martian_source;
    return;
  }
  if (view->dst().is_multicast() || view->dst().is_broadcast()) {
    ++stats_.drop_multicast;
    return;
  }
  deliver(now, std::move(pkt), l4);
}

void Host::input_v6(Instant now, PacketBuf pkt) {
  ++stats_.rx_ipv6;
  auto view = wire::Ipv6View::check(pkt.view());
  if (!view) return drop_parse(view.error());
  pkt.truncate(wire::kIpv6HeaderLen + view->payload_length());
  view = wire::Ipv6View::check(pkt.view());
  auto chain = wire::walk_ext_headers(*view);
  if (!chain) return drop_parse(chain.error());
  const IpAddr src{view->src()};
  const IpAddr dst{view->dst()};
  if (!source_ok(src)) {
    ++stats_.drop_martian_source;
    return;
  }
  L4 l4{src, dst, chain->upper_protocol, chain->upper_offset, chain->upper_len, chain->next_header_field};
  if (chain->verdict != wire::Ipv6Verdict::Accept) {
    ++stats_.drop_ipv6_ext;
    if (chain->verdict == wire::Ipv6Verdict::DiscardIcmp) {
      icmp::ErrorSpec spec;
      spec.kind = icmp::ErrorKind::ParamProblem;
      spec.v6_code = static_cast<std::uint8_t>(chain->problem.code);
      spec.pointer = chain->problem.pointer;
      send_error(now, l4, pkt, spec);
    }
    return;
  }
  if (chain->fragment && !chain->fragment->header.atomic()) {
    auto out = reasm_.input_v6(std::move(pkt), *chain->fragment, now);
    if (out.dropped != ip::FragDrop::None) ++stats_.drop_fragment;
    if (out.param_problem && out.offending.valid()) {
      icmp::ErrorSpec spec;
      spec.kind = icmp::ErrorKind::ParamProblem;
      spec.v6_code = static_cast<std::uint8_t>(out.param_problem->code);
      spec.pointer = out.param_problem->pointer;
      send_error(now, l4, out.offending, spec);
    }
    if (!out.datagram) return;
    pkt = std::move(*out.datagram);
    view = wire::Ipv6View::check(pkt.view());
    if (!view) return drop_parse(view.error());
    chain = wire::walk_ext_headers(*view);
    if (!chain) return drop_parse(chain.error());
    if (chain->verdict != wire::Ipv6Verdict::Accept) {
      ++stats_.drop_ipv6_ext;
      return;
    }
    l4 = L4{src, dst, chain->upper_protocol, chain->upper_offset, chain->upper_len,
            chain->next_header_field};
  }
  if (view->dst().is_multicast()) {
    // MLD reports, router solicitations and the like: a TUN peer's housekeeping, not traffic.
    if (l4.proto == proto_num(IpProto::Icmpv6)) ++stats_.drop_icmp_ignored;
    else ++stats_.drop_multicast;
    return;
  }
  deliver(now, std::move(pkt), l4);
}

void Host::deliver(Instant now, PacketBuf pkt, const L4& l4) {
  switch (l4.proto) {
    case proto_num(IpProto::Udp): return deliver_udp(now, std::move(pkt), l4);
    case proto_num(IpProto::Tcp): return deliver_tcp(now, std::move(pkt), l4);
    case proto_num(IpProto::Icmp):
      if (l4.src.is_v4()) return deliver_icmpv4(now, std::move(pkt), l4);
      break;
    case proto_num(IpProto::Icmpv6):
      if (l4.src.is_v6()) return deliver_icmpv6(now, std::move(pkt), l4);
      break;
    case proto_num(IpProto::Ipv6NoNext):
      if (l4.src.is_v6()) {  // RFC 8200 §4.7: nothing follows; nothing to do
        ++stats_.drop_unknown_proto;
        return;
      }
      break;
    default: break;
  }
  ++stats_.drop_unknown_proto;
  icmp::ErrorSpec spec;
  spec.kind = icmp::ErrorKind::ProtocolUnreachable;
  spec.pointer = static_cast<std::uint32_t>(l4.next_header_field);  // RFC 4443 §3.4 code 1
  send_error(now, l4, pkt, spec);
}

void Host::deliver_udp(Instant now, PacketBuf pkt, const L4& l4) {
  auto udp = wire::UdpView::check(pkt.view().subspan(l4.offset, l4.length));
  if (!udp) return drop_parse(udp.error());
  if (cfg_.verify_checksums && !udp->verify_checksum(l4.src, l4.dst))
    return drop_parse(ParseError::BadChecksum);
  if (udp->dst_port().value == 0 || udp->src_port().value == 0) return drop_parse(ParseError::BadField);
  if (udp_ == nullptr) {
    ++stats_.drop_no_handler;
    icmp::ErrorSpec spec;
    spec.kind = icmp::ErrorKind::PortUnreachable;
    send_error(now, l4, pkt, spec);
    return;
  }
  ++stats_.udp_datagrams;
  const Endpoint src{l4.src, udp->src_port()};
  const Endpoint dst{l4.dst, udp->dst_port()};
  const std::size_t payload_len = udp->payload().size();
  // Zero copy: the payload stays where it arrived; the headers become headroom.
  pkt.trim_front(l4.offset + wire::kUdpHeaderLen);
  pkt.truncate(payload_len);
  udp_->on_udp(now, src, dst, std::move(pkt));
}

void Host::deliver_tcp(Instant now, PacketBuf pkt, const L4& l4) {
  auto tcp = wire::TcpView::check(pkt.view().subspan(l4.offset, l4.length));
  if (!tcp) return drop_parse(tcp.error());
  if (cfg_.verify_checksums && !tcp->verify_checksum(l4.src, l4.dst))
    return drop_parse(ParseError::BadChecksum);
  if (tcp_ == nullptr) {
    // Until a TCP engine is attached, refuse connections the way a closed port does, so that
    // applications fail at once (Linux maps ICMP port unreachable to ECONNREFUSED).
    ++stats_.drop_no_handler;
    icmp::ErrorSpec spec;
    spec.kind = icmp::ErrorKind::PortUnreachable;
    send_error(now, l4, pkt, spec);
    return;
  }
  ++stats_.tcp_segments;
  pkt.trim_front(l4.offset);
  pkt.truncate(l4.length);
  tcp_->on_tcp(now, l4.src, l4.dst, std::move(pkt));
}

void Host::deliver_icmpv4(Instant now, PacketBuf pkt, const L4& l4) {
  auto icmp = wire::Icmpv4View::check(pkt.view().subspan(l4.offset, l4.length));
  if (!icmp) return drop_parse(icmp.error());
  if (!icmp->verify_checksum()) return drop_parse(ParseError::BadChecksum);
  if (icmp->type() != static_cast<std::uint8_t>(wire::Icmpv4Type::EchoRequest)) {
    ++stats_.drop_icmp_ignored;  // errors about our replies, timestamps, ...: nothing to do
    return;
  }
  echo(now, std::move(pkt), l4, icmp->echo_id(), icmp->echo_seq(), icmp->body());
}

void Host::deliver_icmpv6(Instant now, PacketBuf pkt, const L4& l4) {
  auto icmp = wire::Icmpv6View::check(pkt.view().subspan(l4.offset, l4.length));
  if (!icmp) return drop_parse(icmp.error());
  if (!icmp->verify_checksum(l4.src.v6(), l4.dst.v6())) return drop_parse(ParseError::BadChecksum);
  if (icmp->type() != static_cast<std::uint8_t>(wire::Icmpv6Type::EchoRequest)) {
    ++stats_.drop_icmp_ignored;  // NDP, MLD, errors: a TUN is L3, none of it needs an answer
    return;
  }
  const std::uint32_t w = icmp->word();
  echo(now, std::move(pkt), l4, static_cast<std::uint16_t>(w >> 16), static_cast<std::uint16_t>(w),
       icmp->body());
}

void Host::echo(Instant now, PacketBuf pkt, const L4& l4, std::uint16_t id, std::uint16_t seq, Bytes data) {
  ++stats_.echo_requests;
  if (cfg_.ping_local || echo_ == nullptr) {
    PacketBuf reply = icmp::build_echo_reply(pool_, l4.dst, l4.src, id, seq, data, cfg_.hop_limit);
    if (!reply.valid() || reply.size() > cfg_.mtu) {
      ++stats_.drop_no_handler;
      return;
    }
    ++stats_.echo_local_replies;
    out_.emit(std::move(reply));
    return;
  }
  pkt.trim_front(l4.offset);
  pkt.truncate(l4.length);
  echo_->on_echo_request(now, Endpoint{l4.src, Port{id}}, l4.dst, std::move(pkt));
}

void Host::send_error(Instant now, const L4& l4, const PacketBuf& offending, icmp::ErrorSpec spec) {
  spec.reporter = l4.dst;
  spec.client = l4.src;
  const std::uint8_t icmp_proto = l4.src.is_v4() ? proto_num(IpProto::Icmp) : proto_num(IpProto::Icmpv6);
  if (l4.proto == icmp_proto && l4.length >= 1) spec.offending_icmp_type = load_u8(offending.data() + l4.offset);
  errors_.send(now, spec, offending.view());
}

void Host::poll(Instant now) {
  reasm_.poll(now, [&](ip::Reassembler::Expired&& e) {
    // RFC 792 / RFC 4443 §3.3: time exceeded (reassembly) when the first fragment had arrived.
    L4 l4;
    if (e.version == IpVersion::V4) {
      auto v = wire::Ipv4View::check(e.first_fragment.view());
      if (!v) return;
      l4.src = v->src();
      l4.dst = v->dst();
    } else {
      auto v = wire::Ipv6View::check(e.first_fragment.view());
      if (!v) return;
      l4.src = v->src();
      l4.dst = v->dst();
    }
    icmp::ErrorSpec spec;
    spec.kind = icmp::ErrorKind::ReassemblyTimeout;
    ++stats_.reassembly_timeouts_reported;
    send_error(now, l4, e.first_fragment, spec);
  });
}

std::optional<Instant> Host::next_deadline() const { return reasm_.next_deadline(); }

}  // namespace tunstack
