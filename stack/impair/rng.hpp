#pragma once
// The impairer's random numbers: xoshiro256** seeded through splitmix64. Written out here rather
// than taken from <random> because the standard distributions are implementation-defined, and a
// seed must give the same losses on every compiler and library.
#include <cstdint>
#include <limits>

namespace tunstack::impair {

/// A small, fast, seedable generator (xoshiro256**, Blackman & Vigna 2018).
class Rng {
 public:
  explicit Rng(std::uint64_t seed) {
    for (auto& word : s_) word = splitmix64(seed);
  }

  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  /// True with the probability that `threshold` encodes (see threshold_of); draws nothing when
  /// the probability is 0, so a disabled feature does not shift the stream of the others.
  bool chance(std::uint64_t threshold) {
    if (threshold == 0) return false;
    if (threshold == kAlways) return true;
    return next() < threshold;
  }

  /// A uniform integer in [0, bound]; the modulo bias is bound / 2^64 (below 1e-6 for any jitter
  /// up to the one-hour cap).
  std::uint64_t upto(std::uint64_t bound) {
    return bound == std::numeric_limits<std::uint64_t>::max() ? next() : next() % (bound + 1);
  }

  /// Encodes a probability in [0, 1] as a 64-bit threshold (1.0 becomes kAlways).
  static std::uint64_t threshold_of(double p) {
    if (!(p > 0.0)) return 0;
    if (p >= 1.0) return kAlways;
    // p < 1 keeps p * 2^64 below 2^64 (at most 2^64 - 2^11), so the conversion is exact.
    const auto v = static_cast<std::uint64_t>(p * 18446744073709551616.0);
    return v == 0 ? 1 : v;
  }

  static constexpr std::uint64_t kAlways = std::numeric_limits<std::uint64_t>::max();

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static std::uint64_t splitmix64(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  std::uint64_t s_[4];
};

}  // namespace tunstack::impair
