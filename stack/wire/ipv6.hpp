#pragma once
// IPv6 (RFC 8200) on the wire: a view over the fixed header, a value repr, the Fragment header,
// and the extension-header chain walker that finds the upper layer and says what RFC 8200 §4
// requires the receiver to do (accept, discard, or discard and send a Parameter Problem).
// Nothing here sends anything: decisions are returned to the caller.
#include <cstddef>
#include <cstdint>
#include <optional>

#include "stack/core/addr.hpp"
#include "stack/core/bytes.hpp"
#include "stack/core/result.hpp"
#include "stack/wire/error.hpp"
#include "stack/wire/ip_proto.hpp"

namespace tunstack::wire {

inline constexpr std::size_t kIpv6HeaderLen = 40;
inline constexpr std::size_t kIpv6FragHeaderLen = 8;
inline constexpr std::size_t kIpv6MaxPayloadLen = 65535;
/// The smallest link MTU IPv6 allows (RFC 8200 §5).
inline constexpr std::size_t kIpv6MinMtu = 1280;

/// A length-checked view of an IPv6 packet's fixed header and payload.
/// The view is cut at 40 + payload_length: bytes after that are not part of the packet.
class Ipv6View {
 public:
  /// < 40 bytes -> Truncated; version != 6 -> BadVersion; payload_length > buffer - 40 ->
  /// Truncated. Jumbograms (RFC 2675: payload_length 0 with a Hop-by-Hop header) are not
  /// supported and give BadTotalLength.
  static Result<Ipv6View, ParseError> check(Bytes bytes);

  std::uint8_t version() const { return load_u8(p()) >> 4; }
  std::uint8_t traffic_class() const {
    return static_cast<std::uint8_t>((load_be32(p()) >> 20) & 0xff);
  }
  std::uint32_t flow_label() const { return load_be32(p()) & 0xfffff; }
  std::uint16_t payload_length() const { return load_be16(p() + 4); }
  IpProto next_header() const { return static_cast<IpProto>(load_u8(p() + 6)); }
  std::uint8_t next_header_raw() const { return load_u8(p() + 6); }
  std::uint8_t hop_limit() const { return load_u8(p() + 7); }
  Ip6Addr src() const { return Ip6Addr::load(p() + 8); }
  Ip6Addr dst() const { return Ip6Addr::load(p() + 24); }

  Bytes header() const { return b_.first(kIpv6HeaderLen); }
  /// Everything after the fixed header: extension headers and upper layer, payload_length bytes.
  Bytes payload() const { return b_.subspan(kIpv6HeaderLen); }
  /// The packet: 40 + payload_length bytes.
  Bytes bytes() const { return b_; }

 private:
  explicit Ipv6View(Bytes b) : b_(b) {}
  const std::byte* p() const { return b_.data(); }
  Bytes b_;
};

/// The fields of the fixed IPv6 header as values. Extension headers are emitted separately.
struct Ipv6Repr {
  Ip6Addr src;
  Ip6Addr dst;
  IpProto next_header = IpProto::Udp;
  std::uint8_t hop_limit = 64;
  std::uint8_t traffic_class = 0;
  std::uint32_t flow_label = 0;  ///< 20 bits
  std::uint16_t payload_len = 0;

  /// Reads a checked view (cannot fail after check(); a Result for symmetry with other reprs).
  static Result<Ipv6Repr, ParseError> parse(const Ipv6View& view);
  static constexpr std::size_t header_len() { return kIpv6HeaderLen; }
  /// Writes the 40-byte fixed header into header[0, 40). Requires header.size() >= 40.
  void emit(MutBytes header) const;

  friend bool operator==(const Ipv6Repr&, const Ipv6Repr&) = default;
};

/// The IPv6 Fragment header (RFC 8200 §4.5), 8 bytes.
struct Ipv6FragHeader {
  std::uint8_t next_header = 0;
  std::uint16_t offset = 0;  ///< in bytes; a multiple of 8
  bool more = false;         ///< the M flag
  std::uint32_t ident = 0;

  /// Reads the first 8 bytes; Truncated when fewer. Reserved fields are ignored (RFC 8200 §4.5).
  static Result<Ipv6FragHeader, ParseError> parse(Bytes bytes);
  /// Writes 8 bytes (reserved fields zero). Requires out.size() >= 8 and offset % 8 == 0.
  void emit(MutBytes out) const;
  /// An atomic fragment (RFC 6946): offset 0 and M clear, i.e. a whole datagram.
  bool atomic() const { return offset == 0 && !more; }

