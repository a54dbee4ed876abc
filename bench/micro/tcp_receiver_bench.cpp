// Receive-side reassembly cost per segment: Receiver::accept() of a full segment (1448 bytes)
// that extends the newest out-of-order island, with 0, 10, 100 and 1000 islands outstanding
// (0: the segment is in order). The island table is meant to make this flat in the number of
// islands; the fixed part is the copy into the ring. When the window is full the holes are
// filled and the islands rebuilt with the clock paused, so the timed loop never grows the ring
// or the island table. The second benchmark is the other common case, steady loss: each
// iteration a retransmission fills the first hole and new data starts an island past the newest
// one (two accept() calls), so the number of islands stays the same. (There, with 1000 islands
// the two copies land 2.9 MB apart, beyond L2; with 16-byte segments the figures are flat.)
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "stack/tcp/receiver.hpp"

namespace {

using namespace tunstack;
using tunstack::tcp::Receiver;

constexpr std::uint32_t kSeg = 1448;
constexpr std::uint32_t kCap = 16u << 20;

/// A receiver with `islands` one-segment islands behind one-segment holes, and the next
/// segment to send (which extends the newest island).
class Reassembly {
 public:
  explicit Reassembly(std::size_t islands) : islands_(islands), payload_(kSeg, std::byte{0x5a}) {
    // Warm-up: one whole window in order, then read, so the ring holds its full storage.
    for (std::uint32_t off = 0; off < kCap; off += kSeg) (void)rx_.accept(rx_.rcv_nxt(), segment());
    rx_.consume(rx_.readable());
    build();
  }

  /// One segment extending the newest island (in order when there are none); false when it
  /// did not fit the window and the caller should rebuild().
  bool step() {
    if (static_cast<std::uint32_t>(next_ - rx_.rcv_nxt()) + kSeg > rx_.free_space()) return false;
    const tcp::RxResult r = rx_.accept(next_, segment());
    benchmark::DoNotOptimize(r);
    next_ += kSeg;
    rx_.consume(rx_.readable());
    return true;
  }

  /// Fills every hole (everything becomes in order and is read), then lays out the islands again.
  void rebuild() {
    for (SeqNum hole : holes_) (void)rx_.accept(hole, segment());
    rx_.consume(rx_.readable());
    build();
  }

  std::size_t islands_held() const { return rx_.ooo_ranges().size(); }

 private:
  Bytes segment() const { return {payload_.data(), payload_.size()}; }
  void build() {
    holes_.clear();
    const SeqNum base = rx_.rcv_nxt();
    for (std::size_t i = 0; i < islands_; ++i) {
      holes_.push_back(base + static_cast<std::uint32_t>(2 * i * kSeg));
      (void)rx_.accept(base + static_cast<std::uint32_t>((2 * i + 1) * kSeg), segment());
    }
    next_ = base + static_cast<std::uint32_t>(2 * islands_ * kSeg);
  }

  std::size_t islands_;
  std::vector<std::byte> payload_;
  Receiver rx_{kCap, SeqNum{0x7fff0000}};
  std::vector<SeqNum> holes_;
  SeqNum next_;
};

void BM_ReceiverAcceptExtendingNewestIsland(benchmark::State& state) {
  Reassembly r(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    if (!r.step()) {
      state.PauseTiming();
      r.rebuild();
      state.ResumeTiming();
      (void)r.step();
    }
  }
  if (r.islands_held() != static_cast<std::size_t>(state.range(0))) state.SkipWithError("islands lost");
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * kSeg);
}
BENCHMARK(BM_ReceiverAcceptExtendingNewestIsland)->Arg(0)->Arg(10)->Arg(100)->Arg(1000);

void BM_ReceiverFillFirstHoleAndStartIsland(benchmark::State& state) {
  const auto islands = static_cast<std::uint32_t>(state.range(0));
  Receiver rx(kCap, SeqNum{0xfff00000});
  const std::vector<std::byte> payload(kSeg, std::byte{0x33});
  const Bytes seg{payload.data(), payload.size()};
  // Islands at odd segments, holes at even ones; a new island goes two segments past the newest.
  for (std::uint32_t i = 0; i < islands; ++i) (void)rx.accept(rx.rcv_nxt() + (2 * i + 1) * kSeg, seg);
  SeqNum next = rx.rcv_nxt() + (2 * islands + 1) * kSeg;
  for (auto _ : state) {
    benchmark::DoNotOptimize(rx.accept(rx.rcv_nxt(), seg));
    rx.consume(rx.readable());
    benchmark::DoNotOptimize(rx.accept(next, seg));
    next += 2 * kSeg;
  }
  if (rx.ooo_ranges().size() != islands) state.SkipWithError("islands lost");
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * 2 * kSeg);
}
BENCHMARK(BM_ReceiverFillFirstHoleAndStartIsland)->Arg(1)->Arg(10)->Arg(100)->Arg(1000);

}  // namespace
