// The Impairer with a fake clock: pass-through when disabled, statistical rates for a fixed seed,
// determinism, delay/jitter timing, rate-limiter arithmetic, bounded queues with counted drops,
// reordering semantics, and byte-identical duplicates.
#include "stack/impair/impairer.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace tunstack::impair {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

/// One packet as the output saw it.
struct Got {
  std::uint32_t id;
  Instant at;  ///< the time of the submit/poll call that released it
  std::size_t size;
  const std::byte* data;
  std::vector<std::byte> bytes;
};

/// Records everything emitted, stamped with the fixture's current time.
class Recorder final : public PacketOutput {
 public:
  explicit Recorder(const Instant& now) : now_(now) {}
  void emit(PacketBuf p) override {
    EXPECT_GT(room_left, 0u) << "emitted into a full output";
    if (room_left != std::numeric_limits<std::size_t>::max()) --room_left;
    Got g{load_be32(p.data()), now_, p.size(), p.data(), {}};
    if (keep_bytes) g.bytes.assign(p.data(), p.data() + p.size());
    got.push_back(std::move(g));
  }
  std::size_t room() const override { return room_left; }
  std::vector<Got> got;
  bool keep_bytes = false;
  std::size_t room_left = std::numeric_limits<std::size_t>::max();

 private:
  const Instant& now_;
};

/// Mean ± 5 standard deviations of a binomial count: a seeded run that fails this is a bug, and
/// one that passes it by chance on a wrong rate would need a 5-sigma accident.
void expect_binomial(std::uint64_t count, std::uint64_t n, double p, const char* what) {
  const double mean = static_cast<double>(n) * p;
  const double sd = std::sqrt(static_cast<double>(n) * p * (1.0 - p));
  EXPECT_NEAR(static_cast<double>(count), mean, 5.0 * sd) << what << ": " << count << " of " << n;
}

class ImpairerTest : public ::testing::Test {
 protected:
  void make(const std::string& spec, std::uint64_t stream = 0) {
    auto c = parse_spec(spec);
    ASSERT_TRUE(c.ok()) << c.error();
    imp.reset();
    imp = std::make_unique<Impairer>(*c, pool, out, stream);
  }
  /// A packet of `size` bytes starting with its id, then a pattern that depends on both.
  PacketBuf packet(std::uint32_t id, std::size_t size = 100) {
    PacketBuf p = pool.alloc(size);
    MutBytes b = p.append(size);
    for (std::size_t i = 0; i < size; ++i) b[i] = static_cast<std::byte>((id * 31 + i * 7) & 0xff);
    store_be32(b.data(), id);
    return p;
  }
  void submit(Instant t, std::uint32_t id, std::size_t size = 100) {
    now = t;
    imp->submit(t, packet(id, size));
  }
  /// Advances the fake clock to `t`, polling at every deadline on the way (as the event loop does).
  void run_until(Instant t) {
    while (auto d = imp->next_deadline()) {
      if (*d > t) break;
      now = std::max(now, *d);
      imp->poll(now);
    }
    now = t;
    imp->poll(t);
  }
  void expect_conservation() {
    const ImpairStats& s = imp->stats();
    EXPECT_EQ(s.submitted + s.duplicated,
              s.delivered + s.dropped_loss + s.dropped_queue_full + s.dropped_limit + s.queued);
  }
  std::vector<std::uint32_t> ids() const {
    std::vector<std::uint32_t> v;
    for (const Got& g : out.got) v.push_back(g.id);
    return v;
  }

