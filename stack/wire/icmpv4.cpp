#include "stack/wire/icmpv4.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "stack/checksum/checksum.hpp"

namespace tunstack::wire {

namespace {

/// The offending packet cut so that the whole error datagram fits 576 bytes (RFC 1812 §4.3.2.3).
Bytes quote(Bytes offending) { return offending.first(std::min(offending.size(), kIcmpv4MaxQuote)); }

/// Type, code and the 4-byte rest-of-header of a message.
struct HeaderFields {
  Icmpv4Type type;
  std::uint8_t code;
  std::uint32_t rest;
};

HeaderFields header_fields(const Icmpv4Message& m) {
  struct Visitor {
    HeaderFields operator()(const Icmpv4Echo& e) const {
      return {e.reply ? Icmpv4Type::EchoReply : Icmpv4Type::EchoRequest, 0,
              std::uint32_t{e.id} << 16 | e.seq};
    }
    HeaderFields operator()(const Icmpv4DestUnreachable& d) const {
      // RFC 1191 §4: the low 16 bits carry the next-hop MTU for code 4 and are unused otherwise.
      const std::uint32_t mtu = d.code == Icmpv4Unreach::FragNeeded ? d.next_hop_mtu : 0;
      return {Icmpv4Type::DestUnreachable, static_cast<std::uint8_t>(d.code), mtu};
    }
    HeaderFields operator()(const Icmpv4TimeExceeded& t) const {
      return {Icmpv4Type::TimeExceeded, static_cast<std::uint8_t>(t.code), 0};
    }
    HeaderFields operator()(const Icmpv4ParamProblem& p) const {
      return {Icmpv4Type::ParamProblem, p.code, std::uint32_t{p.pointer} << 24};
    }
  };
  return std::visit(Visitor{}, m);
}

/// Writes the 8-byte header at p with the checksum over it and `body` (RFC 792: the whole message).
void write_header(const HeaderFields& f, std::byte* p, Bytes body) {
  store_u8(p, static_cast<std::uint8_t>(f.type));
  store_u8(p + 1, f.code);
  store_be16(p + 2, 0);
  store_be32(p + 4, f.rest);
  std::uint64_t sum;
  if (body.empty()) {
    sum = checksum::add(Bytes{p, kIcmpv4HeaderLen});  // a null data() is never summed (tcp.cpp)
  } else if (p + kIcmpv4HeaderLen == body.data()) {
    sum = checksum::add(Bytes{p, kIcmpv4HeaderLen + body.size()});
  } else {
    sum = checksum::add(body, checksum::add(Bytes{p, kIcmpv4HeaderLen}));  // 8 is even: exact
  }
  store_be16(p + 2, checksum::finish(sum));
}

}  // namespace

Result<Icmpv4View, ParseError> Icmpv4View::check(Bytes b) {
  if (b.size() < kIcmpv4HeaderLen) return Err{ParseError::Truncated};
  return Icmpv4View{b};
}

bool Icmpv4View::verify_checksum() const { return checksum::verify(b_); }

Result<Icmpv4Repr, ParseError> Icmpv4Repr::parse(const Icmpv4View& v) {
  if (!v.verify_checksum()) return Err{ParseError::BadChecksum};
  const Bytes body = v.body();
  switch (static_cast<Icmpv4Type>(v.type())) {
    case Icmpv4Type::EchoRequest:
    case Icmpv4Type::EchoReply:
      // The code is 0 by RFC 792; like Linux we do not insist.
      return Icmpv4Repr{Icmpv4Echo{v.type() == static_cast<std::uint8_t>(Icmpv4Type::EchoReply),
                                   v.echo_id(), v.echo_seq(), body}};
    case Icmpv4Type::DestUnreachable:
    case Icmpv4Type::TimeExceeded:
    case Icmpv4Type::ParamProblem:
      break;
    default:
      return Err{ParseError::BadType};
  }
  // RFC 792: errors quote the invoking IP header plus 64 bits of its data; less cannot be
  // matched to a flow.
  if (body.size() < kIcmpv4MinQuote) return Err{ParseError::Truncated};
  switch (static_cast<Icmpv4Type>(v.type())) {
    case Icmpv4Type::DestUnreachable: {
      // Codes outside 0..15 are kept as-is: the quoted packet is still worth reporting.
      const auto code = static_cast<Icmpv4Unreach>(v.code());
      const std::uint16_t mtu = code == Icmpv4Unreach::FragNeeded ? v.next_hop_mtu() : 0;
      return Icmpv4Repr{Icmpv4DestUnreachable{code, mtu, body}};
    }
    case Icmpv4Type::TimeExceeded:
      return Icmpv4Repr{
          Icmpv4TimeExceeded{static_cast<Icmpv4TimeExceededCode>(v.code()), body}};
    default:
      return Icmpv4Repr{Icmpv4ParamProblem{v.code(), v.pointer(), body}};
  }
}

Icmpv4Repr Icmpv4Repr::echo_reply(const Icmpv4Echo& request) {
  return Icmpv4Repr{Icmpv4Echo{true, request.id, request.seq, request.data}};
}

Icmpv4Repr Icmpv4Repr::dest_unreachable(Icmpv4Unreach code, Bytes offending) {
  return Icmpv4Repr{Icmpv4DestUnreachable{code, 0, quote(offending)}};
}

Icmpv4Repr Icmpv4Repr::frag_needed(std::uint16_t next_hop_mtu, Bytes offending) {
  return Icmpv4Repr{Icmpv4DestUnreachable{Icmpv4Unreach::FragNeeded, next_hop_mtu, quote(offending)}};
}

Icmpv4Repr Icmpv4Repr::time_exceeded(Icmpv4TimeExceededCode code, Bytes offending) {
  return Icmpv4Repr{Icmpv4TimeExceeded{code, quote(offending)}};
}

Icmpv4Repr Icmpv4Repr::param_problem(std::uint8_t pointer, Bytes offending) {
  return Icmpv4Repr{Icmpv4ParamProblem{0, pointer, quote(offending)}};
}

Bytes Icmpv4Repr::body() const {
  struct Visitor {
    Bytes operator()(const Icmpv4Echo& e) const { return e.data; }
    Bytes operator()(const Icmpv4DestUnreachable& d) const { return d.invoking; }
    Bytes operator()(const Icmpv4TimeExceeded& t) const { return t.invoking; }
    Bytes operator()(const Icmpv4ParamProblem& p) const { return p.invoking; }
  };
  return std::visit(Visitor{}, message);
}

void Icmpv4Repr::emit_header(MutBytes header) const {
  assert(header.size() >= kIcmpv4HeaderLen);
  write_header(header_fields(message), header.data(), body());
}

void Icmpv4Repr::emit(MutBytes out) const {
  assert(out.size() >= size());
  const Bytes b = body();
  std::byte* dst = out.data() + kIcmpv4HeaderLen;
  // memmove: the body may overlap the output (an offending packet reused in place). The checksum
  // is then taken over the copy, since the original bytes may have been overwritten.
  if (!b.empty() && b.data() != dst) std::memmove(dst, b.data(), b.size());
  write_header(header_fields(message), out.data(), Bytes{dst, b.size()});
}

bool icmpv4_type_is_error(std::uint8_t type) {
  switch (type) {
    case 0:   // echo reply
    case 8:   // echo request
    case 9:   // router advertisement (RFC 1256)
    case 10:  // router solicitation
    case 13:  // timestamp
    case 14:  // timestamp reply
    case 15:  // information request (obsolete)
    case 16:  // information reply
    case 17:  // address mask request (RFC 950)
    case 18:  // address mask reply
      return false;
    default:
      // 3, 4, 5, 11, 12 are errors; an unknown type is treated as one so we never answer it.
      return true;
  }
}

bool may_send_error_for(const Icmpv4ErrorTrigger& t) {
  // RFC 1122 §3.2.2: not in response to an ICMP error message.
  if (t.icmp_type && icmpv4_type_is_error(*t.icmp_type)) return false;
  // ... nor to a datagram destined to an IP broadcast or multicast address,
  if (t.dst.is_multicast() || t.dst.is_broadcast() || t.dst_is_broadcast) return false;
  // ... nor to a non-initial fragment,
  if (t.non_initial_fragment) return false;
  // ... nor to a datagram whose source does not define a single host: a zero ("this network",
  // 0/8), loopback, broadcast, multicast or class E address.
  const std::uint8_t first = t.src.b[0];
  if (first == 0 || t.src.is_loopback() || t.src.is_broadcast() || t.src.is_multicast() ||
      first >= 240)
    return false;
  return true;
}

}  // namespace tunstack::wire
