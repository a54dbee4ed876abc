// Cost per packet of the fault injector at the TUN boundary: the disabled path (what every packet
// pays when no impairment is configured) against a bare virtual emit, and the enabled paths:
// zero-latency loss, a 10 ms delay line with jitter holding ~10k packets, and everything at once
// (loss, duplication, reordering, delay, jitter and a rate limiter with a full queue).
// Buffers are recycled through the sink, so the pool's cost is not in the figures (except for the
// duplicates, which must be copies).
#include <benchmark/benchmark.h>

#include <vector>

#include "stack/impair/impairer.hpp"

namespace {

using namespace tunstack;

/// Takes emitted packets back for reuse, so the benchmark loop allocates nothing.
class Recycler final : public PacketOutput {
 public:
  Recycler(BufPool& pool, std::size_t n, std::size_t size) : pool_(pool), size_(size) {
    spare_.reserve(2 * n);
    for (std::size_t i = 0; i < n; ++i) {
      PacketBuf p = pool.alloc(size);
      p.append(size);
      spare_.push_back(std::move(p));
    }
  }
  void emit(PacketBuf p) override {
    ++emitted;
    if (spare_.size() < spare_.capacity()) spare_.push_back(std::move(p));
  }
  /// A spare buffer; a fresh one from the pool when lost packets have used them up.
  PacketBuf take() {
    if (spare_.empty()) {
      PacketBuf p = pool_.alloc(size_);
      p.append(size_);
      return p;
    }
    PacketBuf p = std::move(spare_.back());
    spare_.pop_back();
    return p;
  }
  std::uint64_t emitted = 0;

 private:
  BufPool& pool_;
  std::size_t size_;
  std::vector<PacketBuf> spare_;
};

/// The floor: one virtual emit per packet, no impairer at all.
void BM_Impair_BareEmit(benchmark::State& state) {
  BufPool pool;
  Recycler sink(pool, 1, 1400);
  PacketOutput* out = &sink;
  benchmark::DoNotOptimize(out);  // a real virtual call, as from the Impairer's PacketOutput&
  for (auto _ : state) out->emit(sink.take());
  benchmark::DoNotOptimize(sink.emitted);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_Impair_BareEmit);

/// The disabled impairer in the same loop as BareEmit: the difference is its whole cost.
void BM_Impair_DisabledSubmitOnly(benchmark::State& state) {
  BufPool pool;
  Recycler sink(pool, 1, 1400);
  impair::Impairer imp(impair::ImpairConfig{}, pool, sink);
  const Instant now = instant_from_ns(1'000'000'000);
  for (auto _ : state) imp.submit(now, sink.take());
  benchmark::DoNotOptimize(sink.emitted);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_Impair_DisabledSubmitOnly);

/// Runs `spec` with one 1400-byte packet every `gap_ns` of simulated time, polling at deadlines.
void run(benchmark::State& state, const char* spec, std::int64_t gap_ns) {
  BufPool::Config pc;
  pc.max_bytes = 1ull << 30;
  BufPool pool(pc);
  Recycler sink(pool, 40'000, 1400);
  auto cfg = impair::parse_spec(spec);
  if (!cfg) {
    state.SkipWithError(cfg.error().c_str());
    return;
  }
  impair::Impairer imp(*cfg, pool, sink);
  Instant now = instant_from_ns(1'000'000'000);
  for (auto _ : state) {
    now += Duration{gap_ns};
    if (auto d = imp.next_deadline(); d && *d <= now) imp.poll(now);
    imp.submit(now, sink.take());
  }
  state.counters["held"] = static_cast<double>(imp.stats().queued);
  if (imp.enabled())
    state.counters["delivered_share"] =
        static_cast<double>(imp.stats().delivered) / static_cast<double>(imp.stats().submitted);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void BM_Impair_Disabled(benchmark::State& state) { run(state, "off", 1000); }
BENCHMARK(BM_Impair_Disabled);

void BM_Impair_Loss1pct(benchmark::State& state) { run(state, "loss=1% seed=1", 1000); }
BENCHMARK(BM_Impair_Loss1pct);

void BM_Impair_Delay10msJitter(benchmark::State& state) {
  run(state, "delay=10ms jitter=1ms limit=100000 seed=1", 1000);  // 1 Mpps: ~10k packets held
}
BENCHMARK(BM_Impair_Delay10msJitter);

void BM_Impair_Everything(benchmark::State& state) {
  // 1400 B every 1 us = 11.2 Gbit/s offered to a 1 Gbit/s bottleneck: the queue stays full.
  run(state, "loss=1% dup=1% reorder=25% delay=10ms jitter=1ms rate=1gbit queue=1000 limit=100000 seed=1",
      1000);
}
BENCHMARK(BM_Impair_Everything);

}  // namespace