  const Instant t0 = instant_from_ns(1'000'000'000);
  Instant now = t0;
  BufPool pool;
  Recorder out{now};
  std::unique_ptr<Impairer> imp;
};

TEST_F(ImpairerTest, DisabledPassesThroughInOrderWithoutCopying) {
  make("off");
  EXPECT_FALSE(imp->enabled());
  for (std::uint32_t i = 0; i < 1000; ++i) {
    PacketBuf p = packet(i);
    const std::byte* where = p.data();
    imp->submit(t0, std::move(p));
    ASSERT_EQ(out.got.size(), i + 1u);  // emitted inside submit()
    EXPECT_EQ(out.got.back().data, where);  // the same buffer, not a copy
    EXPECT_FALSE(imp->next_deadline());
  }
  for (std::uint32_t i = 0; i < 1000; ++i) EXPECT_EQ(out.got[i].id, i);
  // Disabled means not there at all: not even counters are touched.
  EXPECT_EQ(imp->stats().submitted, 0u);
  EXPECT_EQ(imp->stats().delivered, 0u);
  EXPECT_EQ(imp->stats().queued, 0u);
}

TEST_F(ImpairerTest, FullOutputKeepsDuePacketsHeldInOrder) {
  // A full output (the TUN's TX queue) is not a loss: due packets wait, in order, and leave when
  // room comes back; while blocked the impairer asks for no wake-up of its own.
  make("delay=5ms");
  for (std::uint32_t i = 0; i < 4; ++i) submit(t0, i);
  out.room_left = 0;
  run_until(t0 + milliseconds(6));
  EXPECT_TRUE(out.got.empty());
  EXPECT_TRUE(imp->output_blocked());
  EXPECT_FALSE(imp->next_deadline());
  EXPECT_GE(imp->stats().output_waits, 1u);
  submit(t0 + milliseconds(6), 4);  // due now, but the output is still full: held behind the rest
  EXPECT_TRUE(out.got.empty());
  out.room_left = std::numeric_limits<std::size_t>::max();
  imp->poll(t0 + milliseconds(7));
  EXPECT_EQ(ids(), (std::vector<std::uint32_t>{0, 1, 2, 3}));
  run_until(t0 + milliseconds(12));
  EXPECT_EQ(ids(), (std::vector<std::uint32_t>{0, 1, 2, 3, 4}));
  EXPECT_FALSE(imp->output_blocked());
  expect_conservation();
  EXPECT_EQ(imp->stats().dropped_loss + imp->stats().dropped_limit, 0u);
}

TEST_F(ImpairerTest, LossOnlyFastPathRespectsAFullOutput) {
  make("loss=0.0001% seed=3");  // enabled, no delay: packets normally leave inside submit()
  out.room_left = 0;
  submit(t0, 1);
  submit(t0, 2);
  EXPECT_TRUE(out.got.empty());
  out.room_left = 1;
  imp->poll(t0);
  EXPECT_EQ(ids(), (std::vector<std::uint32_t>{1}));
  out.room_left = 5;
  imp->poll(t0);
  EXPECT_EQ(ids(), (std::vector<std::uint32_t>{1, 2}));
  expect_conservation();
}

TEST_F(ImpairerTest, LossRateMatchesForAFixedSeed) {
  for (const char* spec : {"loss=2% seed=7", "loss=50% seed=8", "loss=0.1% seed=9"}) {
    out.got.clear();
    make(spec);
    constexpr std::uint32_t kN = 100'000;
    for (std::uint32_t i = 0; i < kN; ++i) submit(t0 + microseconds(i), i);
    const double p = parse_spec(spec)->loss;
    expect_binomial(imp->stats().dropped_loss, kN, p, spec);
    EXPECT_EQ(out.got.size() + imp->stats().dropped_loss, kN);
    // Loss alone adds no latency: survivors leave in the call that took them, in order.
    EXPECT_FALSE(imp->next_deadline());
    EXPECT_TRUE(std::is_sorted(out.got.begin(), out.got.end(),
                               [](const Got& a, const Got& b) { return a.id < b.id; }));
    expect_conservation();
  }
}

TEST_F(ImpairerTest, DuplicatesAreByteIdenticalSeparateBuffers) {
  make("dup=10% seed=3");
  out.keep_bytes = true;
  constexpr std::uint32_t kN = 20'000;
  for (std::uint32_t i = 0; i < kN; ++i) submit(t0 + microseconds(i), i, 40 + i % 1400);
  expect_binomial(imp->stats().duplicated, kN, 0.10, "duplicated");
  EXPECT_EQ(out.got.size(), kN + imp->stats().duplicated);
  std::map<std::uint32_t, std::vector<const Got*>> by_id;
  for (const Got& g : out.got) by_id[g.id].push_back(&g);
  ASSERT_EQ(by_id.size(), kN);
  std::uint64_t pairs = 0;
  for (auto& [id, copies] : by_id) {
    ASSERT_LE(copies.size(), 2u);
    if (copies.size() == 2) {
      ++pairs;
      EXPECT_EQ(copies[0]->bytes, copies[1]->bytes) << "packet " << id;
      EXPECT_EQ(copies[0]->size, 40 + id % 1400);
    }
  }
  EXPECT_EQ(pairs, imp->stats().duplicated);
  expect_conservation();
}

TEST_F(ImpairerTest, DuplicateWithAnEmptyPoolIsCountedNotFatal) {
  BufPool::Config pc;
  pc.max_bytes = 2 * pc.small_size;  // room for two blocks
  BufPool small(pc);
  {
    Recorder rec{now};
    ImpairConfig c;
    c.duplicate = 1.0;
    Impairer dup(c, small, rec);
    auto zeroed = [&] {
      PacketBuf p = small.alloc(100);
      for (std::byte& b : p.append(100)) b = std::byte{0};
      return p;
    };
    PacketBuf hog = zeroed();    // one block taken elsewhere
    dup.submit(t0, zeroed());  // the original takes the last block: no copy possible
    EXPECT_EQ(rec.got.size(), 1u);
    EXPECT_EQ(dup.stats().dup_no_buffer, 1u);
    EXPECT_EQ(dup.stats().duplicated, 0u);
    hog = PacketBuf{};
    dup.submit(t0, zeroed());
    EXPECT_EQ(rec.got.size(), 3u);
    EXPECT_EQ(dup.stats().duplicated, 1u);
  }
  EXPECT_EQ(small.stats().blocks_out, 0u);
}

TEST_F(ImpairerTest, GilbertElliottGivesBurstsWithTheModelsMeanLoss) {
  make("ge=1%,25% seed=11");  // P(G->B) 1%, P(B->G) 25%, Bad loses all, Good none
  constexpr std::uint32_t kN = 200'000;
  for (std::uint32_t i = 0; i < kN; ++i) submit(t0 + microseconds(i), i);
  const double expected = 0.01 / (0.01 + 0.25);  // stationary share of the Bad state
  const double rate = static_cast<double>(imp->stats().dropped_loss) / kN;
  EXPECT_NEAR(rate, expected, 0.1 * expected);
  // Runs of consecutive losses are Bad-state sojourns: geometric with mean 1/r = 4 packets.
  std::uint64_t runs = 0;
  std::uint32_t expect_next = 0;
  for (const Got& g : out.got) {
    if (g.id != expect_next) ++runs;
    expect_next = g.id + 1;
  }
  const double mean_run = static_cast<double>(imp->stats().dropped_loss) / static_cast<double>(runs);
  EXPECT_NEAR(mean_run, 4.0, 0.4);
  expect_conservation();
}

/// A reproducible mixed workload: returns (id, release time) of everything emitted.
std::vector<std::pair<std::uint32_t, Instant>> mixed_run(const std::string& spec, std::uint64_t stream) {
  Instant now = instant_from_ns(0);
  Instant stamp = now;  // the time of the call that releases a packet
  BufPool pool;
  Recorder out{stamp};
  auto c = parse_spec(spec);
  EXPECT_TRUE(c.ok());
  Impairer imp(*c, pool, out, stream);
  std::uint64_t lcg = 12345;  // the input sequence, fixed independently of the impairer's seed
  for (std::uint32_t i = 0; i < 5000; ++i) {
    lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    now += microseconds((lcg >> 33) % 300);
    while (auto d = imp.next_deadline()) {
      if (*d > now) break;
      stamp = *d;
      imp.poll(stamp);
    }
    PacketBuf p = pool.alloc(1500);
    MutBytes b = p.append(64 + (lcg >> 40) % 1400);
    store_be32(b.data(), i);
    stamp = now;
    imp.submit(now, std::move(p));
  }
  stamp = now + std::chrono::seconds(10);
  imp.poll(stamp);
  std::vector<std::pair<std::uint32_t, Instant>> v;
  for (const Got& g : out.got) v.emplace_back(g.id, g.at);
  return v;
}

TEST(ImpairerDeterminism, SameSeedSameOutputDifferentSeedOrStreamDiffers) {
  const std::string spec = "loss=5% dup=5% reorder=20% delay=5ms jitter=2ms rate=50mbit queue=50 seed=42";
  const auto a = mixed_run(spec, 0);
  const auto b = mixed_run(spec, 0);
  ASSERT_GT(a.size(), 4000u);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, mixed_run("loss=5% dup=5% reorder=20% delay=5ms jitter=2ms rate=50mbit queue=50 seed=43", 0));
  EXPECT_NE(a, mixed_run(spec, 1));
}

