#pragma once
// Internal helpers shared by the checksum implementations (not part of the public API).
//
// Every implementation sums the data as NATIVE-endian (little-endian on x86) words and fixes the
// byte order once at the end: RFC 1071 §2(B) shows the ones'-complement sum is byte-order
// independent, so the folded native sum is the byte-swap of the folded big-endian sum. A byte at
// an even offset from the start of the data is the high byte of its big-endian word and the low
// byte of its native word; that is why an odd last byte (RFC 1071 §4.1: padded with a zero low
// byte on the wire's terms) is simply added as a small number here.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "stack/checksum/checksum.hpp"

namespace tunstack::checksum::detail {

inline std::uint64_t load_native64(const std::byte* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

inline std::uint32_t load_native32(const std::byte* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

inline std::uint16_t load_native16(const std::byte* p) {
  std::uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

/// acc += v with end-around carry: exact modulo 0xffff because 2^64 == 1 (mod 0xffff), so the
/// carry out of bit 63 is worth 1; and nonzero whenever either input is.
inline void add_eac(std::uint64_t& acc, std::uint64_t v) {
  acc += v;
  acc += static_cast<std::uint64_t>(acc < v);
}

/// The n < 8 bytes at p as a zero-padded native 64-bit word (branches on n; for short data).
inline std::uint64_t tail_native(const std::byte* p, std::size_t n) {
  std::uint64_t t = 0;
  unsigned shift = 0;
  if (n & 4) {
    t = load_native32(p);
    p += 4;
    shift = 32;
  }
  if (n & 2) {
    t |= std::uint64_t{load_native16(p)} << shift;
    p += 2;
    shift += 16;
  }
  if (n & 1) t |= std::uint64_t{static_cast<std::uint8_t>(*p)} << shift;
  return t;
}

/// The last r < 8 bytes before `end` as a zero-padded native word, without branches: reads the
/// 8 bytes before `end` (so at least 8 bytes must be readable there) and shifts out the 8 - r that
/// were already summed. The first kept byte lands at bit 0, keeping its even-offset parity.
inline std::uint64_t tail_native_overlap8(const std::byte* end, std::size_t r) {
  const std::uint64_t w = load_native64(end - 8);
  // Two shifts, because a single shift by 64 (r == 0) would be undefined.
  return (w >> 1) >> (63 - 8 * r);
}

/// The last r < 4 bytes before `end`, like tail_native_overlap8 (at least 4 readable bytes).
inline std::uint64_t tail_native_overlap4(const std::byte* end, std::size_t r) {
  return std::uint64_t{load_native32(end - 4)} >> (32 - 8 * r);
}

/// Sums short data (the callers use it below 48..128 bytes): one accumulator, word by word (short
/// data is not worth the set-up of the wide paths; a second accumulator measured no faster), then
/// the tail. The branches depend only on n, which is usually the same from one packet to the next
/// (a 20-byte header, a 40-byte ACK).
inline std::uint64_t sum_short(const std::byte* p, std::size_t n) {
  if (n < 8) return tail_native(p, n);
  std::uint64_t acc = load_native64(p);
  for (std::size_t i = 8; i + 8 <= n; i += 8) add_eac(acc, load_native64(p + i));
  add_eac(acc, tail_native_overlap8(p + n, n & 7));
  return acc;
}

/// Adds a sum of native-endian words to a big-endian accumulator `sum`, with end-around carry.
inline std::uint64_t combine(std::uint64_t sum, std::uint64_t native_sum) {
  const std::uint64_t be = __builtin_bswap16(fold(native_sum));
  add_eac(sum, be);
  return sum;
}

}  // namespace tunstack::checksum::detail
