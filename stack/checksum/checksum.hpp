#pragma once
// The one Internet checksum module (RFC 1071), with pseudo-header helpers and incremental update
// (RFC 1624). Nobody else in tunstack sums 16-bit words.
//
// Conventions: a "sum" is an unfolded ones'-complement accumulator of the data read as big-endian
// 16-bit words, held in a uint64_t so that many partial sums can be added without overflow.
// fold() reduces it to 16 bits; finish() folds and complements: the value to store_be16() into a
// header. Chaining partial sums over several spans is exact when every span but the last has an
// even length.
#include <cstdint>

#include "stack/core/addr.hpp"
#include "stack/core/bytes.hpp"

namespace tunstack::checksum {

/// Adds the bytes of `data` (as big-endian 16-bit words, an odd tail padded with zero) to `sum`.
/// Uses the fastest implementation this CPU supports (chosen once, at first use).
[[nodiscard]] std::uint64_t add(Bytes data, std::uint64_t sum = 0);

/// Folds an accumulator to a 16-bit ones'-complement sum (not complemented).
[[nodiscard]] constexpr std::uint16_t fold(std::uint64_t sum) {
  sum = (sum & 0xffffffffu) + (sum >> 32);
  sum = (sum & 0xffffffffu) + (sum >> 32);
  sum = (sum & 0xffffu) + (sum >> 16);
  sum = (sum & 0xffffu) + (sum >> 16);
  sum = (sum & 0xffffu) + (sum >> 16);
  return static_cast<std::uint16_t>(sum);
}

/// Folds and complements: the checksum field value for data whose accumulator is `sum`.
[[nodiscard]] constexpr std::uint16_t finish(std::uint64_t sum) {
  return static_cast<std::uint16_t>(~fold(sum));
}

/// The Internet checksum of `data` (RFC 1071): finish(add(data)).
[[nodiscard]] inline std::uint16_t internet(Bytes data) { return finish(add(data)); }

/// True when data that includes its own checksum field sums to all-ones (verification).
[[nodiscard]] inline bool verify(Bytes data, std::uint64_t sum = 0) { return fold(add(data, sum)) == 0xffff; }

/// Accumulator of the IPv4 pseudo-header (RFC 768 / RFC 9293 §3.1): src, dst, zero, proto, length.
[[nodiscard]] std::uint64_t pseudo_header_v4(Ip4Addr src, Ip4Addr dst, std::uint8_t proto,
                                             std::uint16_t length);
/// Accumulator of the IPv6 pseudo-header (RFC 8200 §8.1): src, dst, upper-layer length, next header.
[[nodiscard]] std::uint64_t pseudo_header_v6(const Ip6Addr& src, const Ip6Addr& dst,
                                             std::uint8_t next_header, std::uint32_t length);
/// The pseudo-header for either family (src and dst must be of the same family).
[[nodiscard]] std::uint64_t pseudo_header(const IpAddr& src, const IpAddr& dst, std::uint8_t proto,
                                          std::uint32_t length);

/// RFC 1624 eqn. 3: the new checksum after one 16-bit field changed from old_field to new_field.
[[nodiscard]] std::uint16_t update16(std::uint16_t checksum, std::uint16_t old_field,
                                     std::uint16_t new_field);
/// RFC 1624 eqn. 3 for a 32-bit field (e.g. an IPv4 address or a TCP sequence number).
[[nodiscard]] std::uint16_t update32(std::uint16_t checksum, std::uint32_t old_field,
                                     std::uint32_t new_field);
/// RFC 1624 eqn. 3 for an arbitrary even-length region that changed from old_bytes to new_bytes.
[[nodiscard]] std::uint16_t update_bytes(std::uint16_t checksum, Bytes old_bytes, Bytes new_bytes);

/// The implementations, exposed for tests and benchmarks; add() dispatches to the best one.
enum class Impl : std::uint8_t { Portable, Avx2 };
[[nodiscard]] std::uint64_t add_portable(Bytes data, std::uint64_t sum = 0);
/// Only callable when cpu_supports(Impl::Avx2).
[[nodiscard]] std::uint64_t add_avx2(Bytes data, std::uint64_t sum = 0);
[[nodiscard]] bool cpu_supports(Impl impl);
/// The implementation add() uses on this CPU.
[[nodiscard]] Impl active_impl();
[[nodiscard]] const char* to_string(Impl impl);

}  // namespace tunstack::checksum
