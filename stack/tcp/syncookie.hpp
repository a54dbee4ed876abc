#pragma once
// SYN cookies (RFC 4987 §3.6) in Linux's layout, used when the half-open table is full: the
// SYN-ACK's ISS carries everything needed to rebuild the connection from the client's ACK, so a
// SYN flood costs no state.
//
//   ISS = H0(4-tuple) + client ISN + (slot << 24) + (MAC22 << 2 | mss_index)
//   MAC22 = 22 bits of H1(4-tuple, slot, client ISN, mss_index)
//
// H0/H1 are SipHash under the engine's secret, `slot` a 64 s clock. A cookie is accepted during
// its own slot and the next one (64..128 s): a blind guess passes the slot byte with chance
// 2/256 and the MAC with 2^-22, about 2^-29 in all (as Linux). Unlike Linux, whose MSS index is
// added to its MAC, the MAC covers the client's ISN and the index, so a cookie that validates for
// one (ISN, ACK) pair does not also validate for its neighbours. With timestamps the low 6 bits of the
// SYN-ACK's TSval carry what the cookie cannot (Linux's cookie_init_timestamp): the client's
// window scale (0..14; 15 = none) and SACK-permitted (bit 4); the client echoes them in TSecr.
// Without timestamps a cookie connection has neither window scaling nor SACK.
#include <array>
#include <cstdint>
#include <optional>

#include "stack/core/addr.hpp"
#include "stack/core/seq.hpp"
#include "stack/core/time.hpp"
#include "stack/tcp/isn.hpp"

namespace tunstack::tcp {

/// Encodes and checks SYN cookies; see the file comment.
class SynCookies {
 public:
  /// The MSS values a cookie can carry (Linux's msstab): index 0..3.
  static constexpr std::array<std::uint16_t, 4> kMssV4 = {536, 1300, 1440, 1460};
  static constexpr std::array<std::uint16_t, 4> kMssV6 = {1220, 1420, 1440, 8940};
  static_assert(kMssV4.size() == 4 && kMssV6.size() == 4, "the index has two bits");
  /// Length of a cookie slot: Linux uses one minute; a power of two makes it a shift.
  static constexpr Duration kSlot = std::chrono::seconds(64);

  explicit SynCookies(std::uint64_t secret)
      : key0_(derive_key(secret, 0x636f6f6b69653030ULL)), key1_(derive_key(secret, 0x636f6f6b69653131ULL)) {}

  /// The largest table entry not above the client's MSS (entry 0 when it is below all).
  static std::uint8_t mss_index(IpVersion v, std::uint16_t client_mss);
  /// The MSS for an index from mss_index().
  static std::uint16_t mss_of(IpVersion v, std::uint8_t index);

  /// The ISS for a SYN from `client` (ISN `client_isn`) to `server`.
  SeqNum make(const Endpoint& client, const Endpoint& server, SeqNum client_isn,
              std::uint8_t mss_index, Instant now) const;
  /// The MSS index when `cookie` (the client's ACK - 1) is one we made in this or the previous
  /// slot for this 4-tuple and `client_isn` (the ACK's SEQ - 1); nullopt otherwise.
  std::optional<std::uint8_t> check(const Endpoint& client, const Endpoint& server, SeqNum client_isn,
                                    SeqNum cookie, Instant now) const;

  /// Options carried in the low bits of a cookie SYN-ACK's TSval.
  struct TsBits {
    std::optional<std::uint8_t> wscale;  ///< the client's shift, when scaling was agreed
    bool sack = false;
  };
  /// Our TSval for a cookie SYN-ACK: the clock rounded down to 64 ms, with the bits in the rest
  /// (never ahead of the clock, so later RTT samples stay positive).
  static std::uint32_t encode_ts(std::uint32_t ts_now, const TsBits& bits);
  /// The bits echoed in the client's TSecr.
  static TsBits decode_ts(std::uint32_t tsecr);

 private:
  static std::uint32_t slot_of(Instant now);
  std::uint32_t h0(const Endpoint& c, const Endpoint& s) const;
  std::uint32_t mac(const Endpoint& c, const Endpoint& s, std::uint32_t slot, SeqNum client_isn,
                    std::uint8_t index) const;

  SipKey key0_;
  SipKey key1_;
};

}  // namespace tunstack::tcp
