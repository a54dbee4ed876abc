// AVX-512 Internet checksum: the AVX2 scheme (see checksum_avx2.cpp) on 64-byte vectors, with the
// tail read by byte-masked loads (AVX512BW), which never touch memory past the end and need no
// scalar clean-up. add() calls it only after cpu_supports(Impl::Avx512) (which includes BMI2).
#include "stack/checksum/checksum.hpp"

#if defined(__x86_64__)
// g++ 12's AVX-512 intrinsics build their "undefined" vectors as `__m512i __Y = __Y;`, which
// -Werror=uninitialized rejects once inlined (GCC PR 105593, fixed in g++ 13). The values are
// genuinely don't-care, so silence the warning for this file only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "stack/checksum/checksum_detail.hpp"

#define TUNSTACK_AVX512 __attribute__((target("avx2,bmi2,avx512f,avx512bw,avx512vl")))

namespace tunstack::checksum {

namespace {

/// Whole 256-byte blocks per reduction. Every lane then receives at most 4 * kMaxBlocks + 4
/// additions over the four accumulator pairs (the +4 from the tail), within the 65536 that keeps
/// the summed low words exact, so the pairs can be added together before one reduction.
constexpr std::size_t kMaxBlocks = 8192;
constexpr std::size_t kChunkBytes = kMaxBlocks * 256;
/// Shorter data takes the scalar loop, which measured faster than a masked load and a reduction.
constexpr std::size_t kShort = 48;

/// One lane-wise accumulator pair: all += v (wrapping), hi += v >> 16 (exact).
struct Acc {
  __m512i all;
  __m512i hi;
};

TUNSTACK_AVX512 inline Acc zero_acc() { return {_mm512_setzero_si512(), _mm512_setzero_si512()}; }

TUNSTACK_AVX512 inline __m512i load512(const std::byte* p) {
  __m512i v;
  std::memcpy(&v, p, sizeof v);  // an unaligned vmovdqu64
  asm("" : "+v"(v));  // one load, not one folded into both the add and the shift (see AVX2 file)
  return v;
}

TUNSTACK_AVX512 inline void step(Acc& a, __m512i v) {
  a.all = _mm512_add_epi32(a.all, v);
  a.hi = _mm512_add_epi32(a.hi, _mm512_srli_epi32(v, 16));
}

/// Tells the compiler the accumulators may have changed (an empty asm). Without it g++ 12 copies
/// all eight between registers on every loop iteration, to feed the reduction; with it the loop is
/// nothing but loads, shifts and adds.
TUNSTACK_AVX512 inline void pin(Acc& a) { asm("" : "+v"(a.all), "+v"(a.hi)); }

/// Congruent modulo 0xffff, zero only when x is zero, below 2^17 per lane.
TUNSTACK_AVX512 inline __m512i shrink(__m512i x) {
  return _mm512_add_epi32(_mm512_and_si512(x, _mm512_set1_epi32(0xffff)), _mm512_srli_epi32(x, 16));
}

/// Horizontal sum of the 32-bit lanes (all callers keep each lane below 2^19: no overflow).
TUNSTACK_AVX512 inline std::uint32_t hsum(__m512i x) {
  const __m256i y = _mm256_add_epi32(_mm512_castsi512_si256(x), _mm512_extracti64x4_epi64(x, 1));
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(y), _mm256_extracti128_si256(y, 1));
  s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
  s = _mm_add_epi32(s, _mm_srli_epi64(s, 32));
  return static_cast<std::uint32_t>(_mm_cvtsi128_si32(s));
}

/// The native sum of four accumulator pairs: their low-word sums are recovered as
/// all - (hi << 16), exact modulo 2^32 (see checksum_avx2.cpp).
TUNSTACK_AVX512 inline std::uint64_t reduce(const Acc& a0, const Acc& a1, const Acc& a2,
                                            const Acc& a3) {
  const __m512i all = _mm512_add_epi32(_mm512_add_epi32(a0.all, a1.all),
                                       _mm512_add_epi32(a2.all, a3.all));
  const __m512i hi = _mm512_add_epi32(_mm512_add_epi32(a0.hi, a1.hi),
                                      _mm512_add_epi32(a2.hi, a3.hi));
  const __m512i lo = _mm512_sub_epi32(all, _mm512_slli_epi32(hi, 16));
  return hsum(_mm512_add_epi32(shrink(lo), shrink(hi)));
}

/// The first min(max(n - skip, 0), 64) bytes from p + skip: a byte-masked load (AVX512BW), which
/// neither reads nor faults on masked-off bytes and returns them as zero.
TUNSTACK_AVX512 inline __m512i load_part(const std::byte* p, std::size_t n, std::size_t skip) {
  const std::size_t count = std::min<std::size_t>(n > skip ? n - skip : 0, 64);
  const __mmask64 mask = _bzhi_u64(~std::uint64_t{0}, static_cast<unsigned>(count));
  return _mm512_maskz_loadu_epi8(mask, p + skip);
}

/// The first n <= 64 * kVectors bytes at p by kVectors masked loads (the last ones may load
/// nothing), as lanes congruent modulo 0xffff and below 2^17 * kVectors.
template <std::size_t kVectors>
TUNSTACK_AVX512 inline __m512i sum_small(const std::byte* p, std::size_t n) {
  __m512i r = shrink(load_part(p, n, 0));
  for (std::size_t i = 1; i < kVectors; ++i) {
    r = _mm512_add_epi32(r, shrink(load_part(p, n, 64 * i)));
  }
  return r;
}

/// Sums blocks * 256 bytes (blocks <= kMaxBlocks) and then the n < 256 bytes after them: their
/// whole vectors, then one masked load (an odd last byte sits at an even offset, in the low half
/// of its native word: the zero-padded high byte of its big-endian word). Always inlined: as a call
/// it measured 20% slower at 300..1500 bytes.
TUNSTACK_AVX512 inline __attribute__((always_inline)) std::uint64_t sum_chunk(
    const std::byte* p, std::size_t blocks, std::size_t n) {
  const std::byte* const end = p + blocks * 256;
  Acc a0 = zero_acc(), a1 = zero_acc(), a2 = zero_acc(), a3 = zero_acc();
  // The tail first (branching on n / 64 measured faster than four masked loads), so that the
  // loop's results flow straight into the reduction.
  if (n >= 64) step(a1, load512(end));
  if (n >= 128) step(a2, load512(end + 64));
  if (n >= 192) step(a3, load512(end + 128));
  step(a0, load_part(end + (n & ~std::size_t{63}), n & 63, 0));
  for (; p != end; p += 256) {
    step(a0, load512(p));
    step(a1, load512(p + 64));
    step(a2, load512(p + 128));
    step(a3, load512(p + 192));
  }
  pin(a0);
  pin(a1);
  pin(a2);
  pin(a3);
  return reduce(a0, a1, a2, a3);
}

}  // namespace

