#pragma once
// Big-endian loads and stores over byte spans. All packet field access goes through these
// (memcpy-based: no packed structs, no reinterpret_cast on packet bytes).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace tunstack {

using Bytes = std::span<const std::byte>;
using MutBytes = std::span<std::byte>;

inline std::uint16_t load_be16(const std::byte* p) {
  std::uint16_t v;
  std::memcpy(&v, p, 2);
  return __builtin_bswap16(v);
}
inline std::uint32_t load_be32(const std::byte* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return __builtin_bswap32(v);
}
inline void store_be16(std::byte* p, std::uint16_t v) {
  v = __builtin_bswap16(v);
  std::memcpy(p, &v, 2);
}
inline void store_be32(std::byte* p, std::uint32_t v) {
  v = __builtin_bswap32(v);
  std::memcpy(p, &v, 4);
}
inline std::uint8_t load_u8(const std::byte* p) { return static_cast<std::uint8_t>(*p); }
inline void store_u8(std::byte* p, std::uint8_t v) { *p = static_cast<std::byte>(v); }

/// Views a char/uint8_t buffer as bytes (for tests, sockets and fuzzers).
inline Bytes as_bytes(const void* p, std::size_t n) {
  return {static_cast<const std::byte*>(p), n};
}
inline MutBytes as_mut_bytes(void* p, std::size_t n) { return {static_cast<std::byte*>(p), n}; }

}  // namespace tunstack
