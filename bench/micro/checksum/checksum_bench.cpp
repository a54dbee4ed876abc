// Internet checksum throughput: the dispatched path, each implementation, and a textbook 16-bit
// loop as the baseline, at header, packet and jumbo sizes (bytes/s, so GB/s can be read off).
// Every iteration sums the same span, written once before the timed loop, so the data is hot in
// cache: L1 up to 9000 bytes, L1/L2 at 65535. That is the typical packet case (the packet was just
// received or built), not memory bandwidth. Run:
//   micro_bench --benchmark_filter=Checksum --benchmark_repetitions=5
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "stack/checksum/checksum.hpp"

namespace {

using namespace tunstack;

constexpr std::int64_t kSizes[] = {20, 40, 64, 576, 1500, 9000, 65535};

/// 64 KiB plus slack for the unaligned runs, filled with seeded random bytes.
const std::vector<std::byte>& buffer() {
  static const std::vector<std::byte> buf = [] {
    std::vector<std::byte> b(65536 + 64);
    std::mt19937 rng(1071);
    for (auto& x : b) x = static_cast<std::byte>(rng());
    return b;
  }();
  return buf;
}

/// RFC 1071 §4.1 as written: big-endian 16-bit words one at a time into a wide accumulator, then
/// folded. (The compiler is free to vectorise it; g++ -O3 does, with SSE2.)
std::uint16_t textbook(Bytes data) {
  std::uint64_t sum = 0;
  std::size_t i = 0;
  for (; i + 1 < data.size(); i += 2) {
    sum += (std::uint64_t{static_cast<std::uint8_t>(data[i])} << 8) |
           static_cast<std::uint8_t>(data[i + 1]);
  }
  if (i < data.size()) sum += std::uint64_t{static_cast<std::uint8_t>(data[i])} << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum);
}

template <class F>
void run(benchmark::State& state, F&& f, std::size_t offset = 0) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const Bytes data = Bytes(buffer()).subspan(offset, n);
  for (auto _ : state) {
    Bytes d = data;
    benchmark::DoNotOptimize(d);  // hide the length and pointer from the optimiser
    auto r = f(d);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

void BM_Checksum_Active(benchmark::State& state) {
  state.SetLabel(checksum::to_string(checksum::active_impl()));
  run(state, [](Bytes d) { return checksum::internet(d); });
}

void BM_Checksum_Active_Unaligned(benchmark::State& state) {
  state.SetLabel(checksum::to_string(checksum::active_impl()));
  run(state, [](Bytes d) { return checksum::internet(d); }, 1);
}

void BM_Checksum_Avx512(benchmark::State& state) {
  if (!checksum::cpu_supports(checksum::Impl::Avx512)) {
    state.SkipWithError("no AVX-512 on this CPU");
    return;
  }
  run(state, [](Bytes d) { return checksum::finish(checksum::add_avx512(d)); });
}

void BM_Checksum_Avx2(benchmark::State& state) {
  if (!checksum::cpu_supports(checksum::Impl::Avx2)) {
    state.SkipWithError("no AVX2 on this CPU");
    return;
  }
  run(state, [](Bytes d) { return checksum::finish(checksum::add_avx2(d)); });
}

void BM_Checksum_Portable(benchmark::State& state) {
  run(state, [](Bytes d) { return checksum::finish(checksum::add_portable(d)); });
}

void BM_Checksum_Textbook(benchmark::State& state) { run(state, textbook); }

void sizes(benchmark::internal::Benchmark* b) {
  for (std::int64_t n : kSizes) b->Arg(n);
}

BENCHMARK(BM_Checksum_Active)->Apply(sizes);
BENCHMARK(BM_Checksum_Active_Unaligned)->Arg(1500)->Arg(65535);
BENCHMARK(BM_Checksum_Avx512)->Apply(sizes);
BENCHMARK(BM_Checksum_Avx2)->Apply(sizes);
BENCHMARK(BM_Checksum_Portable)->Apply(sizes);
BENCHMARK(BM_Checksum_Textbook)->Apply(sizes);

}  // namespace
