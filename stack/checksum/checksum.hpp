#pragma once
// The one Internet checksum module (RFC 1071), with pseudo-header helpers and incremental update
// (RFC 1624). Nobody else in tunstack sums 16-bit words.
//
// Conventions: a "sum" is an unfolded ones'-complement accumulator of the data read as big-endian
// 16-bit words, held in a uint64_t so that many partial sums can be added without overflow.
// fold() reduces it to 16 bits; finish() folds and complements: the value to store_be16() into a
// header. Chaining partial sums over several spans is exact when every span but the last has an
// even length.
#include <bit>
#include <cstdint>

#include "stack/core/addr.hpp"
#include "stack/core/bytes.hpp"

namespace tunstack::checksum {

/// Adds the bytes of `data` (as big-endian 16-bit words, an odd tail padded with zero) to `sum`.
/// Uses the fastest implementation this CPU supports (chosen once, at first use).
[[nodiscard]] std::uint64_t add(Bytes data, std::uint64_t sum = 0);

/// Folds an accumulator to a 16-bit ones'-complement sum (not complemented): congruent to `sum`
/// modulo 0xffff, and 0 only when `sum` is 0.
[[nodiscard]] constexpr std::uint16_t fold(std::uint64_t sum) {
  // x + rotr(x, w/2) leaves hi + lo + (carry out of lo + hi) in the upper half: an end-around-carry
  // add of the two halves in two instructions (the Linux csum_fold trick), done at 64 then 32 bits.
  const auto s32 = static_cast<std::uint32_t>((sum + std::rotr(sum, 32)) >> 32);
  return static_cast<std::uint16_t>((s32 + std::rotr(s32, 16)) >> 16);
}

/// Folds and complements: the checksum field value for data whose accumulator is `sum`.
[[nodiscard]] constexpr std::uint16_t finish(std::uint64_t sum) {
  return static_cast<std::uint16_t>(~fold(sum));
}

/// The Internet checksum of `data` (RFC 1071): finish(add(data)).
[[nodiscard]] inline std::uint16_t internet(Bytes data) { return finish(add(data)); }

/// True when data that includes its own checksum field sums to all-ones (verification).
[[nodiscard]] inline bool verify(Bytes data, std::uint64_t sum = 0) {
  return fold(add(data, sum)) == 0xffff;
}

/// Accumulator of the IPv4 pseudo-header (RFC 768 / RFC 9293 §3.1): src, dst, zero, proto, length.
[[nodiscard]] std::uint64_t pseudo_header_v4(Ip4Addr src, Ip4Addr dst, std::uint8_t proto,
                                             std::uint16_t length);
/// Accumulator of the IPv6 pseudo-header (RFC 8200 §8.1): src, dst, upper-layer length, next
/// header.
[[nodiscard]] std::uint64_t pseudo_header_v6(const Ip6Addr& src, const Ip6Addr& dst,
                                             std::uint8_t next_header, std::uint32_t length);
/// The pseudo-header for either family (src and dst must be of the same family).
[[nodiscard]] std::uint64_t pseudo_header(const IpAddr& src, const IpAddr& dst, std::uint8_t proto,
                                          std::uint32_t length);

/// RFC 1624 eqn. 3: the new checksum after one 16-bit field changed from old_field to new_field.
/// The result is bit-identical to recomputing with finish() (0x0000, never 0xffff, when the new
/// data sums to negative zero; RFC 1624 §3, see checksum.cpp). UDP's "send 0 as 0xffff" (RFC 768)
/// stays the caller's job, and a zero (absent) UDP checksum must not be updated at all.
[[nodiscard]] std::uint16_t update16(std::uint16_t checksum, std::uint16_t old_field,
                                     std::uint16_t new_field);
/// RFC 1624 eqn. 3 for a 32-bit field (e.g. an IPv4 address or a TCP sequence number).
[[nodiscard]] std::uint16_t update32(std::uint16_t checksum, std::uint32_t old_field,
                                     std::uint32_t new_field);
/// RFC 1624 eqn. 3 for an even-length region, starting at an even offset of the checksummed data,
/// that changed from old_bytes to new_bytes (of the same size).
[[nodiscard]] std::uint16_t update_bytes(std::uint16_t checksum, Bytes old_bytes, Bytes new_bytes);

/// The implementations, exposed for tests and benchmarks; add() dispatches to the best one.
enum class Impl : std::uint8_t { Portable, Avx2, Avx512 };
/// Plain C++ (64-bit words with counted carries); runs anywhere. TUNSTACK_CHECKSUM=portable (or
/// avx2, avx512) in the environment overrides the choice add() makes, for tests and benchmarks.
[[nodiscard]] std::uint64_t add_portable(Bytes data, std::uint64_t sum = 0);
/// Only callable when cpu_supports(Impl::Avx2).
[[nodiscard]] std::uint64_t add_avx2(Bytes data, std::uint64_t sum = 0);
/// AVX-512 (BW + VL, with BMI2) variant with byte-masked tails; only callable when
/// cpu_supports(Impl::Avx512). add() prefers it to AVX2 where the CPU has it.
[[nodiscard]] std::uint64_t add_avx512(Bytes data, std::uint64_t sum = 0);
/// True when this CPU (and OS) can run `impl`.
[[nodiscard]] bool cpu_supports(Impl impl);
/// The implementation add() uses on this CPU.
[[nodiscard]] Impl active_impl();
/// "portable", "avx2" or "avx512": the names TUNSTACK_CHECKSUM accepts.
[[nodiscard]] const char* to_string(Impl impl);

}  // namespace tunstack::checksum