TEST_F(ImpairerTest, DelayIsExactWithoutJitter) {
  make("delay=10ms");
  for (std::uint32_t i = 0; i < 100; ++i) submit(t0 + microseconds(100 * i), i);
  EXPECT_TRUE(out.got.empty());
  ASSERT_TRUE(imp->next_deadline());
  EXPECT_EQ(*imp->next_deadline(), t0 + milliseconds(10));
  run_until(t0 + milliseconds(10) - std::chrono::nanoseconds(1));
  EXPECT_TRUE(out.got.empty());
  EXPECT_EQ(imp->stats().queued, 100u);
  EXPECT_EQ(imp->stats().queued_bytes, 100u * 100u);
  run_until(t0 + milliseconds(30));
  ASSERT_EQ(out.got.size(), 100u);
  for (std::uint32_t i = 0; i < 100; ++i) {
    EXPECT_EQ(out.got[i].id, i);
    EXPECT_EQ(out.got[i].at, t0 + microseconds(100 * i) + milliseconds(10));
  }
  EXPECT_EQ(imp->stats().delayed, 100u);
  EXPECT_EQ(imp->stats().queued, 0u);
  EXPECT_EQ(imp->stats().queued_bytes, 0u);
  EXPECT_FALSE(imp->next_deadline());
}