TUNSTACK_AVX512 std::uint64_t add_avx512(Bytes data, std::uint64_t sum) {
  const std::byte* p = data.data();
  std::size_t n = data.size();
  if (n < kShort) return detail::combine(sum, detail::sum_short(p, n));
  // Small packets: up to four masked loads and no accumulator pairs to reduce. Measured on the
  // dev box: 2.8 ns for 48..64 bytes, 3.2 for 128 and 3.8 for 256, against 6.3-7 through the
  // block path below.
  if (n <= 64) return detail::combine(sum, hsum(shrink(load_part(p, n, 0))));
  if (n <= 128) return detail::combine(sum, hsum(sum_small<2>(p, n)));
  if (n <= 256) return detail::combine(sum, hsum(sum_small<4>(p, n)));
  // Chunk by chunk, so that no 32-bit lane can overflow however long the data. One call site, so
  // that sum_chunk is inlined once (and g++ keeps the accumulators in place).
  std::uint64_t native = 0;  // each chunk adds less than 2^22: no overflow for any real span
  for (;;) {
    const bool last = n <= kChunkBytes;
    native += sum_chunk(p, last ? n / 256 : kMaxBlocks, last ? n % 256 : 0);
    if (last) break;
    p += kChunkBytes;
    n -= kChunkBytes;
  }
  return detail::combine(sum, native);
}

}  // namespace tunstack::checksum

#else  // not x86-64: cpu_supports() is false, so this is never chosen; keep the symbol.

namespace tunstack::checksum {
std::uint64_t add_avx512(Bytes data, std::uint64_t sum) { return add_portable(data, sum); }
}  // namespace tunstack::checksum

#endif
