#pragma once
// The reference tests compare against: RFC 1071 §4.1 written as plainly as possible, and
// independent of stack/checksum (the code under test).
#include <cstdint>

#include "stack/core/bytes.hpp"

namespace tunstack::checksum::test {

/// Unfolded sum of `data` as big-endian 16-bit words, an odd last byte padded with zero.
inline std::uint64_t textbook_sum(Bytes data) {
  std::uint64_t sum = 0;
  std::size_t i = 0;
  for (; i + 1 < data.size(); i += 2) {
    sum += (std::uint64_t{static_cast<std::uint8_t>(data[i])} << 8) |
           static_cast<std::uint8_t>(data[i + 1]);
  }
  if (i < data.size()) sum += std::uint64_t{static_cast<std::uint8_t>(data[i])} << 8;
  return sum;
}

/// The Internet checksum of `data` (folded, complemented), the textbook way.
inline std::uint16_t textbook_checksum(Bytes data) {
  std::uint64_t s = textbook_sum(data);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<std::uint16_t>(~s);
}

}  // namespace tunstack::checksum::test