TEST_F(ImpairerTest, JitterIsUniformAroundTheDelay) {
  make("delay=10ms jitter=2ms seed=5");
  // Packets far apart: no packet waits for its predecessor, so each latency is a raw draw.
  constexpr std::uint32_t kN = 20'000;
  Instant t = t0;
  std::vector<Instant> sent;
  for (std::uint32_t i = 0; i < kN; ++i) {
    sent.push_back(t);
    submit(t, i);
    t += milliseconds(50);
    run_until(t);
  }
  ASSERT_EQ(out.got.size(), kN);
  double sum = 0.0;
  Duration lo = std::chrono::hours(1), hi{0};
  for (const Got& g : out.got) {
    const Duration lat = g.at - sent[g.id];
    lo = std::min(lo, lat);
    hi = std::max(hi, lat);
    sum += static_cast<double>(lat.count());
  }
  EXPECT_GE(lo, milliseconds(8));
  EXPECT_LE(hi, milliseconds(12));
  EXPECT_LT(lo, microseconds(8050));  // the whole range is used
  EXPECT_GT(hi, microseconds(11950));
  // Uniform on [8, 12] ms: sd 1.155 ms, so the mean of 20k draws is within 0.05 ms of 10 ms.
  EXPECT_NEAR(sum / kN / 1e6, 10.0, 0.05);
}

TEST_F(ImpairerTest, JitterAloneNeverReorders) {
  make("delay=10ms jitter=5ms seed=6");
  std::vector<Instant> sent;
  for (std::uint32_t i = 0; i < 5000; ++i) {
    sent.push_back(t0 + microseconds(200 * i));
    submit(sent.back(), i);
    run_until(now);
  }
  run_until(now + std::chrono::seconds(1));
  ASSERT_EQ(out.got.size(), 5000u);
  for (std::uint32_t i = 0; i < 5000; ++i) {
    ASSERT_EQ(out.got[i].id, i);
    EXPECT_GE(out.got[i].at, sent[i] + milliseconds(5));
    if (i > 0) {
      EXPECT_GE(out.got[i].at, out.got[i - 1].at);
    }
  }
  EXPECT_EQ(imp->stats().reordered, 0u);
}

TEST_F(ImpairerTest, RateLimitSerialisesBackToBackPackets) {
  make("rate=8mbit queue=1000");  // 8 Mbit/s = one byte per microsecond
  for (std::uint32_t i = 0; i < 100; ++i) submit(t0, i, 1000);
  EXPECT_EQ(imp->stats().rate_waited, 99u);  // all but the first found the link busy
  run_until(t0 + std::chrono::seconds(1));
  ASSERT_EQ(out.got.size(), 100u);
  for (std::uint32_t i = 0; i < 100; ++i) {
    EXPECT_EQ(out.got[i].id, i);
    EXPECT_EQ(out.got[i].at, t0 + microseconds(1000 * (i + 1)));  // its last bit has left
  }
}

TEST_F(ImpairerTest, RateLimitRoundingNeverDrifts) {
  make("rate=7mbit queue=1000");  // 12000 bits take 1.714285... ms each
  constexpr std::uint64_t kN = 700;
  for (std::uint32_t i = 0; i < kN; ++i) submit(t0, i, 1500);
  run_until(t0 + std::chrono::seconds(10));
  ASSERT_EQ(out.got.size(), kN);
  for (std::uint64_t k = 0; k < kN; ++k) {
    const std::uint64_t exact_ns = (k + 1) * 12000ULL * 1'000'000'000ULL / 7'000'000ULL;
    EXPECT_EQ(out.got[k].at, t0 + std::chrono::nanoseconds(exact_ns)) << k;
  }
  EXPECT_EQ(out.got.back().at, t0 + milliseconds(1200));  // 700 * 12000 bits / 7 Mbit/s, exactly
}

