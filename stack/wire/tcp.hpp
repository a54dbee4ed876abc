#pragma once
// TCP wire format (RFC 9293 §3.1): control bits, the options we understand (RFC 9293 MSS,
// RFC 7323 window scale and timestamps, RFC 2018 SACK), a length-checked view and a value repr
// whose emitter is on the TCP engine's hot path (no allocation; header written in front of a
// payload that is never copied here).
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "stack/core/addr.hpp"
#include "stack/core/bytes.hpp"
#include "stack/core/result.hpp"
#include "stack/core/seq.hpp"
#include "stack/wire/error.hpp"

namespace tunstack::wire {

/// Size of a TCP header without options.
inline constexpr std::size_t kTcpMinHeaderLen = 20;
/// Largest TCP header: the 4-bit data offset counts at most 15 words.
inline constexpr std::size_t kTcpMaxHeaderLen = 60;
/// Room for options in the largest header.
inline constexpr std::size_t kTcpMaxOptionsLen = kTcpMaxHeaderLen - kTcpMinHeaderLen;
/// Largest window-scale shift (RFC 7323 §2.3).
inline constexpr std::uint8_t kTcpMaxWindowShift = 14;
/// Most SACK blocks one option can carry (RFC 2018 §3: 2 + 8n bytes within 40 of option space).
inline constexpr std::size_t kTcpMaxSackBlocks = 4;

/// TCP option kinds (IANA "TCP Option Kind Numbers").
enum class TcpOptionKind : std::uint8_t {
  Eol = 0,
  Nop = 1,
  Mss = 2,
  WindowScale = 3,
  SackPermitted = 4,
  Sack = 5,
  Timestamps = 8,
};

/// The eight TCP control bits (RFC 9293 §3.1; ECE/CWR from RFC 3168) as a strong bit set.
class TcpFlags {
 public:
  constexpr TcpFlags() = default;
  constexpr explicit TcpFlags(std::uint8_t bits) : bits_(bits) {}

  static const TcpFlags FIN;
  static const TcpFlags SYN;
  static const TcpFlags RST;
  static const TcpFlags PSH;
  static const TcpFlags ACK;
  static const TcpFlags URG;
  static const TcpFlags ECE;
  static const TcpFlags CWR;

  /// The flag byte as on the wire (byte 13 of the header).
  constexpr std::uint8_t bits() const { return bits_; }
  /// True when every flag of f is set.
  constexpr bool has(TcpFlags f) const { return (bits_ & f.bits_) == f.bits_; }
  /// True when at least one flag of f is set.
  constexpr bool any(TcpFlags f) const { return (bits_ & f.bits_) != 0; }
  constexpr bool empty() const { return bits_ == 0; }
  constexpr TcpFlags with(TcpFlags f) const { return TcpFlags{static_cast<std::uint8_t>(bits_ | f.bits_)}; }
  constexpr TcpFlags without(TcpFlags f) const {
    return TcpFlags{static_cast<std::uint8_t>(bits_ & ~f.bits_)};
  }
  friend constexpr TcpFlags operator|(TcpFlags a, TcpFlags b) { return a.with(b); }
  friend constexpr TcpFlags operator&(TcpFlags a, TcpFlags b) {
    return TcpFlags{static_cast<std::uint8_t>(a.bits_ & b.bits_)};
  }
  constexpr TcpFlags& operator|=(TcpFlags f) { return *this = with(f); }
  friend constexpr bool operator==(TcpFlags, TcpFlags) = default;

  /// "SYN|ACK" style text for logs and test failure messages (not for the data path).
  std::string to_string() const;

 private:
  std::uint8_t bits_ = 0;
};

inline constexpr TcpFlags TcpFlags::FIN{0x01};
inline constexpr TcpFlags TcpFlags::SYN{0x02};
inline constexpr TcpFlags TcpFlags::RST{0x04};
inline constexpr TcpFlags TcpFlags::PSH{0x08};
inline constexpr TcpFlags TcpFlags::ACK{0x10};
inline constexpr TcpFlags TcpFlags::URG{0x20};
inline constexpr TcpFlags TcpFlags::ECE{0x40};
inline constexpr TcpFlags TcpFlags::CWR{0x80};

/// One SACK block: the bytes [left, right) that the receiver holds (RFC 2018 §3).
struct SackBlock {
  SeqNum left;
  SeqNum right;
  friend constexpr bool operator==(const SackBlock&, const SackBlock&) = default;
};

/// The timestamps option (RFC 7323 §3): the sender's clock and the echoed peer clock.
struct TcpTimestamps {
  std::uint32_t tsval = 0;
  std::uint32_t tsecr = 0;
  friend constexpr bool operator==(const TcpTimestamps&, const TcpTimestamps&) = default;
};

/// The options of one segment that tunstack understands; others are skipped by their length.
/// MSS and window scale are recorded whatever the segment's flags; the engine honours them only
/// on a SYN (RFC 9293 §3.7.1, RFC 7323 §2.2). A repeated option: the last one wins (as Linux).
struct TcpOptions {
  std::optional<std::uint16_t> mss;
  std::optional<std::uint8_t> wscale;  ///< shift count, at most 14 after parse
  bool wscale_clamped = false;         ///< the peer sent a shift > 14 (RFC 7323 §2.3)
  bool sack_permitted = false;
  std::uint8_t sack_count = 0;  ///< used entries of sack
  std::array<SackBlock, kTcpMaxSackBlocks> sack{};
  std::optional<TcpTimestamps> timestamps;

