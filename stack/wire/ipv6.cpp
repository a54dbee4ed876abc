#include "stack/wire/ipv6.hpp"

#include <cassert>

namespace tunstack::wire {

namespace {

constexpr std::uint8_t kHopByHop = 0;
constexpr std::uint8_t kTcp = static_cast<std::uint8_t>(IpProto::Tcp);
constexpr std::uint8_t kUdp = static_cast<std::uint8_t>(IpProto::Udp);
constexpr std::uint8_t kRouting = static_cast<std::uint8_t>(IpProto::Ipv6Route);
constexpr std::uint8_t kFragment = static_cast<std::uint8_t>(IpProto::Ipv6Frag);
constexpr std::uint8_t kAh = static_cast<std::uint8_t>(IpProto::Ah);
constexpr std::uint8_t kIcmpv6 = static_cast<std::uint8_t>(IpProto::Icmpv6);
constexpr std::uint8_t kNoNext = static_cast<std::uint8_t>(IpProto::Ipv6NoNext);
constexpr std::uint8_t kDestOpts = static_cast<std::uint8_t>(IpProto::Ipv6Opts);

/// The verdict of an options area, with the Parameter Problem when one is due.
struct OptionsOutcome {
  Ipv6Verdict verdict = Ipv6Verdict::Accept;
  Ipv6ParamProblem problem;
};

/// Validates the TLV options in pkt[pos, end) of a Hop-by-Hop or Destination Options header and
/// applies RFC 8200 §4.2 to options we do not know (all but Pad1 and PadN).
Result<OptionsOutcome, ParseError> check_options(Bytes pkt, std::size_t pos, std::size_t end,
                                                 bool dst_multicast) {
  while (pos < end) {
    const std::uint8_t type = load_u8(pkt.data() + pos);
    if (type == static_cast<std::uint8_t>(Ipv6OptType::Pad1)) {
      ++pos;  // Pad1 is the one option without a length byte
      continue;
    }
    if (end - pos < 2) return Err{ParseError::BadOption};
    const std::size_t len = std::size_t{2} + load_u8(pkt.data() + pos + 1);
    if (len > end - pos) return Err{ParseError::BadOption};
    if (type != static_cast<std::uint8_t>(Ipv6OptType::PadN)) {
      const auto problem = Ipv6ParamProblem{Ipv6ProblemCode::UnknownOption,
                                            static_cast<std::uint32_t>(pos)};
      switch (ipv6_option_action(type)) {
        case Ipv6OptAction::Skip: break;
        case Ipv6OptAction::Discard: return OptionsOutcome{Ipv6Verdict::Discard, {}};
        case Ipv6OptAction::DiscardIcmp: return OptionsOutcome{Ipv6Verdict::DiscardIcmp, problem};
        case Ipv6OptAction::DiscardIcmpUnlessMulticast:
          if (dst_multicast) return OptionsOutcome{Ipv6Verdict::Discard, {}};
          return OptionsOutcome{Ipv6Verdict::DiscardIcmp, problem};
      }
    }
    pos += len;
  }
  return OptionsOutcome{};
}

/// Length of a Hop-by-Hop, Routing or Destination Options header at pkt[pos]: Truncated when
/// it does not fit in the packet (RFC 8200 §4.3: (Hdr Ext Len + 1) * 8 bytes).
Result<std::size_t, ParseError> ext_header_len(Bytes pkt, std::size_t pos) {
  if (pkt.size() - pos < 8) return Err{ParseError::Truncated};
  const std::size_t len = (std::size_t{load_u8(pkt.data() + pos + 1)} + 1) * 8;
  if (len > pkt.size() - pos) return Err{ParseError::Truncated};
  return len;
}

/// Fills the upper-layer fields of a chain that stops at pos.
void stop_at(Ipv6Chain& c, Bytes pkt, std::uint8_t nh, std::size_t pos, std::size_t nh_field) {
  c.upper_protocol = nh;
  c.upper_offset = pos;
  c.upper_len = pkt.size() - pos;
  c.next_header_field = nh_field;
}

}  // namespace

Result<Ipv6View, ParseError> Ipv6View::check(Bytes bytes) {
  if (bytes.size() < kIpv6HeaderLen) return Err{ParseError::Truncated};
  if ((load_u8(bytes.data()) >> 4) != 6) return Err{ParseError::BadVersion};
  const std::size_t plen = load_be16(bytes.data() + 4);
  // RFC 2675 jumbograms signal their length in a Hop-by-Hop option and set payload_length 0.
  // We never accept them (no link we serve carries > 64 KiB), so refuse them up front.
  if (plen == 0 && load_u8(bytes.data() + 6) == kHopByHop) return Err{ParseError::BadTotalLength};
  if (plen > bytes.size() - kIpv6HeaderLen) return Err{ParseError::Truncated};
  return Ipv6View{bytes.first(kIpv6HeaderLen + plen)};
}

Result<Ipv6Repr, ParseError> Ipv6Repr::parse(const Ipv6View& v) {
  Ipv6Repr r;
  r.src = v.src();
  r.dst = v.dst();
  r.next_header = v.next_header();
  r.hop_limit = v.hop_limit();
  r.traffic_class = v.traffic_class();
  r.flow_label = v.flow_label();
  r.payload_len = v.payload_length();
  return r;
}

void Ipv6Repr::emit(MutBytes header) const {
  assert(header.size() >= kIpv6HeaderLen);
  std::byte* p = header.data();
  store_be32(p, (6u << 28) | (std::uint32_t{traffic_class} << 20) | (flow_label & 0xfffff));
  store_be16(p + 4, payload_len);
  store_u8(p + 6, static_cast<std::uint8_t>(next_header));
  store_u8(p + 7, hop_limit);
  src.store(p + 8);
  dst.store(p + 24);
}

Result<Ipv6FragHeader, ParseError> Ipv6FragHeader::parse(Bytes b) {
  if (b.size() < kIpv6FragHeaderLen) return Err{ParseError::Truncated};
  Ipv6FragHeader h;
  h.next_header = load_u8(b.data());
  const std::uint16_t off_flags = load_be16(b.data() + 2);
  h.offset = static_cast<std::uint16_t>(off_flags & 0xfff8);  // 13-bit offset in 8-byte units
  h.more = (off_flags & 1) != 0;
  h.ident = load_be32(b.data() + 4);
  return h;
}

void Ipv6FragHeader::emit(MutBytes out) const {
  assert(out.size() >= kIpv6FragHeaderLen);
  assert(offset % 8 == 0);
  store_u8(out.data(), next_header);
  store_u8(out.data() + 1, 0);
  store_be16(out.data() + 2, static_cast<std::uint16_t>(offset | (more ? 1u : 0u)));
  store_be32(out.data() + 4, ident);
}

Result<Ipv6Chain, ParseError> walk_ext_headers(const Ipv6View& v, const Ipv6WalkLimits& limits) {
  const Bytes pkt = v.bytes();
  const bool dst_multicast = v.dst().is_multicast();
  Ipv6Chain c;
  std::uint8_t nh = v.next_header_raw();
  std::size_t nh_field = 6;
  std::size_t pos = kIpv6HeaderLen;
  while (is_walked_ext_header(nh)) {
    if (nh == kHopByHop && pos != kIpv6HeaderLen) {
      // RFC 8200 §4.1: Hop-by-Hop only right after the IPv6 header; RFC 2460 §4 says a 0
      // elsewhere is handled as an unrecognised Next Header (Parameter Problem code 1).
      stop_at(c, pkt, nh, pos, nh_field);
      c.verdict = Ipv6Verdict::DiscardIcmp;
      c.problem = {Ipv6ProblemCode::UnknownNextHeader, static_cast<std::uint32_t>(nh_field)};
      return c;
    }
    if (c.ext_headers >= limits.max_ext_headers) return Err{ParseError::ExtChainTooLong};
    ++c.ext_headers;
    if (nh == kFragment) {
      auto fh = Ipv6FragHeader::parse(pkt.subspan(pos));
      if (!fh) return Err{fh.error()};
      if (c.fragment) return Err{ParseError::BadExtHeader};  // one Fragment header per packet
      const std::size_t data = pos + kIpv6FragHeaderLen;
      c.fragment = Ipv6FragmentInfo{*fh, pos, data, pkt.size() - data, nh_field};
      if (!fh->atomic()) {
        // The rest of the chain is inside the fragmented data: walk it after reassembly.
        stop_at(c, pkt, nh, data, nh_field);
        return c;
      }
      // RFC 6946: an atomic fragment is a whole datagram; keep walking.
      nh = fh->next_header;
      nh_field = pos;
      pos = data;
      continue;
    }
    auto len = ext_header_len(pkt, pos);
    if (!len) return Err{len.error()};
    if (nh == kRouting) {
      // RFC 8200 §4.4: segments_left 0 -> ignore the header; otherwise an unknown routing
      // type (we implement none) -> Parameter Problem code 0 pointing at Routing Type.
      if (load_u8(pkt.data() + pos + 3) != 0) {
        stop_at(c, pkt, nh, pos, nh_field);
        c.verdict = Ipv6Verdict::DiscardIcmp;
        c.problem = {Ipv6ProblemCode::ErroneousField, static_cast<std::uint32_t>(pos + 2)};
        return c;
      }
    } else {
      auto opts = check_options(pkt, pos + 2, pos + *len, dst_multicast);
      if (!opts) return Err{opts.error()};
      if (opts->verdict != Ipv6Verdict::Accept) {
        stop_at(c, pkt, nh, pos, nh_field);
        c.verdict = opts->verdict;
        c.problem = opts->problem;
        return c;
      }
    }
    nh_field = pos;
    nh = load_u8(pkt.data() + pos);
    pos += *len;
  }
  stop_at(c, pkt, nh, pos, nh_field);
  return c;
}

bool first_fragment_chain_complete(Bytes data, std::uint8_t nh) {
  std::size_t pos = 0;
  // Bounded: a chain longer than this is refused by walk_ext_headers after reassembly anyway.
  for (int hops = 0; hops < 16; ++hops) {
    if (nh == kHopByHop || nh == kRouting || nh == kDestOpts || nh == kAh) {
      if (data.size() - pos < 2) return false;
      const std::size_t n = load_u8(data.data() + pos + 1);
      const std::size_t len = nh == kAh ? (n + 2) * 4 : (n + 1) * 8;  // AH counts 4-byte units
      if (len > data.size() - pos) return false;
      nh = load_u8(data.data() + pos);
      pos += len;
    } else if (nh == kFragment) {
      if (data.size() - pos < kIpv6FragHeaderLen) return false;
      nh = load_u8(data.data() + pos);
      pos += kIpv6FragHeaderLen;
    } else {
      break;
    }
  }
  std::size_t need = 1;
  if (nh == kTcp) need = 20;
  if (nh == kUdp || nh == kIcmpv6) need = 8;
  if (nh == kNoNext) need = 0;
  return data.size() - pos >= need;
}

Result<Ipv6Unfragmentable, ParseError> find_unfragmentable(const Ipv6View& v,
                                                           const Ipv6WalkLimits& limits) {
  const Bytes pkt = v.bytes();
  Ipv6Unfragmentable u;
  std::uint8_t nh = v.next_header_raw();
  std::size_t pos = kIpv6HeaderLen;
  for (std::size_t walked = 0;; ++walked) {
    if (nh == kFragment) return Err{ParseError::BadFragment};  // already fragmented
    if (nh == kHopByHop && pos != kIpv6HeaderLen) return Err{ParseError::BadExtHeader};
    if (nh != kHopByHop && nh != kRouting && nh != kDestOpts) return u;
    if (walked >= limits.max_ext_headers) return Err{ParseError::ExtChainTooLong};
    auto len = ext_header_len(pkt, pos);
    if (!len) return Err{len.error()};
    const std::uint8_t type = nh;
    const std::size_t field = pos;
    nh = load_u8(pkt.data() + pos);
    pos += *len;
    // RFC 8200 §4.5: the unfragmentable part ends after Hop-by-Hop and after the last Routing
    // header; Destination Options before a Routing header belong to it, those after do not.
    if (type == kHopByHop || type == kRouting) u = {pos, field};
  }
}

}  // namespace tunstack::wire