  friend bool operator==(const Ipv6FragHeader&, const Ipv6FragHeader&) = default;
};

/// What to do with an option whose type we do not know: the two high bits of its type
/// (RFC 8200 §4.2).
enum class Ipv6OptAction : std::uint8_t {
  Skip = 0,                        ///< 00: skip it, keep processing the header
  Discard = 1,                     ///< 01: discard the packet silently
  DiscardIcmp = 2,                 ///< 10: discard, send Parameter Problem code 2
  DiscardIcmpUnlessMulticast = 3,  ///< 11: as 10, but only when the destination is not multicast
};
/// The action an option type's high bits ask for when the option is not recognised.
constexpr Ipv6OptAction ipv6_option_action(std::uint8_t type) {
  return static_cast<Ipv6OptAction>(type >> 6);
}

/// IPv6 option types the walker knows (RFC 8200 §4.2).
enum class Ipv6OptType : std::uint8_t { Pad1 = 0, PadN = 1 };

/// What RFC 8200 tells the receiver to do with a packet, beyond parsing it.
enum class Ipv6Verdict : std::uint8_t {
  Accept,       ///< deliver to the upper layer (or hand the fragment to reassembly)
  Discard,      ///< drop silently
  DiscardIcmp,  ///< drop and send ICMPv6 Parameter Problem with `problem` (RFC 4443 §3.4)
};

/// ICMPv6 Parameter Problem codes (RFC 4443 §3.4, RFC 7112).
enum class Ipv6ProblemCode : std::uint8_t {
  ErroneousField = 0,
  UnknownNextHeader = 1,
  UnknownOption = 2,
  IncompleteChain = 3,  ///< first fragment lacks the upper-layer header (RFC 8200 §4.5)
};

/// The contents of an ICMPv6 Parameter Problem the caller should send.
struct Ipv6ParamProblem {
  Ipv6ProblemCode code = Ipv6ProblemCode::ErroneousField;
  std::uint32_t pointer = 0;  ///< offset of the offending byte from the start of the IPv6 header
  friend bool operator==(const Ipv6ParamProblem&, const Ipv6ParamProblem&) = default;
};

/// Where a Fragment header sits in a packet and what it says.
struct Ipv6FragmentInfo {
  Ipv6FragHeader header;
  /// Offset of the Fragment header = end of the unfragmentable part (RFC 8200 §4.5).
  std::size_t header_offset = 0;
  std::size_t data_offset = 0;  ///< header_offset + 8: where the fragment's data starts
  std::size_t data_len = 0;     ///< fragment data bytes (to the end of the packet)
  /// Offset of the Next Header byte that names the Fragment header (6, or in an ext header).
  std::size_t next_header_field = 0;
};

/// Limits of the walker.
struct Ipv6WalkLimits {
  std::size_t max_ext_headers = 8;  ///< more than this -> ExtChainTooLong
};

/// What the extension-header walk found.
struct Ipv6Chain {
  /// The upper-layer protocol: where the walk stopped. Ipv6Frag when it stopped at a
  /// non-atomic fragment (the rest of the chain lives in the reassembled datagram).
  /// An unknown value is reported here too: the caller decides whether it is truly
  /// unrecognised and sends Parameter Problem code 1 with next_header_field as the pointer.
  std::uint8_t upper_protocol = 0;
  std::size_t upper_offset = 0;  ///< where the upper-layer header (or fragment data) starts
  std::size_t upper_len = 0;     ///< bytes from upper_offset to the end of the packet
  std::size_t next_header_field = 6;  ///< offset of the byte that named upper_protocol
  std::optional<Ipv6FragmentInfo> fragment;
  std::uint8_t ext_headers = 0;  ///< extension headers walked
  Ipv6Verdict verdict = Ipv6Verdict::Accept;
  Ipv6ParamProblem problem;  ///< meaningful only when verdict == DiscardIcmp

  IpProto upper() const { return static_cast<IpProto>(upper_protocol); }
};

/// Walks the extension-header chain (RFC 8200 §4) to the upper layer:
/// - Hop-by-Hop is allowed only right after the fixed header; elsewhere the packet is discarded
///   with Parameter Problem code 1 (RFC 8200 §4.1, RFC 2460 §4).
/// - Hop-by-Hop and Destination options are validated; an unknown option acts by its type's
///   high bits (RFC 8200 §4.2); a malformed option area -> BadOption.
/// - Routing with segments_left == 0 is ignored; with segments_left != 0 it is discarded with
///   Parameter Problem code 0 pointing at the Routing Type (RFC 8200 §4.4): this endpoint
///   implements no routing type (type 0 is deprecated, RFC 5095).
/// - A non-atomic Fragment header stops the walk; an atomic one (RFC 6946) is noted and the
///   walk continues. A second Fragment header -> BadExtHeader.
/// - ESP, AH, No Next Header and anything unknown stop the walk.
/// Header lengths running past the packet -> Truncated; more than max_ext_headers ->
/// ExtChainTooLong.
Result<Ipv6Chain, ParseError> walk_ext_headers(const Ipv6View& view,
                                               const Ipv6WalkLimits& limits = {});

/// True for next-header values the walker treats as extension headers it walks through.
constexpr bool is_walked_ext_header(std::uint8_t nh) {
  return nh == 0 || nh == static_cast<std::uint8_t>(IpProto::Ipv6Route) ||
         nh == static_cast<std::uint8_t>(IpProto::Ipv6Frag) ||
         nh == static_cast<std::uint8_t>(IpProto::Ipv6Opts);
}

/// RFC 8200 §4.5 / RFC 7112: true when a first fragment's data (starting with next header
/// `next_header`) holds every extension header and the start of the upper-layer header
/// (8 bytes of UDP, 20 of TCP, 8 of ICMPv6, 1 of anything else, as Linux checks).
bool first_fragment_chain_complete(Bytes fragment_data, std::uint8_t next_header);

/// The extent of the unfragmentable part of a whole (unfragmented) packet (RFC 8200 §4.5):
/// the fixed header, Hop-by-Hop, and everything up to and including a Routing header.
struct Ipv6Unfragmentable {
  std::size_t length = kIpv6HeaderLen;  ///< bytes of the unfragmentable part
  std::size_t next_header_field = 6;    ///< offset of its last Next Header byte
};
/// Finds the unfragmentable part; BadFragment when the packet already has a Fragment header,
/// BadExtHeader for a misplaced Hop-by-Hop, Truncated when a header runs past the packet,
/// ExtChainTooLong past the limit.
Result<Ipv6Unfragmentable, ParseError> find_unfragmentable(const Ipv6View& view,
                                                           const Ipv6WalkLimits& limits = {});

}  // namespace tunstack::wire
