#pragma once
// ICMPv6 wire format (RFC 4443): echo, destination unreachable, packet too big, time exceeded,
// parameter problem; builders for the errors the stack sends and the RFC 4443 §2.4(e) rule for
// when it may send them. Also the Neighbor Discovery messages a host may see (RFC 4861 router
// solicitation, neighbor solicitation/advertisement) so they parse cleanly: a TUN is L3, so NDP
// is informational only here and nothing in tunstack acts on it.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <variant>

#include "stack/core/addr.hpp"
#include "stack/core/bytes.hpp"
#include "stack/core/result.hpp"
#include "stack/wire/error.hpp"

namespace tunstack::wire {

/// Size of the ICMPv6 header: type, code, checksum and the 4-byte message-specific word.
inline constexpr std::size_t kIcmpv6HeaderLen = 8;
/// Size of the fixed part of a neighbor solicitation/advertisement (header + 16-byte target).
inline constexpr std::size_t kNdpNeighborHeaderLen = 24;
/// IPv6 minimum link MTU (RFC 8200 §5): an ICMPv6 error packet must not exceed it (RFC 4443 §2.4(c)).
inline constexpr std::size_t kIcmpv6ErrorMaxPacket = 1280;
/// Most bytes of the invoking packet an error quotes: 1280 minus our 40-byte IPv6 header (we send
/// no extension headers) minus the ICMPv6 header.
inline constexpr std::size_t kIcmpv6MaxQuote = kIcmpv6ErrorMaxPacket - 40 - kIcmpv6HeaderLen;
/// Fewest quoted bytes we accept in a received error: the invoking packet's IPv6 header.
inline constexpr std::size_t kIcmpv6MinQuote = 40;

/// ICMPv6 message types (IANA "ICMPv6 Parameters"); only some are parsed by Icmpv6Repr.
enum class Icmpv6Type : std::uint8_t {
  DestUnreachable = 1,
  PacketTooBig = 2,
  TimeExceeded = 3,
  ParamProblem = 4,
  EchoRequest = 128,
  EchoReply = 129,
  RouterSolicit = 133,
  RouterAdvert = 134,  ///< not parsed: nothing in tunstack configures itself from an RA
  NeighborSolicit = 135,
  NeighborAdvert = 136,
  Redirect = 137,  ///< not parsed
};

/// Destination unreachable codes (RFC 4443 §3.1 0-6; RFC 6554 7; RFC 8883 8).
enum class Icmpv6Unreach : std::uint8_t {
  NoRoute = 0,
  AdminProhibited = 1,
  BeyondScope = 2,
  Address = 3,
  Port = 4,
  SourcePolicy = 5,
  RejectRoute = 6,
  SourceRoutingHeader = 7,
  HeadersTooLong = 8,
};

/// Time exceeded codes (RFC 4443 §3.3).
enum class Icmpv6TimeExceededCode : std::uint8_t { HopLimit = 0, FragReassembly = 1 };

/// Parameter problem codes (RFC 4443 §3.4; 3 from RFC 7112).
enum class Icmpv6ParamCode : std::uint8_t {
  ErroneousHeader = 0,
  UnrecognizedNextHeader = 1,
  UnrecognizedOption = 2,
  IncompleteChain = 3,
};

/// Echo request or reply (RFC 4443 §4): identifier, sequence number and data echoed back.
struct Icmpv6Echo {
  bool reply = false;
  std::uint16_t id = 0;
  std::uint16_t seq = 0;
  Bytes data;
};

/// Destination unreachable (RFC 4443 §3.1).
struct Icmpv6DestUnreachable {
  Icmpv6Unreach code = Icmpv6Unreach::NoRoute;
  Bytes invoking;  ///< as much of the invoking packet as fitted, from its IPv6 header on
};

/// Packet too big (RFC 4443 §3.2), the signal of Path MTU Discovery (RFC 8201).
struct Icmpv6PacketTooBig {
  std::uint32_t mtu = 0;
  Bytes invoking;
};

/// Time exceeded (RFC 4443 §3.3).
struct Icmpv6TimeExceeded {
  Icmpv6TimeExceededCode code = Icmpv6TimeExceededCode::HopLimit;
  Bytes invoking;
};

/// Parameter problem (RFC 4443 §3.4): `pointer` is the offset of the offending octet in the
/// invoking packet.
struct Icmpv6ParamProblem {
  Icmpv6ParamCode code = Icmpv6ParamCode::ErroneousHeader;
  std::uint32_t pointer = 0;
  Bytes invoking;
};

/// Router solicitation (RFC 4861 §4.1). Informational: parsed so that it is not an error.
struct NdpRouterSolicit {
  Bytes options;  ///< NDP options, each length-checked (RFC 4861 §4.6)
};

/// Neighbor solicitation (RFC 4861 §4.3). Informational.
struct NdpNeighborSolicit {
  Ip6Addr target;
  Bytes options;
};

/// Neighbor advertisement (RFC 4861 §4.4). Informational.
struct NdpNeighborAdvert {
  bool router = false;
  bool solicited = false;
  bool override_entry = false;  ///< the O flag
  Ip6Addr target;
  Bytes options;
};

/// One parsed ICMPv6 message.
using Icmpv6Message =
    std::variant<Icmpv6Echo, Icmpv6DestUnreachable, Icmpv6PacketTooBig, Icmpv6TimeExceeded,
                 Icmpv6ParamProblem, NdpRouterSolicit, NdpNeighborSolicit, NdpNeighborAdvert>;

/// A non-owning view of an ICMPv6 message with at least its 8-byte header; accessors cannot fail.
class Icmpv6View {
 public:
  /// Checks that the 8-byte header is present. The message is all of `b` (IPv6 cut it).
  static Result<Icmpv6View, ParseError> check(Bytes b);

