#pragma once
// TCP sequence numbers: 32-bit modular arithmetic with wrap-safe comparison (RFC 9293 §3.4).
#include <cstdint>

namespace tunstack {

/// A TCP sequence number. Comparisons are modulo 2^32; plain-integer comparison is not offered.
class SeqNum {
 public:
  constexpr SeqNum() = default;
  constexpr explicit SeqNum(std::uint32_t v) : v_(v) {}
  constexpr std::uint32_t raw() const { return v_; }

  constexpr SeqNum operator+(std::uint32_t n) const { return SeqNum{v_ + n}; }
  constexpr SeqNum operator-(std::uint32_t n) const { return SeqNum{v_ - n}; }
  constexpr SeqNum& operator+=(std::uint32_t n) { v_ += n; return *this; }
  /// Signed distance from b to a (a - b), valid while |a - b| < 2^31.
  friend constexpr std::int32_t operator-(SeqNum a, SeqNum b) {
    return static_cast<std::int32_t>(a.v_ - b.v_);
  }
  friend constexpr bool operator==(SeqNum a, SeqNum b) = default;
  friend constexpr bool operator<(SeqNum a, SeqNum b) { return (a - b) < 0; }
  friend constexpr bool operator>(SeqNum a, SeqNum b) { return (a - b) > 0; }
  friend constexpr bool operator<=(SeqNum a, SeqNum b) { return (a - b) <= 0; }
  friend constexpr bool operator>=(SeqNum a, SeqNum b) { return (a - b) >= 0; }

  /// True when lo <= *this < lo + len (RFC 9293's window test).
  constexpr bool in_window(SeqNum lo, std::uint32_t len) const { return v_ - lo.v_ < len; }
  /// True when lo <= *this <= hi, modulo 2^32.
  constexpr bool between(SeqNum lo, SeqNum hi) const { return v_ - lo.v_ <= hi.v_ - lo.v_; }

  friend constexpr SeqNum seq_max(SeqNum a, SeqNum b) { return a > b ? a : b; }
  friend constexpr SeqNum seq_min(SeqNum a, SeqNum b) { return a < b ? a : b; }

 private:
  std::uint32_t v_ = 0;
};

}  // namespace tunstack
