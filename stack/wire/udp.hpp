#pragma once
// UDP wire format (RFC 768): a length-checked view and a value repr. The emitter writes only the
// 8-byte header, in front of a payload that already sits where it will be sent (PacketBuf
// headroom), so the payload is never copied here.
#include <cstddef>
#include <cstdint>

#include "stack/core/addr.hpp"
#include "stack/core/bytes.hpp"
#include "stack/core/result.hpp"
#include "stack/wire/error.hpp"

namespace tunstack::wire {

/// Size of the UDP header.
inline constexpr std::size_t kUdpHeaderLen = 8;
/// Largest payload whose length still fits the 16-bit UDP length field.
inline constexpr std::size_t kUdpMaxPayload = 0xffff - kUdpHeaderLen;

/// A non-owning view of one UDP datagram, cut at its length field; accessors cannot fail.
class UdpView {
 public:
  /// Checks that `b` holds a whole datagram: 8 header bytes and 8 <= length <= b.size().
  /// Bytes past the length field (link or IP padding) are not part of the view.
  static Result<UdpView, ParseError> check(Bytes b);

  Port src_port() const { return Port{load_be16(b_.data())}; }
  Port dst_port() const { return Port{load_be16(b_.data() + 2)}; }
  /// The UDP length field: header plus payload.
  std::uint16_t length() const { return load_be16(b_.data() + 4); }
  std::uint16_t checksum() const { return load_be16(b_.data() + 6); }
  Bytes header() const { return b_.first(kUdpHeaderLen); }
  Bytes payload() const { return b_.subspan(kUdpHeaderLen); }
  /// The whole datagram (header and payload, length() bytes).
  Bytes datagram() const { return b_; }

  /// Verifies the checksum with the pseudo-header of src/dst (same family). IPv4: a zero field
  /// means "no checksum" and is accepted (RFC 768). IPv6: a zero field is invalid (RFC 8200 §8.1).
  [[nodiscard]] bool verify_checksum(const IpAddr& src, const IpAddr& dst) const;

 private:
  explicit UdpView(Bytes b) : b_(b) {}
  Bytes b_;
};

/// The meaning of a UDP header: ports and payload length. The payload itself stays in the buffer.
struct UdpRepr {
  Port src_port;
  Port dst_port;
  std::uint16_t payload_len = 0;  ///< filled by parse(); emit() uses the payload it is given

  /// Reads the header without checking the checksum (for callers whose checksum was already
  /// validated, e.g. by virtio-net offload, or that verify it themselves).
  static UdpRepr parse(const UdpView& v);
  /// Verifies the checksum with the pseudo-header (UdpView::verify_checksum), then reads the header.
  static Result<UdpRepr, ParseError> parse(const UdpView& v, const IpAddr& src, const IpAddr& dst);

  /// Bytes emit() writes: the header only.
  static constexpr std::size_t size() { return kUdpHeaderLen; }

  /// Writes the 8-byte header into `header` and the checksum over pseudo-header, header and
  /// `payload`. `payload` may sit right behind `header` (the usual prepend case) or anywhere
  /// else; it is only read. IPv4: a computed checksum of 0 is sent as 0xffff (RFC 768), since 0
  /// means "none". Preconditions: header.size() >= 8, payload.size() <= kUdpMaxPayload, src and
  /// dst of the same family.
  void emit(MutBytes header, Bytes payload, const IpAddr& src, const IpAddr& dst) const;

  friend bool operator==(const UdpRepr&, const UdpRepr&) = default;
};

}  // namespace tunstack::wire