TEST_F(ImpairerTest, RateLimitDeliversRateTimesIntervalUnderOverload) {
  make("rate=10mbit queue=10mb");  // offered 20 Mbit/s below
  for (std::uint32_t i = 0; i < 2000; ++i) {
    submit(t0 + microseconds(500 * i), i, 1250);
    run_until(now);
  }
  run_until(t0 + std::chrono::seconds(5));
  // In any window once the queue has built up, the link carries rate * window / 8 bytes (±1 packet).
  for (auto [from, to] : {std::pair{200, 700}, std::pair{300, 400}, std::pair{100, 900}}) {
    std::uint64_t bytes = 0;
    for (const Got& g : out.got)
      if (g.at > t0 + milliseconds(from) && g.at <= t0 + milliseconds(to)) bytes += g.size;
    const std::uint64_t expect = 10'000'000ULL / 8 * static_cast<std::uint64_t>(to - from) / 1000;
    EXPECT_NEAR(static_cast<double>(bytes), static_cast<double>(expect), 1250.0) << from << ".." << to;
  }
}

TEST_F(ImpairerTest, FullQueueTailDropsAndCounts) {
  make("rate=1mbit queue=10");
  for (std::uint32_t i = 0; i < 100; ++i) submit(t0, i, 1000);
  EXPECT_EQ(imp->stats().dropped_queue_full, 90u);
  EXPECT_EQ(imp->stats().queued, 10u);
  // 10 packets of 8000 bits drain in 80 ms; then there is room again.
  run_until(t0 + milliseconds(80));
  EXPECT_EQ(out.got.size(), 10u);
  for (std::uint32_t i = 0; i < 10; ++i) EXPECT_EQ(out.got[i].id, i);  // tail drop keeps the head
  for (std::uint32_t i = 100; i < 120; ++i) submit(now, i, 1000);
  EXPECT_EQ(imp->stats().dropped_queue_full, 100u);
  expect_conservation();

  make("rate=1mbit queue=5500b");
  for (std::uint32_t i = 0; i < 10; ++i) submit(now, i, 1000);
  EXPECT_EQ(imp->stats().dropped_queue_full, 5u);
  EXPECT_EQ(imp->stats().queued_bytes, 5000u);
  // A small packet still fits where a big one did not.
  submit(now, 50, 500);
  EXPECT_EQ(imp->stats().dropped_queue_full, 5u);
  submit(now, 51, 1);
  EXPECT_EQ(imp->stats().dropped_queue_full, 6u);
  expect_conservation();
}

TEST_F(ImpairerTest, LimitBoundsHeldPackets) {
  make("delay=1s limit=100");
  for (std::uint32_t i = 0; i < 150; ++i) submit(t0, i, 200);
  EXPECT_EQ(imp->stats().dropped_limit, 50u);
  EXPECT_EQ(imp->stats().queued, 100u);
  EXPECT_EQ(imp->stats().queued_bytes, 100u * 200u);
  EXPECT_EQ(pool.stats().blocks_out, 100u);
  run_until(t0 + std::chrono::seconds(1));
  EXPECT_EQ(out.got.size(), 100u);
  EXPECT_EQ(imp->stats().queued, 0u);
  EXPECT_EQ(pool.stats().blocks_out, 0u);
  expect_conservation();
}

/// Counts arrivals a TCP receiver would call out of order: a packet after a higher-numbered one.
std::size_t late_arrivals(const std::vector<std::uint32_t>& ids) {
  std::size_t late = 0;
  std::uint32_t high = 0;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i > 0 && ids[i] < high) ++late;
    high = std::max(high, ids[i]);
  }
  return late;
}

