// What tracing costs the TCP sender: one simulated 8 MiB download (SimNet: our TcpLayer, a
// simulated client, a 1 ms link with 0.5% loss so recovery runs too), timed whole, with
//   0: no trace sink installed,
//   1: a sink installed that selects no flow (the daemon with --trace-file and a filter that
//      matches nothing else: the per-connection pointer stays null),
//   2: a sink that takes every sample (a counter, no formatting: the cost of building samples).
// Figures are per simulated download; compare 0 and 1 (must be equal within noise) and 2.
#include <benchmark/benchmark.h>

#include "tests/stack/tcp/sim/sim_net.hpp"

namespace {

using namespace tunstack;
using namespace tunstack::tcp;

class CountingSink final : public TraceSink {
 public:
  explicit CountingSink(bool take) : take_(take) {}
  bool select(std::uint64_t, const Endpoint&, const Endpoint&) override { return take_; }
  void record(const TraceSample& s) override {
    ++samples;
    benchmark::DoNotOptimize(s.cwnd);
  }
  std::uint64_t samples = 0;

 private:
  bool take_;
};

void BM_SimDownloadTraceCost(benchmark::State& state) {
  const auto mode = state.range(0);
  CountingSink none(false), all(true);
  std::uint64_t segments = 0, samples = 0;
  for (auto _ : state) {
    sim::SimSetup s;
    s.bytes = 8u << 20;
    s.link.rtt = std::chrono::milliseconds(1);
    s.link.rate_bps = 1'000'000'000;
    s.link.loss = 0.005;
    s.trace = mode == 0 ? nullptr : mode == 1 ? static_cast<TraceSink*>(&none) : &all;
    sim::SimNet net(s);
    const sim::SimResult r = net.run();
    if (!r.completed || !r.byte_exact) state.SkipWithError("the download did not complete byte-exact");
    segments += net.stats().segments_out;
  }
  samples = all.samples;
  state.counters["segments_out"] = benchmark::Counter(static_cast<double>(segments), benchmark::Counter::kAvgIterations);
  state.counters["samples"] = benchmark::Counter(static_cast<double>(samples), benchmark::Counter::kAvgIterations);
  state.SetLabel(mode == 0 ? "no sink" : mode == 1 ? "sink, flow not selected" : "sink, every sample");
}
BENCHMARK(BM_SimDownloadTraceCost)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond);

}  // namespace
