#pragma once
// ICMPv4 wire format (RFC 792, RFC 1191, RFC 1122 §3.2.2, RFC 1812 §4.3): echo, destination
// unreachable (incl. "fragmentation needed" with the next-hop MTU), time exceeded and parameter
// problem; builders for the error messages the stack sends and the rule for when it may send them.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <variant>

#include "stack/core/addr.hpp"
#include "stack/core/bytes.hpp"
#include "stack/core/result.hpp"
#include "stack/wire/error.hpp"

namespace tunstack::wire {

/// Size of the ICMPv4 header: type, code, checksum and the 4-byte "rest of header".
inline constexpr std::size_t kIcmpv4HeaderLen = 8;
/// RFC 1812 §4.3.2.3: an ICMP error datagram (IP header included) should not exceed 576 bytes.
inline constexpr std::size_t kIcmpv4ErrorMaxDatagram = 576;
/// Most bytes of the invoking packet an error quotes: 576 minus our 20-byte IPv4 header (we never
/// send IP options) minus the ICMP header.
inline constexpr std::size_t kIcmpv4MaxQuote = kIcmpv4ErrorMaxDatagram - 20 - kIcmpv4HeaderLen;
/// RFC 792: an error quotes the invoking IP header and at least 64 bits of its data; we require
/// at least a minimal IPv4 header plus those 8 bytes when parsing.
inline constexpr std::size_t kIcmpv4MinQuote = 20 + 8;

/// ICMPv4 message types (IANA "ICMP Type Numbers"); only some are parsed by Icmpv4Repr.
enum class Icmpv4Type : std::uint8_t {
  EchoReply = 0,
  DestUnreachable = 3,
  SourceQuench = 4,  ///< deprecated (RFC 6633), not parsed
  Redirect = 5,      ///< not parsed: a TUN endpoint has no routes to change
  EchoRequest = 8,
  RouterAdvert = 9,
  RouterSolicit = 10,
  TimeExceeded = 11,
  ParamProblem = 12,
  Timestamp = 13,
  TimestampReply = 14,
};

/// Destination unreachable codes (RFC 792 0-5, RFC 1122 §3.2.2.1 6-12, RFC 1812 §5.2.7.1 13-15).
enum class Icmpv4Unreach : std::uint8_t {
  Net = 0,
  Host = 1,
  Protocol = 2,
  Port = 3,
  FragNeeded = 4,  ///< "fragmentation needed and DF set"; carries the next-hop MTU (RFC 1191 §4)
  SourceRouteFailed = 5,
  NetUnknown = 6,
  HostUnknown = 7,
  SourceHostIsolated = 8,
  NetProhibited = 9,
  HostProhibited = 10,
  NetTos = 11,
  HostTos = 12,
  AdminProhibited = 13,
  HostPrecedence = 14,
  PrecedenceCutoff = 15,
};

/// Time exceeded codes (RFC 792).
enum class Icmpv4TimeExceededCode : std::uint8_t { TtlExceeded = 0, FragReassembly = 1 };

/// Echo request or reply (RFC 792): identifier, sequence number and data echoed back unchanged.
struct Icmpv4Echo {
  bool reply = false;
  std::uint16_t id = 0;
  std::uint16_t seq = 0;
  Bytes data;
};

/// Destination unreachable; `next_hop_mtu` is used only with FragNeeded (RFC 1191 §4; 0 from
/// routers that predate RFC 1191, when the RFC 1191 §5 plateau table applies).
struct Icmpv4DestUnreachable {
  Icmpv4Unreach code = Icmpv4Unreach::Net;
  std::uint16_t next_hop_mtu = 0;
  Bytes invoking;  ///< the quoted invoking packet: its IP header and at least 8 bytes of data
};

/// Time exceeded in transit (TTL) or during reassembly.
struct Icmpv4TimeExceeded {
  Icmpv4TimeExceededCode code = Icmpv4TimeExceededCode::TtlExceeded;
  Bytes invoking;
};

/// Parameter problem: `pointer` is the offset of the offending octet in the invoking packet
/// (code 0, RFC 792; code 1 "missing required option" and 2 "bad length" per RFC 1812 §5.2.7.3).
struct Icmpv4ParamProblem {
  std::uint8_t code = 0;
  std::uint8_t pointer = 0;
  Bytes invoking;
};

/// One parsed ICMPv4 message.
using Icmpv4Message =
    std::variant<Icmpv4Echo, Icmpv4DestUnreachable, Icmpv4TimeExceeded, Icmpv4ParamProblem>;

/// A non-owning view of an ICMPv4 message with at least its 8-byte header; accessors cannot fail.
class Icmpv4View {
 public:
  /// Checks that the 8-byte header is present. The message is all of `b` (IP cut it).
  static Result<Icmpv4View, ParseError> check(Bytes b);