TEST_F(ImpairerTest, ReorderSendsPacketsAheadOfTheDelayLine) {
  make("reorder=25% delay=10ms seed=21");
  constexpr std::uint32_t kN = 10'000;
  std::vector<Instant> sent;
  for (std::uint32_t i = 0; i < kN; ++i) {
    sent.push_back(t0 + milliseconds(i));
    submit(sent.back(), i);
    run_until(now);
  }
  run_until(now + std::chrono::seconds(1));
  ASSERT_EQ(out.got.size(), kN);
  std::set<std::uint32_t> seen;
  std::uint64_t ahead = 0;
  for (const Got& g : out.got) {
    seen.insert(g.id);
    const Duration lat = g.at - sent[g.id];
    EXPECT_TRUE(lat == Duration{0} || lat == milliseconds(10)) << g.id;
    if (lat == Duration{0}) ++ahead;
  }
  EXPECT_EQ(seen.size(), kN);  // reordering loses nothing
  EXPECT_EQ(ahead, imp->stats().reordered);
  expect_binomial(ahead, kN, 0.25, "reordered");
  // A packet sent ahead overtakes the ~10 still in the delay line: those all arrive late.
  EXPECT_GT(late_arrivals(ids()), kN / 2);
}

TEST_F(ImpairerTest, ReorderWithAGapHoldsPacketsBack) {
  make("reorder=25% gap=5ms delay=10ms seed=22");
  constexpr std::uint32_t kN = 10'000;
  std::vector<Instant> sent;
  for (std::uint32_t i = 0; i < kN; ++i) {
    sent.push_back(t0 + milliseconds(i));
    submit(sent.back(), i);
    run_until(now);
  }
  run_until(now + std::chrono::seconds(1));
  ASSERT_EQ(out.got.size(), kN);
  std::uint64_t held_back = 0;
  for (const Got& g : out.got) {
    const Duration lat = g.at - sent[g.id];
    EXPECT_TRUE(lat == milliseconds(10) || lat == milliseconds(15)) << g.id;
    if (lat == milliseconds(15)) ++held_back;
  }
  EXPECT_EQ(held_back, imp->stats().reordered);
  expect_binomial(held_back, kN, 0.25, "held back");
  // Each held-back packet is overtaken by the ~5 sent after it: it is the late one.
  const std::size_t late = late_arrivals(ids());
  EXPECT_GT(late, kN / 8);
  EXPECT_LE(late, held_back);
}

TEST_F(ImpairerTest, TimeGoingBackwardsIsTreatedAsTheLatest) {
  make("delay=1ms");
  submit(t0 + milliseconds(10), 0);
  submit(t0 + milliseconds(5), 1);  // a stale clock reading
  run_until(t0 + milliseconds(20));
  ASSERT_EQ(out.got.size(), 2u);
  EXPECT_EQ(out.got[0].id, 0u);
  EXPECT_EQ(out.got[1].at, t0 + milliseconds(11));
}

TEST_F(ImpairerTest, EverythingTogetherConservesPacketsAndBuffers) {
  make("loss=3% dup=3% reorder=10% delay=3ms jitter=1ms rate=20mbit queue=30 limit=200 seed=5");
  for (std::uint32_t i = 0; i < 20'000; ++i) {
    submit(t0 + microseconds(100 * i), i, 64 + (i * 37) % 1400);  // ~57 Mbit/s offered: drops
    run_until(now);
    if (i % 1000 == 0) expect_conservation();
  }
  const ImpairStats& s = imp->stats();
  EXPECT_GT(s.dropped_loss, 0u);
  EXPECT_GT(s.duplicated, 0u);
  EXPECT_GT(s.dropped_queue_full, 0u);
  EXPECT_GT(s.reordered, 0u);
  EXPECT_LE(s.queued, 200u);
  expect_conservation();
  run_until(now + std::chrono::seconds(1));
  EXPECT_EQ(s.queued, 0u);
  expect_conservation();
  EXPECT_EQ(pool.stats().blocks_out, 0u);  // every buffer went back, duplicates included

  std::set<std::string> names;
  s.visit([&](std::string_view n, std::uint64_t) { names.insert(std::string(n)); });
  EXPECT_EQ(names.size(), 13u);
}

TEST_F(ImpairerTest, ImpairedOutputStampsTheDriversTime) {
  auto c = parse_spec("delay=2ms");
  ASSERT_TRUE(c.ok());
  ImpairedOutput tx(*c, pool, out);
  PacketOutput& as_output = tx;  // what the stack sees
  tx.set_now(t0);
  as_output.emit(packet(1));
  EXPECT_TRUE(out.got.empty());
  ASSERT_TRUE(tx.next_deadline());
  EXPECT_EQ(*tx.next_deadline(), t0 + milliseconds(2));
  now = t0 + milliseconds(2);
  tx.poll(now);
  ASSERT_EQ(out.got.size(), 1u);
  EXPECT_EQ(tx.stats().delivered, 1u);
}

}  // namespace
}  // namespace tunstack::impair