  /// Parses an option area (the bytes between the fixed header and the data offset).
  /// BadOption for a length of 0/1, an option running past the area, or a known kind with the
  /// wrong length (MSS 4, WS 3, SACK-permitted 2, SACK 2+8n with n in 1..4, timestamps 10).
  static Result<TcpOptions, ParseError> parse(Bytes options);
  /// As parse(), into `out` (reset first), sparing the copy of a Result on the receive path.
  [[nodiscard]] static Status<ParseError> parse_into(Bytes options, TcpOptions& out);

  /// The SACK blocks in use.
  std::span<const SackBlock> sack_blocks() const { return {sack.data(), sack_count}; }
  /// Appends a SACK block; false (and nothing stored) when four are already held.
  bool add_sack(SackBlock b);

  /// SACK blocks that emit() writes: all of them, or as many as fit in the 40 bytes left by the
  /// other options (Linux does the same: 3 blocks beside timestamps).
  std::size_t emitted_sack_count() const;
  /// Bytes emit() writes: a multiple of 4, at most 40.
  std::size_t size() const;
  /// Writes size() bytes in Linux's layout (tcp_options_write): MSS; SACK-permitted + TS as one
  /// word pair (or NOP,NOP,TS / NOP,NOP,SACK-permitted alone); NOP,WS; NOP,NOP,SACK blocks.
  /// Every option starts 4-aligned relative to the header, so no trailing padding is needed.
  /// Precondition: out.size() >= size().
  void emit(MutBytes out) const;

  /// Equal option values (wscale_clamped and unused SACK entries are not compared).
  friend bool operator==(const TcpOptions& a, const TcpOptions& b);
};

/// A non-owning view of one TCP segment, checked once; accessors cannot fail.
class TcpView {
 public:
  /// Checks 20 header bytes and 5 <= data offset, data offset * 4 <= b.size() (else
  /// BadHeaderLength). The segment is all of `b`: the IP layer has already cut it to its length.
  static Result<TcpView, ParseError> check(Bytes b);

  Port src_port() const { return Port{load_be16(b_.data())}; }
  Port dst_port() const { return Port{load_be16(b_.data() + 2)}; }
  SeqNum seq() const { return SeqNum{load_be32(b_.data() + 4)}; }
  /// The acknowledgment field, meaningful only when flags() has ACK.
  SeqNum ack() const { return SeqNum{load_be32(b_.data() + 8)}; }
  /// Header length in bytes (data offset * 4), 20..60.
  std::size_t header_len() const { return (std::size_t{load_u8(b_.data() + 12)} >> 4) * 4; }
  TcpFlags flags() const { return TcpFlags{load_u8(b_.data() + 13)}; }
  /// The raw (unscaled) window field.
  std::uint16_t window() const { return load_be16(b_.data() + 14); }
  std::uint16_t checksum() const { return load_be16(b_.data() + 16); }
  std::uint16_t urgent() const { return load_be16(b_.data() + 18); }
  /// The option area (possibly empty); parse with TcpOptions::parse.
  Bytes options() const { return b_.subspan(kTcpMinHeaderLen, header_len() - kTcpMinHeaderLen); }
  Bytes payload() const { return b_.subspan(header_len()); }
  Bytes segment() const { return b_; }

  /// Verifies the checksum over the pseudo-header of src/dst (same family) and the segment.
  [[nodiscard]] bool verify_checksum(const IpAddr& src, const IpAddr& dst) const;

 private:
  explicit TcpView(Bytes b) : b_(b) {}
  Bytes b_;
};

/// The meaning of a TCP header. `ack` is present exactly when the ACK flag is: parse() keeps them
/// in step and emit() writes the ACK bit from `ack` (and asserts that `flags` agrees).
struct TcpRepr {
  Port src_port;
  Port dst_port;
  SeqNum seq;
  std::optional<SeqNum> ack;
  TcpFlags flags;
  std::uint16_t window = 0;  ///< raw 16-bit field; scaling is the engine's business
  std::uint16_t urgent = 0;
  TcpOptions options;
  std::uint32_t payload_len = 0;  ///< filled by parse(); emit() uses the payload it is given

  /// Reads header and options without checking the checksum (for callers whose checksum was
  /// validated by offload, or that verify it themselves).
  static Result<TcpRepr, ParseError> parse(const TcpView& v);
  /// Verifies the checksum with the pseudo-header (BadChecksum), then parses.
  static Result<TcpRepr, ParseError> parse(const TcpView& v, const IpAddr& src, const IpAddr& dst);

  /// Header bytes emit() writes, options included (a multiple of 4, 20..60).
  std::size_t size() const { return kTcpMinHeaderLen + options.size(); }
  /// Sequence space the segment occupies: payload plus one each for SYN and FIN (RFC 9293 §3.4).
  std::uint32_t segment_len() const {
    return payload_len + (flags.has(TcpFlags::SYN) ? 1u : 0u) + (flags.has(TcpFlags::FIN) ? 1u : 0u);
  }

  /// Writes size() header bytes into `header` and the checksum over pseudo-header, header and
  /// `payload` (which may sit right behind `header`, the prepend case, and is only read).
  /// Returns size(). Preconditions: header.size() >= size(), src/dst of the same family.
  std::size_t emit(MutBytes header, Bytes payload, const IpAddr& src, const IpAddr& dst) const;
  /// As emit(), with the payload given as its checksum accumulator (checksum::add) and length:
  /// for an engine that summed the payload while copying it in, or keeps it for retransmission.
  std::size_t emit_with_payload_sum(MutBytes header, std::uint64_t payload_sum,
                                    std::size_t payload_size, const IpAddr& src,
                                    const IpAddr& dst) const;

  friend bool operator==(const TcpRepr&, const TcpRepr&) = default;

 private:
  /// Writes the header with a zero checksum field; returns its length.
  std::size_t write_header(MutBytes header) const;
};

}  // namespace tunstack::wire