  std::uint8_t type() const { return load_u8(b_.data()); }
  std::uint8_t code() const { return load_u8(b_.data() + 1); }
  std::uint16_t checksum() const { return load_be16(b_.data() + 2); }
  /// Bytes 4-7: echo id/seq, MTU, pointer or NDP flags, depending on the type.
  std::uint32_t word() const { return load_be32(b_.data() + 4); }
  Bytes body() const { return b_.subspan(kIcmpv6HeaderLen); }
  Bytes message() const { return b_; }
  /// RFC 4443 §2.1: types 0-127 are errors, 128-255 informational.
  bool is_error() const { return type() < 128; }

  /// Verifies the checksum with the IPv6 pseudo-header, next header 58 (RFC 4443 §2.3).
  [[nodiscard]] bool verify_checksum(const Ip6Addr& src, const Ip6Addr& dst) const;

 private:
  explicit Icmpv6View(Bytes b) : b_(b) {}
  Bytes b_;
};

/// The meaning of an ICMPv6 message. The data/invoking/options bytes are borrowed, not copied.
struct Icmpv6Repr {
  Icmpv6Message message;

  /// Verifies the checksum (BadChecksum), then reads the message. BadType for other types;
  /// Truncated for an error quoting fewer than 40 bytes or a short NDP message; NDP (RFC 4861
  /// §6.1.1/§7.1.1): BadField for a nonzero code or a multicast target, BadOption for an option
  /// of length 0 or past the end. The IP-level NDP checks (hop limit 255) are the caller's.
  static Result<Icmpv6Repr, ParseError> parse(const Icmpv6View& v, const Ip6Addr& src,
                                              const Ip6Addr& dst);

  /// The reply to an echo request: same id, sequence and data (RFC 4443 §4.2).
  static Icmpv6Repr echo_reply(const Icmpv6Echo& request);
  /// Destination unreachable quoting `offending`, cut to kIcmpv6MaxQuote bytes (RFC 4443 §2.4(c)).
  static Icmpv6Repr dest_unreachable(Icmpv6Unreach code, Bytes offending);
  /// Packet too big with the MTU of the next hop (RFC 4443 §3.2).
  static Icmpv6Repr packet_too_big(std::uint32_t mtu, Bytes offending);
  static Icmpv6Repr time_exceeded(Icmpv6TimeExceededCode code, Bytes offending);
  static Icmpv6Repr param_problem(Icmpv6ParamCode code, std::uint32_t pointer, Bytes offending);

  /// True for error messages (types 0-127); echo and NDP are informational.
  bool is_error() const;
  /// The fixed part emit_header() writes: 8 bytes, or 24 for neighbor solicitation/advertisement.
  std::size_t header_len() const;
  /// The bytes after the fixed part: echo data, invoking packet or NDP options.
  Bytes body() const;
  /// Bytes of the whole message.
  std::size_t size() const { return header_len() + body().size(); }

  /// Writes the fixed part, with the checksum over pseudo-header, it and body(). The body is only
  /// read and may already sit right behind `header`. Precondition: header.size() >= header_len().
  void emit_header(MutBytes header, const Ip6Addr& src, const Ip6Addr& dst) const;
  /// Writes the whole message: the fixed part, then a copy of body() unless it is already in
  /// place. Precondition: out.size() >= size().
  void emit(MutBytes out, const Ip6Addr& src, const Ip6Addr& dst) const;
};

/// What the stack knows about a packet it is thinking of answering with an ICMPv6 error.
struct Icmpv6ErrorTrigger {
  Ip6Addr src;
  Ip6Addr dst;
  /// The ICMPv6 type when the packet's upper-layer header is ICMPv6 (after any extension headers).
  std::optional<std::uint8_t> icmpv6_type;
};

/// RFC 4443 §2.4(e): whether `error` may be sent about the packet. Never about an ICMPv6 error or
/// redirect (e.1, e.2), nor a packet from an address that is not one node's (e.6: unspecified,
/// multicast; also loopback, which RFC 4291 §2.5.3 says must never arrive from outside). To a
/// multicast destination (e.3) only Packet Too Big, or Parameter Problem code 2 about an option
/// whose type has the high-order bits 10 (RFC 8200 §4.2), read from error's quote at its pointer.
/// False when `error` is not an error message. Rate limiting (§2.4(f)) is the caller's job.
[[nodiscard]] bool may_send_error_for(const Icmpv6ErrorTrigger& t, const Icmpv6Repr& error);

}  // namespace tunstack::wire
