// The sender's cost per ACK with N segments in flight under steady 1% loss: each ACK SACKs one
// more segment at the top (extending the newest island), a new segment leaves, and every 100th
// segment stays a hole (SACKed ranges accumulate as the window does). RACK then runs its loss
// detection. The figure must not grow with N.
#include <benchmark/benchmark.h>

#include "stack/tcp/rack.hpp"
#include "stack/tcp/scoreboard.hpp"

namespace {

using namespace tunstack;
using namespace tunstack::tcp;

void BM_ScoreboardSackAndRackPerAck(benchmark::State& state) {
  const auto window = static_cast<std::uint32_t>(state.range(0));
  constexpr std::uint32_t kMss = 1448;
  Scoreboard sb;
  Rack rack;
  Instant now = instant_from_ns(1'000'000'000);
  SeqNum next{1};
  for (std::uint32_t i = 0; i < window; ++i) {
    sb.push(next, kMss).xmit = now;
    next += kMss;
  }
  SeqNum top = SeqNum{1} + window / 2 * kMss;  // the next segment the client reports
  std::uint64_t n = 0;
  const Duration min_rtt = std::chrono::milliseconds(20);
  for (auto _ : state) {
    now += std::chrono::microseconds(10);
    ++n;
    // Every 100th segment is a hole; the others extend the newest island.
    if (n % 100 != 0) {
      const SeqNum l = top;
      benchmark::DoNotOptimize(sb.sack(l, l + kMss, [&](SentSeg& s) { rack.on_delivered(s, now, min_rtt); }));
    }
    top += kMss;
    // Holes are repaired and cumulatively acked a window later: keep N in flight.
    if (sb.total_bytes() >= window * kMss) {
      const SeqNum ack = sb.at(sb.head()).end();
      sb.ack_to(ack, [](const SentSeg&, std::uint32_t) {});
    }
    sb.push(next, kMss).xmit = now;
    next += kMss;
    std::uint32_t segs = 0;
    std::optional<Instant> timer;
    rack.detect_loss(sb, now, std::chrono::milliseconds(5), segs, timer);
    // Lost segments are "retransmitted" at once, as the sender would.
    for (auto id = sb.next_lost(); id != sb.tail(); id = sb.next_lost()) {
      sb.on_retransmit(sb.at(id), now);
      rack.on_retransmit(id, now);
    }
  }
  state.counters["sacked_ranges"] = static_cast<double>(sb.sacked_ranges());
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_ScoreboardSackAndRackPerAck)->Arg(100)->Arg(1000)->Arg(10000)->Arg(50000);

}  // namespace