  std::uint8_t type() const { return load_u8(b_.data()); }
  std::uint8_t code() const { return load_u8(b_.data() + 1); }
  std::uint16_t checksum() const { return load_be16(b_.data() + 2); }
  /// Echo identifier / sequence (bytes 4-5 / 6-7), meaningful for echo messages.
  std::uint16_t echo_id() const { return load_be16(b_.data() + 4); }
  std::uint16_t echo_seq() const { return load_be16(b_.data() + 6); }
  /// Next-hop MTU (bytes 6-7, RFC 1191 §4), meaningful for "fragmentation needed".
  std::uint16_t next_hop_mtu() const { return load_be16(b_.data() + 6); }
  /// Parameter-problem pointer (byte 4).
  std::uint8_t pointer() const { return load_u8(b_.data() + 4); }
  /// Everything after the 8-byte header: echo data or the quoted invoking packet.
  Bytes body() const { return b_.subspan(kIcmpv4HeaderLen); }
  Bytes message() const { return b_; }

  /// Verifies the checksum over the whole message (RFC 792: no pseudo-header for ICMPv4).
  [[nodiscard]] bool verify_checksum() const;

 private:
  explicit Icmpv4View(Bytes b) : b_(b) {}
  Bytes b_;
};

/// The meaning of an ICMPv4 message. The data/invoking bytes are borrowed, not copied.
struct Icmpv4Repr {
  Icmpv4Message message;

  /// Verifies the checksum (BadChecksum), then reads the message. BadType for types other than
  /// echo, destination unreachable, time exceeded and parameter problem; Truncated when an error
  /// quotes fewer than kIcmpv4MinQuote bytes.
  static Result<Icmpv4Repr, ParseError> parse(const Icmpv4View& v);

  /// The reply to an echo request: same id, sequence and data (RFC 792; RFC 1122 §3.2.2.6).
  static Icmpv4Repr echo_reply(const Icmpv4Echo& request);
  /// Destination unreachable quoting `offending` (an IP packet), cut to kIcmpv4MaxQuote bytes.
  static Icmpv4Repr dest_unreachable(Icmpv4Unreach code, Bytes offending);
  /// "Fragmentation needed and DF set" with the next-hop MTU (RFC 1191 §4).
  static Icmpv4Repr frag_needed(std::uint16_t next_hop_mtu, Bytes offending);
  /// Time exceeded quoting `offending`, cut to kIcmpv4MaxQuote bytes.
  static Icmpv4Repr time_exceeded(Icmpv4TimeExceededCode code, Bytes offending);
  /// Parameter problem (code 0) pointing at octet `pointer` of `offending`.
  static Icmpv4Repr param_problem(std::uint8_t pointer, Bytes offending);

  /// True for the error messages (everything but echo).
  bool is_error() const { return !std::holds_alternative<Icmpv4Echo>(message); }
  /// The echo data or invoking-packet bytes that follow the header.
  Bytes body() const;
  /// Bytes of the whole message: header plus body.
  std::size_t size() const { return kIcmpv4HeaderLen + body().size(); }

  /// Writes the 8-byte header, with the checksum over header and body(). The body is only read,
  /// so it may already sit right behind `header` (e.g. a truncated offending packet in the same
  /// PacketBuf). Precondition: header.size() >= 8.
  void emit_header(MutBytes header) const;
  /// Writes the whole message (size() bytes): header, then a copy of body() unless the body
  /// already sits at out[8]. Precondition: out.size() >= size().
  void emit(MutBytes out) const;
};

/// What the stack knows about a datagram it is thinking of answering with an ICMP error.
struct Icmpv4ErrorTrigger {
  Ip4Addr src;
  Ip4Addr dst;
  /// The ICMP type when the datagram carries ICMP and its first fragment holds the type.
  std::optional<std::uint8_t> icmp_type;
  bool non_initial_fragment = false;  ///< fragment offset != 0
  bool dst_is_broadcast = false;      ///< a directed broadcast the caller knows about
};

/// RFC 1122 §3.2.2 (and RFC 1812 §4.3.2.7): whether an ICMP error may be sent about a datagram.
/// Never about an ICMP error, a broadcast/multicast destination, a non-initial fragment, or a
/// source that does not name one host (0/8 "this network", loopback, broadcast, multicast,
/// class E). Rate limiting is the caller's job.
[[nodiscard]] bool may_send_error_for(const Icmpv4ErrorTrigger& t);

/// True for ICMP types that are error messages, or unknown (treated as errors, like Linux does,
/// so that we never answer them).
[[nodiscard]] bool icmpv4_type_is_error(std::uint8_t type);

}  // namespace tunstack::wire
