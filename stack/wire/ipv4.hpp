#pragma once
// IPv4 (RFC 791) on the wire: a length-checked view over header bytes, a validating option reader
// and a value repr with parse/emit. Fields are read with load_be16/32 only.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "stack/core/addr.hpp"
#include "stack/core/bytes.hpp"
#include "stack/core/result.hpp"
#include "stack/wire/error.hpp"
#include "stack/wire/ip_proto.hpp"

namespace tunstack::wire {

inline constexpr std::size_t kIpv4MinHeaderLen = 20;
inline constexpr std::size_t kIpv4MaxHeaderLen = 60;
inline constexpr std::size_t kIpv4MaxOptionsLen = kIpv4MaxHeaderLen - kIpv4MinHeaderLen;
inline constexpr std::size_t kIpv4MaxTotalLen = 65535;
/// The smallest datagram every IPv4 module forwards unfragmented: 60 header + 8 data (RFC 791 §3.1).
inline constexpr std::size_t kIpv4MinMtu = 68;

/// IPv4 option type numbers that the parser itself must understand (RFC 791 §3.1).
enum class Ipv4OptType : std::uint8_t { EndOfList = 0, Nop = 1 };

/// True when an option type has the "copied" flag (RFC 791 §3.1): it goes into every fragment.
constexpr bool ipv4_option_copied(std::uint8_t type) { return (type & 0x80) != 0; }

/// One option as found in a header: single-byte (NOP) or type-length-value.
struct Ipv4Option {
  std::uint8_t type = 0;
  std::uint8_t length = 1;  ///< whole option on the wire, type and length bytes included
  Bytes data;               ///< the value bytes (empty for NOP)
  Bytes raw;                ///< the whole option as on the wire (to copy it into fragments)

  bool copied() const { return ipv4_option_copied(type); }
};

/// Walks an IPv4 options area, validating each option before handing it out.
/// Stops at End of Option List (the rest of the area is padding) or at the end of the bytes.
class Ipv4OptionReader {
 public:
  explicit Ipv4OptionReader(Bytes options) : opts_(options) {}

  /// The next option; nullopt at the end; ParseError::BadOption when a length byte is missing,
  /// below 2 or runs past the options area. After an error the reader stays at the end.
  Result<std::optional<Ipv4Option>, ParseError> next();

  /// Checks a whole options area without keeping anything.
  static Status<ParseError> validate(Bytes options);

 private:
  Bytes opts_;
  std::size_t pos_ = 0;
};

/// A length-checked view of an IPv4 datagram. After check() no accessor can fail.
/// The view is cut at total_length: link padding after the datagram is not part of it.
class Ipv4View {
 public:
  /// Validates version, IHL >= 5 and IHL*4 <= total_length <= buffer. Checks are ordered so
  /// each failure has one reason: < 20 bytes -> Truncated; version != 4 -> BadVersion;
  /// IHL < 5 -> BadHeaderLength; total_length < IHL*4 -> BadTotalLength;
  /// total_length > buffer -> Truncated. Checksum and options are not checked here
  /// (checksum_ok(), Ipv4OptionReader, Ipv4Repr::parse).
  static Result<Ipv4View, ParseError> check(Bytes bytes);

  std::uint8_t version() const { return load_u8(p()) >> 4; }
  /// Header length in 32-bit words (the IHL field).
  std::uint8_t ihl() const { return load_u8(p()) & 0x0f; }
  std::size_t header_len() const { return std::size_t{ihl()} * 4; }
  std::uint8_t dscp() const { return load_u8(p() + 1) >> 2; }
  std::uint8_t ecn() const { return load_u8(p() + 1) & 0x03; }
  /// The whole second byte (DSCP << 2 | ECN), as Ipv4Repr stores it.
  std::uint8_t dscp_ecn() const { return load_u8(p() + 1); }
  std::uint16_t total_length() const { return load_be16(p() + 2); }
  std::uint16_t ident() const { return load_be16(p() + 4); }
  bool dont_frag() const { return (load_u8(p() + 6) & 0x40) != 0; }
  bool more_frags() const { return (load_u8(p() + 6) & 0x20) != 0; }
  /// The fragment offset in bytes (the field counts 8-byte units).
  std::uint16_t frag_offset() const {
    return static_cast<std::uint16_t>((load_be16(p() + 6) & 0x1fff) * 8);
  }
  /// True for any piece of a fragmented datagram (MF set or a non-zero offset).
  bool is_fragment() const { return more_frags() || (load_be16(p() + 6) & 0x1fff) != 0; }
  std::uint8_t ttl() const { return load_u8(p() + 8); }
  IpProto protocol() const { return static_cast<IpProto>(load_u8(p() + 9)); }
  std::uint8_t protocol_raw() const { return load_u8(p() + 9); }
  std::uint16_t checksum() const { return load_be16(p() + 10); }
  Ip4Addr src() const { return Ip4Addr::load(p() + 12); }
  Ip4Addr dst() const { return Ip4Addr::load(p() + 16); }

