#include "stack/wire/icmpv6.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "stack/checksum/checksum.hpp"
#include "stack/wire/ip_proto.hpp"

namespace tunstack::wire {

namespace {

constexpr auto kIcmpv6 = static_cast<std::uint8_t>(IpProto::Icmpv6);

// RFC 4861 §4.4: flag bits in the first byte of a neighbor advertisement's word.
constexpr std::uint32_t kNaRouter = 0x80000000u;
constexpr std::uint32_t kNaSolicited = 0x40000000u;
constexpr std::uint32_t kNaOverride = 0x20000000u;

/// The offending packet cut so that the error fits the minimum MTU (RFC 4443 §2.4(c)).
Bytes quote(Bytes offending) { return offending.first(std::min(offending.size(), kIcmpv6MaxQuote)); }

/// RFC 4861 §4.6: every option has a nonzero length in units of 8 bytes, within the message.
bool ndp_options_valid(Bytes o) {
  std::size_t i = 0;
  while (i < o.size()) {
    if (o.size() - i < 2) return false;
    const std::size_t len = std::size_t{load_u8(o.data() + i + 1)} * 8;
    if (len == 0 || len > o.size() - i) return false;
    i += len;
  }
  return true;
}

/// Reads a neighbor solicitation or advertisement after the common checks.
Result<Icmpv6Repr, ParseError> parse_neighbor(const Icmpv6View& v) {
  const Bytes m = v.message();
  if (m.size() < kNdpNeighborHeaderLen) return Err{ParseError::Truncated};
  const Ip6Addr target = Ip6Addr::load(m.data() + kIcmpv6HeaderLen);
  // RFC 4861 §7.1.1/§7.1.2: the target must not be a multicast address.
  if (target.is_multicast()) return Err{ParseError::BadField};
  const Bytes options = m.subspan(kNdpNeighborHeaderLen);
  if (!ndp_options_valid(options)) return Err{ParseError::BadOption};
  if (v.type() == static_cast<std::uint8_t>(Icmpv6Type::NeighborSolicit))
    return Icmpv6Repr{NdpNeighborSolicit{target, options}};
  const std::uint32_t w = v.word();
  return Icmpv6Repr{NdpNeighborAdvert{(w & kNaRouter) != 0, (w & kNaSolicited) != 0,
                                      (w & kNaOverride) != 0, target, options}};
}

/// Reads an NDP message (RFC 4861 §6.1.1, §7.1.1: code 0, options well formed).
Result<Icmpv6Repr, ParseError> parse_ndp(const Icmpv6View& v) {
  if (v.code() != 0) return Err{ParseError::BadField};
  if (v.type() != static_cast<std::uint8_t>(Icmpv6Type::RouterSolicit)) return parse_neighbor(v);
  if (!ndp_options_valid(v.body())) return Err{ParseError::BadOption};
  return Icmpv6Repr{NdpRouterSolicit{v.body()}};
}

/// Reads one of the four error messages after the common checks.
Result<Icmpv6Repr, ParseError> parse_error(const Icmpv6View& v) {
  const Bytes invoking = v.body();
  // RFC 4443 §2.4(c) asks for as much of the invoking packet as fits; without its IPv6 header
  // the error cannot be matched to anything.
  if (invoking.size() < kIcmpv6MinQuote) return Err{ParseError::Truncated};
  // Codes we have no name for are kept as-is: the quoted packet is still worth reporting.
  switch (static_cast<Icmpv6Type>(v.type())) {
    case Icmpv6Type::DestUnreachable:
      return Icmpv6Repr{Icmpv6DestUnreachable{static_cast<Icmpv6Unreach>(v.code()), invoking}};
    case Icmpv6Type::PacketTooBig:
      return Icmpv6Repr{Icmpv6PacketTooBig{v.word(), invoking}};
    case Icmpv6Type::TimeExceeded:
      return Icmpv6Repr{
          Icmpv6TimeExceeded{static_cast<Icmpv6TimeExceededCode>(v.code()), invoking}};
    default:
      return Icmpv6Repr{
          Icmpv6ParamProblem{static_cast<Icmpv6ParamCode>(v.code()), v.word(), invoking}};
  }
}

/// Type, code and the word at bytes 4-7 of a message.
struct HeaderFields {
  Icmpv6Type type;
  std::uint8_t code;
  std::uint32_t word;
};

HeaderFields header_fields(const Icmpv6Message& m) {
  struct Visitor {
    HeaderFields operator()(const Icmpv6Echo& e) const {
      return {e.reply ? Icmpv6Type::EchoReply : Icmpv6Type::EchoRequest, 0,
              std::uint32_t{e.id} << 16 | e.seq};
    }
    HeaderFields operator()(const Icmpv6DestUnreachable& d) const {
      return {Icmpv6Type::DestUnreachable, static_cast<std::uint8_t>(d.code), 0};
    }
    HeaderFields operator()(const Icmpv6PacketTooBig& p) const {
      return {Icmpv6Type::PacketTooBig, 0, p.mtu};
    }
    HeaderFields operator()(const Icmpv6TimeExceeded& t) const {
      return {Icmpv6Type::TimeExceeded, static_cast<std::uint8_t>(t.code), 0};
    }
    HeaderFields operator()(const Icmpv6ParamProblem& p) const {
      return {Icmpv6Type::ParamProblem, static_cast<std::uint8_t>(p.code), p.pointer};
    }
    HeaderFields operator()(const NdpRouterSolicit&) const {
      return {Icmpv6Type::RouterSolicit, 0, 0};
    }
    HeaderFields operator()(const NdpNeighborSolicit&) const {
      return {Icmpv6Type::NeighborSolicit, 0, 0};
    }
    HeaderFields operator()(const NdpNeighborAdvert& a) const {
      return {Icmpv6Type::NeighborAdvert, 0,
              (a.router ? kNaRouter : 0) | (a.solicited ? kNaSolicited : 0) |
                  (a.override_entry ? kNaOverride : 0)};
    }
  };
  return std::visit(Visitor{}, m);
}

/// The NDP target address, when the message has one.
const Ip6Addr* target_of(const Icmpv6Message& m) {
  if (const auto* ns = std::get_if<NdpNeighborSolicit>(&m)) return &ns->target;
  if (const auto* na = std::get_if<NdpNeighborAdvert>(&m)) return &na->target;
  return nullptr;
}

/// Writes the fixed part at p (hlen bytes) and the checksum over pseudo-header, it and `body`.
void write_header(const Icmpv6Message& m, std::byte* p, std::size_t hlen, Bytes body,
                  const Ip6Addr& src, const Ip6Addr& dst) {
  const HeaderFields f = header_fields(m);
  store_u8(p, static_cast<std::uint8_t>(f.type));
  store_u8(p + 1, f.code);
  store_be16(p + 2, 0);
  store_be32(p + 4, f.word);
  if (const Ip6Addr* target = target_of(m)) target->store(p + kIcmpv6HeaderLen);
  const auto len = static_cast<std::uint32_t>(hlen + body.size());
  std::uint64_t sum = checksum::pseudo_header_v6(src, dst, kIcmpv6, len);
  if (body.empty()) {
    sum = checksum::add(Bytes{p, hlen}, sum);  // a null data() is never summed (tcp.cpp)
  } else if (p + hlen == body.data()) {
    sum = checksum::add(Bytes{p, len}, sum);
  } else {
    sum = checksum::add(body, checksum::add(Bytes{p, hlen}, sum));  // 8 and 24 are even: exact
  }
  store_be16(p + 2, checksum::finish(sum));
}

}  // namespace

Result<Icmpv6View, ParseError> Icmpv6View::check(Bytes b) {
  if (b.size() < kIcmpv6HeaderLen) return Err{ParseError::Truncated};
  return Icmpv6View{b};
}

bool Icmpv6View::verify_checksum(const Ip6Addr& src, const Ip6Addr& dst) const {
  return checksum::verify(
      b_, checksum::pseudo_header_v6(src, dst, kIcmpv6, static_cast<std::uint32_t>(b_.size())));
}

Result<Icmpv6Repr, ParseError> Icmpv6Repr::parse(const Icmpv6View& v, const Ip6Addr& src,
                                                 const Ip6Addr& dst) {
  if (!v.verify_checksum(src, dst)) return Err{ParseError::BadChecksum};
  switch (static_cast<Icmpv6Type>(v.type())) {
    case Icmpv6Type::EchoRequest:
    case Icmpv6Type::EchoReply: {
      const std::uint32_t w = v.word();
      return Icmpv6Repr{Icmpv6Echo{v.type() == static_cast<std::uint8_t>(Icmpv6Type::EchoReply),
                                   static_cast<std::uint16_t>(w >> 16),
                                   static_cast<std::uint16_t>(w), v.body()}};
    }
    case Icmpv6Type::DestUnreachable:
    case Icmpv6Type::PacketTooBig:
    case Icmpv6Type::TimeExceeded:
    case Icmpv6Type::ParamProblem:
      return parse_error(v);
    case Icmpv6Type::RouterSolicit:
    case Icmpv6Type::NeighborSolicit:
    case Icmpv6Type::NeighborAdvert:
      return parse_ndp(v);
    default:
      return Err{ParseError::BadType};
  }
}

Icmpv6Repr Icmpv6Repr::echo_reply(const Icmpv6Echo& request) {
  return Icmpv6Repr{Icmpv6Echo{true, request.id, request.seq, request.data}};
}

Icmpv6Repr Icmpv6Repr::dest_unreachable(Icmpv6Unreach code, Bytes offending) {
  return Icmpv6Repr{Icmpv6DestUnreachable{code, quote(offending)}};
}

Icmpv6Repr Icmpv6Repr::packet_too_big(std::uint32_t mtu, Bytes offending) {
  return Icmpv6Repr{Icmpv6PacketTooBig{mtu, quote(offending)}};
}

Icmpv6Repr Icmpv6Repr::time_exceeded(Icmpv6TimeExceededCode code, Bytes offending) {
  return Icmpv6Repr{Icmpv6TimeExceeded{code, quote(offending)}};
}

Icmpv6Repr Icmpv6Repr::param_problem(Icmpv6ParamCode code, std::uint32_t pointer,
                                     Bytes offending) {
  return Icmpv6Repr{Icmpv6ParamProblem{code, pointer, quote(offending)}};
}

bool Icmpv6Repr::is_error() const {
  return static_cast<std::uint8_t>(header_fields(message).type) < 128;
}

std::size_t Icmpv6Repr::header_len() const {
  return target_of(message) != nullptr ? kNdpNeighborHeaderLen : kIcmpv6HeaderLen;
}

Bytes Icmpv6Repr::body() const {
  struct Visitor {
    Bytes operator()(const Icmpv6Echo& e) const { return e.data; }
    Bytes operator()(const Icmpv6DestUnreachable& d) const { return d.invoking; }
    Bytes operator()(const Icmpv6PacketTooBig& p) const { return p.invoking; }
    Bytes operator()(const Icmpv6TimeExceeded& t) const { return t.invoking; }
    Bytes operator()(const Icmpv6ParamProblem& p) const { return p.invoking; }
    Bytes operator()(const NdpRouterSolicit& r) const { return r.options; }
    Bytes operator()(const NdpNeighborSolicit& s) const { return s.options; }
    Bytes operator()(const NdpNeighborAdvert& a) const { return a.options; }
  };
  return std::visit(Visitor{}, message);
}

void Icmpv6Repr::emit_header(MutBytes header, const Ip6Addr& src, const Ip6Addr& dst) const {
  const std::size_t hlen = header_len();
  assert(header.size() >= hlen);
  write_header(message, header.data(), hlen, body(), src, dst);
}

void Icmpv6Repr::emit(MutBytes out, const Ip6Addr& src, const Ip6Addr& dst) const {
  assert(out.size() >= size());
  const std::size_t hlen = header_len();
  const Bytes b = body();
  std::byte* to = out.data() + hlen;
  // memmove: the body may overlap the output (an offending packet reused in place). The checksum
  // is then taken over the copy, since the original bytes may have been overwritten.
  if (!b.empty() && b.data() != to) std::memmove(to, b.data(), b.size());
  write_header(message, out.data(), hlen, Bytes{to, b.size()}, src, dst);
}

bool may_send_error_for(const Icmpv6ErrorTrigger& t, const Icmpv6Repr& error) {
  if (!error.is_error()) return false;
  // RFC 4443 §2.4(e.1, e.2): never about an ICMPv6 error message or a redirect.
  if (t.icmpv6_type &&
      (*t.icmpv6_type < 128 || *t.icmpv6_type == static_cast<std::uint8_t>(Icmpv6Type::Redirect)))
    return false;
  // e.6: never to a source that does not identify a single node.
  if (t.src.is_unspecified() || t.src.is_multicast() || t.src.is_loopback()) return false;
  if (!t.dst.is_multicast()) return true;
  // e.3: to a multicast destination only Packet Too Big (so PMTUD works for multicast) ...
  if (std::holds_alternative<Icmpv6PacketTooBig>(error.message)) return true;
  // ... or Parameter Problem code 2 about an option whose type has high-order bits 10
  // (RFC 8200 §4.2: "regardless of whether or not the Destination Address was multicast").
  const auto* pp = std::get_if<Icmpv6ParamProblem>(&error.message);
  if (pp == nullptr || pp->code != Icmpv6ParamCode::UnrecognizedOption) return false;
  if (pp->pointer >= pp->invoking.size()) return false;  // the option type was not quoted
  return (load_u8(pp->invoking.data() + pp->pointer) >> 6) == 0b10;
}

}  // namespace tunstack::wire
