// AVX2 Internet checksum. Compiled with per-function target attributes so that the rest of the
// library stays baseline x86-64; add() calls it only after cpu_supports(Impl::Avx2).
//
// The loop reads 32-byte vectors as eight native (little-endian) 32-bit lanes. Each lane holds two
// 16-bit words, lo and hi. Widening both words would cost a mask, a shift and two adds per vector;
// instead we keep two 32-bit accumulators per lane:
//   all += v        (the lane as a whole; wraps modulo 2^32)
//   hi  += v >> 16  (the high words alone; exact)
// With at most 65536 additions per lane, sum(lo) < 2^32, so sum(lo) == all - (hi << 16) modulo 2^32
// exactly. That is one load, one shift and two adds per 32 bytes, with no shuffles (which have
// fewer ports) and no unpacking. (_mm256_madd_epi16 against ones would be two ops, but it reads
// the words as signed.) Four accumulator pairs keep four vectors in flight. The byte order is
// fixed once at the end (detail::combine, RFC 1071 §2(B)).
#include "stack/checksum/checksum.hpp"

#if defined(__x86_64__)
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "stack/checksum/checksum_detail.hpp"

#define TUNSTACK_AVX2 __attribute__((target("avx2")))

namespace tunstack::checksum {

namespace {

/// Whole 128-byte blocks per reduction. Every lane then receives at most 4 * kMaxBlocks + 4
/// additions over the four accumulator pairs (the +4 from the tail), within the 65536 that keeps
/// the summed low words exact, so the pairs can be added together before one reduction.
constexpr std::size_t kMaxBlocks = 8192;
constexpr std::size_t kChunkBytes = kMaxBlocks * 128;
/// Shorter data takes the scalar loop (and the vector tail may then assume 4 readable bytes).
constexpr std::size_t kShort = 128;

/// One lane-wise accumulator pair (see the file comment).
struct Acc {
  __m256i all;
  __m256i hi;
};

TUNSTACK_AVX2 inline Acc zero_acc() { return {_mm256_setzero_si256(), _mm256_setzero_si256()}; }

TUNSTACK_AVX2 inline __m256i load256(const std::byte* p) {
  __m256i v;
  std::memcpy(&v, p, sizeof v);  // an unaligned vmovdqu; memcpy keeps it free of casts
  // Forces one load into a register: otherwise g++ folds the load into both the add and the shift,
  // two loads per vector, which measured 15-20% slower at 9000 and 65535 bytes.
  asm("" : "+v"(v));
  return v;
}

TUNSTACK_AVX2 inline void step(Acc& a, __m256i v) {
  a.all = _mm256_add_epi32(a.all, v);
  a.hi = _mm256_add_epi32(a.hi, _mm256_srli_epi32(v, 16));
}

/// Tells the compiler the accumulators may have changed (an empty asm). Without it g++ 12 copies
/// all eight between registers on every loop iteration, to feed the reduction; with it the loop is
/// nothing but loads, shifts and adds.
TUNSTACK_AVX2 inline void pin(Acc& a) { asm("" : "+v"(a.all), "+v"(a.hi)); }

/// Congruent modulo 0xffff, zero only when x is zero, below 2^17 per lane.
TUNSTACK_AVX2 inline __m256i shrink(__m256i x) {
  return _mm256_add_epi32(_mm256_and_si256(x, _mm256_set1_epi32(0xffff)), _mm256_srli_epi32(x, 16));
}

/// Horizontal sum of the 32-bit lanes (each below 2^18, so the total is below 2^21).
TUNSTACK_AVX2 inline std::uint32_t hsum(__m256i x) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(x), _mm256_extracti128_si256(x, 1));
  s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
  s = _mm_add_epi32(s, _mm_srli_epi64(s, 32));
  return static_cast<std::uint32_t>(_mm_cvtsi128_si32(s));
}