  /// The options area (header_len() - 20 bytes, padding included).
  Bytes options() const { return b_.subspan(kIpv4MinHeaderLen, header_len() - kIpv4MinHeaderLen); }
  Bytes header() const { return b_.first(header_len()); }
  Bytes payload() const { return b_.subspan(header_len()); }
  /// The datagram: header and payload, total_length bytes.
  Bytes bytes() const { return b_; }
  /// True when the header checksum verifies (RFC 791 §3.1).
  bool checksum_ok() const;

 private:
  explicit Ipv4View(Bytes b) : b_(b) {}
  const std::byte* p() const { return b_.data(); }
  Bytes b_;
};

/// IPv4 options carried by value: up to 40 bytes inline, no heap.
class Ipv4Options {
 public:
  static constexpr std::size_t kCapacity = kIpv4MaxOptionsLen;

  /// Replaces the contents; false (contents unchanged) when longer than 40 bytes.
  [[nodiscard]] bool assign(Bytes b);
  /// Appends raw option bytes; false (contents unchanged) when the result would exceed 40 bytes.
  [[nodiscard]] bool append(Bytes b);
  void clear() { len_ = 0; }
  Bytes bytes() const { return {buf_.data(), len_}; }
  std::size_t size() const { return len_; }
  bool empty() const { return len_ == 0; }
  /// Bytes on the wire: the options padded with End of Option List to a multiple of 4.
  std::size_t padded_size() const { return (std::size_t{len_} + 3) & ~std::size_t{3}; }

  friend bool operator==(const Ipv4Options& a, const Ipv4Options& b);

 private:
  std::array<std::byte, kCapacity> buf_{};
  std::uint8_t len_ = 0;
};

/// The fields of an IPv4 header as values: what parse() reads and emit() writes.
struct Ipv4Repr {
  Ip4Addr src;
  Ip4Addr dst;
  IpProto protocol = IpProto::Udp;
  std::uint8_t ttl = 64;
  std::uint8_t dscp_ecn = 0;
  std::uint16_t ident = 0;
  bool dont_frag = false;
  bool more_frags = false;
  std::uint16_t frag_offset = 0;  ///< in bytes; a multiple of 8
  std::uint16_t payload_len = 0;  ///< bytes after the header (total_length - header_len)
  Ipv4Options options;            ///< raw option bytes; emit() pads them to 4 bytes

  /// Reads a checked view; BadChecksum when verify_checksum and the checksum is wrong,
  /// BadOption when the options area is malformed.
  static Result<Ipv4Repr, ParseError> parse(const Ipv4View& view, bool verify_checksum = true);

  /// Header bytes emit() writes: 20 + options padded to 4.
  std::size_t header_len() const { return kIpv4MinHeaderLen + options.padded_size(); }
  /// total_length of the datagram; callers must keep it <= 65535.
  std::size_t total_len() const { return header_len() + payload_len; }
  /// Writes the header (options padded with zeros) and its checksum into header[0, header_len()).
  /// Requires header.size() >= header_len(), total_len() <= 65535, frag_offset % 8 == 0.
  void emit(MutBytes header) const;

  friend bool operator==(const Ipv4Repr&, const Ipv4Repr&) = default;
};

}  // namespace tunstack::wire