/// The native sum of four accumulator pairs, low-word sums recovered as all - (hi << 16).
TUNSTACK_AVX2 inline std::uint64_t reduce(const Acc& a0, const Acc& a1, const Acc& a2,
                                          const Acc& a3) {
  const __m256i all = _mm256_add_epi32(_mm256_add_epi32(a0.all, a1.all),
                                       _mm256_add_epi32(a2.all, a3.all));
  const __m256i hi = _mm256_add_epi32(_mm256_add_epi32(a0.hi, a1.hi),
                                      _mm256_add_epi32(a2.hi, a3.hi));
  const __m256i lo = _mm256_sub_epi32(all, _mm256_slli_epi32(hi, 16));
  return hsum(_mm256_add_epi32(shrink(lo), shrink(hi)));
}

/// The whole dwords among the first `dwords` that fall in [first, first + 8), by a masked load:
/// masked-off lanes are neither read nor faulted on, and arrive as zero.
TUNSTACK_AVX2 inline __m256i load_dwords(const std::byte* p, __m256i dwords, int first) {
  const __m256i index = _mm256_add_epi32(_mm256_set1_epi32(first),
                                         _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  // The intrinsic's signature wants an int pointer; the bytes are only read by the instruction.
  const int* lanes = reinterpret_cast<const int*>(p);  // NOLINT
  return _mm256_maskload_epi32(lanes, _mm256_cmpgt_epi32(dwords, index));
}

/// Sums blocks * 128 bytes (blocks <= kMaxBlocks), then the n < 128 bytes after them: their whole
/// dwords with four masked loads (no branches), their last n % 4 bytes with one overlapping
/// scalar load (so blocks * 128 + n must be at least 4). Always inlined, like the AVX-512 one.
TUNSTACK_AVX2 inline __attribute__((always_inline)) std::uint64_t sum_chunk(
    const std::byte* p, std::size_t blocks, std::size_t n) {
  const std::byte* const end = p + blocks * 128;
  const __m256i dwords = _mm256_set1_epi32(static_cast<int>(n / 4));
  Acc a0 = zero_acc(), a1 = zero_acc(), a2 = zero_acc(), a3 = zero_acc();
  step(a0, load_dwords(end, dwords, 0));
  step(a1, load_dwords(end + 32, dwords, 8));
  step(a2, load_dwords(end + 64, dwords, 16));
  step(a3, load_dwords(end + 96, dwords, 24));
  // The trailing n % 4 bytes start at a multiple of 4 from the data's start: an even offset, so
  // the first of them is the low byte of its native word (an odd last byte is thereby zero-padded
  // as RFC 1071 §4.1 asks).
  const std::uint64_t last = detail::tail_native_overlap4(end + n, n % 4);
  for (; p != end; p += 128) {
    step(a0, load256(p));
    step(a1, load256(p + 32));
    step(a2, load256(p + 64));
    step(a3, load256(p + 96));
  }
  pin(a0);
  pin(a1);
  pin(a2);
  pin(a3);
  return reduce(a0, a1, a2, a3) + last;
}

}  // namespace

TUNSTACK_AVX2 std::uint64_t add_avx2(Bytes data, std::uint64_t sum) {
  const std::byte* p = data.data();
  std::size_t n = data.size();
  // Headers and small packets: the scalar loop beats four masked loads and a vector reduction
  // (measured: 4.0 against 5.0 ns at 72 bytes; level at 128).
  if (n < kShort) return detail::combine(sum, detail::sum_short(p, n));
  // Chunk by chunk, so that no 32-bit lane can overflow however long the data. One call site, so
  // that sum_chunk is inlined once (and g++ keeps the accumulators in place).
  std::uint64_t native = 0;  // each chunk adds less than 2^21: no overflow for any real span
  for (;;) {
    const bool last = n <= kChunkBytes;
    native += sum_chunk(p, last ? n / 128 : kMaxBlocks, last ? n % 128 : 0);
    if (last) break;
    p += kChunkBytes;
    n -= kChunkBytes;
  }
  return detail::combine(sum, native);
}

}  // namespace tunstack::checksum

#else  // not x86-64: cpu_supports() is false, so this is never chosen; keep the symbol.

namespace tunstack::checksum {
std::uint64_t add_avx2(Bytes data, std::uint64_t sum) { return add_portable(data, sum); }
}  // namespace tunstack::checksum

#endif
