// tun::Loop against a real TUN in the test binary's private network namespace: batching in both
// receive modes, writes, the bounded write queue, pool exhaustion, the timer (arm, move earlier,
// clear), stop() from another thread, SIGTERM, restart, and the virtio header option.
#include "tun/loop.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "stack/core/bytes.hpp"
#include "tests/tun/io_test_util.hpp"

namespace tunstack::tun {
namespace {

using namespace std::chrono_literals;
using testing::NullHandler;
using testing::sh;
using testing::Watchdog;

constexpr const char* kLocal = "198.18.1.1";
constexpr const char* kRemote = "198.18.65.2";  // routed into the TUN
constexpr std::uint16_t kPort = 9;

// A TUN with 198.18.1.1 on it and 198.18.65.0/24 routed into it; a fresh name per call.
std::optional<Device> make_tun(bool vnet_hdr = false) {
  static int serial = 0;
  DeviceConfig cfg;
  cfg.name = "tsloop" + std::to_string(serial++);
  cfg.up = true;
  cfg.mtu = 1500;
  cfg.vnet_hdr = vnet_hdr;
  auto dev = Device::open(cfg);
  if (!dev.ok()) {
    ADD_FAILURE() << dev.error();
    return std::nullopt;
  }
  const std::string n = cfg.name;
  if (!sh("ip addr add " + std::string(kLocal) + "/32 dev " + n) ||
      !sh("ip route add 198.18.65.0/24 dev " + n)) {
    ADD_FAILURE() << "ip addr/route on " << n;
    return std::nullopt;
  }
  return std::move(*dev);
}

// A UDP socket bound to the TUN's address; `n` datagrams from it go into the TUN.
struct Sender {
  int fd = -1;
  std::uint16_t port = 0;
  Sender() {
    fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    ::inet_pton(AF_INET, kLocal, &a.sin_addr);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~Sender() { ::close(fd); }
  void send(int n, std::size_t size = 32) {
    sockaddr_in d{};
    d.sin_family = AF_INET;
    d.sin_port = htons(kPort);
    ::inet_pton(AF_INET, kRemote, &d.sin_addr);
    std::vector<char> payload(size, 'x');
    for (int i = 0; i < n; ++i)
      ASSERT_EQ(::sendto(fd, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&d), sizeof d),
                static_cast<ssize_t>(payload.size()));
  }
  int drain() {
    char buf[2048];
    int n = 0;
    while (::recv(fd, buf, sizeof buf, 0) > 0) ++n;
    return n;
  }
};

// True for the IPv4/UDP datagrams the Sender produced (IPv6 housekeeping may cross the TUN too).
bool is_test_datagram(const PacketBuf& p) {
  const Bytes b = p.view();
  if (b.size() < 28 || (load_u8(b.data()) >> 4) != 4 || load_u8(b.data() + 9) != 17) return false;
  const std::size_t ihl = (load_u8(b.data()) & 0xfu) * 4u;
  return b.size() >= ihl + 8 && load_be16(b.data() + ihl + 2) == kPort;
}

// Swaps addresses and ports so that the kernel delivers the packet back to the Sender.
void reflect(PacketBuf& p) {
  std::byte* d = p.data();
  const std::size_t ihl = (load_u8(d) & 0xfu) * 4u;
  for (int i = 0; i < 4; ++i) std::swap(d[12 + i], d[16 + i]);
  for (int i = 0; i < 2; ++i) std::swap(d[ihl + i], d[ihl + 2 + i]);
}

/// A handler made of lambdas, so each test states only what it does.
struct FnHandler : TunHandler {
  std::function<void(PacketBuf&, Instant)> packet = [](PacketBuf&, Instant) {};
  std::function<void(Instant)> timer = [](Instant) {};
  std::uint64_t batches = 0;
  void on_tun_packets(std::span<PacketBuf> batch, Instant now) override {
    ++batches;
    for (PacketBuf& p : batch)
      if (is_test_datagram(p)) packet(p, now);
  }
  void on_timer(Instant now) override { timer(now); }
};

Loop::Config quiet_config(Loop::RxMode mode = Loop::RxMode::Auto) {
  Loop::Config c;
  c.rx_mode = mode;
  c.handle_signals = false;  // tests stop the loop themselves
  return c;
}

class LoopModes : public ::testing::TestWithParam<Loop::RxMode> {};

TEST_P(LoopModes, ReceivesQueuedPacketsInBatchesIntoPooledBuffers) {
  TUNSTACK_REQUIRE_NETNS();
  BufPool pool;
  auto loop = Loop::create(pool, make_tun(), quiet_config(GetParam()));
  ASSERT_TRUE(loop.ok()) << loop.error();
  EXPECT_EQ((*loop)->rx_mode(), GetParam());
  Sender s;
  s.send(200);  // queued in the TUN before the loop runs: it must find them in batches
  int got = 0;
  bool headroom_ok = true;
  FnHandler h;
  h.packet = [&](PacketBuf& p, Instant) {
    headroom_ok = headroom_ok && p.headroom() == pool.config().headroom;
    if (++got == 200) (*loop)->stop();
  };
  Watchdog dog(**loop, 5s);
  ASSERT_TRUE((*loop)->run(h).ok());
  EXPECT_FALSE(dog.fired());
  EXPECT_EQ(got, 200);
  EXPECT_TRUE(headroom_ok) << "packets must start at the pool's headroom (read in place)";
  const auto& st = (*loop)->stats();
  EXPECT_GE(st.tun_rx_packets, 200u);
  EXPECT_LT(st.tun_rx_batches, st.tun_rx_packets / 4) << "completions should arrive in batches";
  EXPECT_EQ(st.tun_rx_errors, 0u);
  EXPECT_EQ((*loop)->in_flight(), 0u);
  EXPECT_EQ(pool.stats().blocks_out, 0u) << "run() must hand every rx buffer back";
}

TEST_P(LoopModes, StarvedPoolIsCountedAndRetried) {
  TUNSTACK_REQUIRE_NETNS();
  BufPool::Config pc;
  pc.max_bytes = 4 * pc.small_size;  // four buffers for eight reads (or ring entries)
  BufPool pool(pc);
  Loop::Config cfg = quiet_config(GetParam());
  cfg.rx_depth = 8;
  cfg.rx_ring_entries = 8;
  auto loop = Loop::create(pool, make_tun(), cfg);
  ASSERT_TRUE(loop.ok()) << loop.error();
  Sender s;
  s.send(12);
  std::vector<PacketBuf> held;
  int got = 0;
  FnHandler h;
  h.packet = [&](PacketBuf& p, Instant now) {
    held.push_back(std::move(p));  // the handler keeps buffers: the pool runs dry
    if (++got == 12) (*loop)->stop();
    if (held.size() == 4) (*loop)->set_deadline(now + 10ms);
  };
  h.timer = [&](Instant) { held.clear(); };  // ...and gives them back a little later
  Watchdog dog(**loop, 5s);
  ASSERT_TRUE((*loop)->run(h).ok());
  EXPECT_FALSE(dog.fired());
  EXPECT_EQ(got, 12);
  EXPECT_GT((*loop)->stats().tun_rx_pool_exhausted, 0u);
  // Retries are paced by starved_retry (1 ms), not a spin: a few per millisecond at most.
  EXPECT_LT((*loop)->stats().submits, 2000u);
  held.clear();
}

INSTANTIATE_TEST_SUITE_P(Tun, LoopModes,
                         ::testing::Values(Loop::RxMode::Reads, Loop::RxMode::MultishotRing),
                         [](const auto& p) {
                           return p.param == Loop::RxMode::Reads ? "Reads" : "MultishotRing";
                         });

TEST(TunLoop, WritesGoBackToTheKernelIncludingAtShutdown) {
  TUNSTACK_REQUIRE_NETNS();
  BufPool pool;
  auto loop = Loop::create(pool, make_tun(), quiet_config());
  ASSERT_TRUE(loop.ok()) << loop.error();
  Sender s;
  s.send(10);
  int got = 0;
  FnHandler h;
  h.packet = [&](PacketBuf& p, Instant) {
    reflect(p);
    EXPECT_TRUE((*loop)->write_tun(std::move(p)));
    if (++got == 10) (*loop)->stop();  // the last writes are still queued: shutdown sends them
  };
  Watchdog dog(**loop, 5s);
  ASSERT_TRUE((*loop)->run(h).ok());
  const auto& st = (*loop)->stats();
  EXPECT_EQ(st.tun_tx_queued, 10u);
  EXPECT_EQ(st.tun_tx_packets, 10u);
  EXPECT_EQ(st.tun_tx_errors, 0u);
  EXPECT_GT(st.tun_tx_bytes, 10u * 28u);
  EXPECT_EQ(s.drain(), 10);
}

TEST(TunLoop, FullWriteQueueDropsAndCounts) {
  TUNSTACK_REQUIRE_NETNS();
  BufPool pool;
  Loop::Config cfg = quiet_config();
  cfg.tx_queue_limit = 4;
  auto loop = Loop::create(pool, make_tun(), cfg);
  ASSERT_TRUE(loop.ok()) << loop.error();
  Sender s;
  s.send(1);
  int accepted = 0;
  FnHandler h;
  h.packet = [&](PacketBuf& p, Instant) {
    reflect(p);
    for (int i = 0; i < 10; ++i) accepted += (*loop)->write_tun(pool.copy_of(p.view())) ? 1 : 0;
    (*loop)->stop();
  };
  Watchdog dog(**loop, 5s);
  ASSERT_TRUE((*loop)->run(h).ok());
  const auto& st = (*loop)->stats();
  EXPECT_EQ(accepted, 4);
  EXPECT_EQ(st.tun_tx_dropped_queue_full, 6u);
  EXPECT_EQ(st.tun_tx_packets, 4u);
  EXPECT_EQ(s.drain(), 4);
}

TEST(TunLoop, InvalidWritesAreCounted) {
  TUNSTACK_REQUIRE_NETNS();
  BufPool pool;
  auto loop = Loop::create(pool, make_tun(), quiet_config());
  ASSERT_TRUE(loop.ok()) << loop.error();
  EXPECT_FALSE((*loop)->write_tun(PacketBuf{}));
  EXPECT_EQ((*loop)->stats().tun_tx_dropped_invalid, 1u);
  // Not an IP packet: the kernel refuses it (EINVAL) and the loop counts an I/O error.
  PacketBuf junk = pool.alloc(20);
  std::memset(junk.append(20).data(), 0, 20);
  EXPECT_TRUE((*loop)->write_tun(std::move(junk)));
  (*loop)->stop();
  NullHandler h;
  ASSERT_TRUE((*loop)->run(h).ok());
  EXPECT_EQ((*loop)->stats().tun_tx_errors, 1u);
  EXPECT_EQ((*loop)->stats().tun_io_errors, 1u);
}

TEST(TunLoop, VnetHeaderIsStrippedAndAdded) {
  TUNSTACK_REQUIRE_NETNS();
  BufPool pool;
  auto loop = Loop::create(pool, make_tun(/*vnet_hdr=*/true), quiet_config());
  ASSERT_TRUE(loop.ok()) << loop.error();
  Sender s;
  s.send(3);
  int got = 0;
  FnHandler h;
  h.packet = [&](PacketBuf& p, Instant) {  // is_test_datagram saw an IPv4 header at offset 0
    EXPECT_EQ(p.headroom(), pool.config().headroom);
    reflect(p);
    EXPECT_TRUE((*loop)->write_tun(std::move(p)));
    if (++got == 3) (*loop)->stop();
  };
  Watchdog dog(**loop, 5s);
  ASSERT_TRUE((*loop)->run(h).ok());
  EXPECT_EQ(got, 3);
  EXPECT_EQ((*loop)->stats().tun_tx_packets, 3u);
  EXPECT_EQ(s.drain(), 3);
}

TEST(TunLoop, DestroyingTheLoopClosesTheDevice) {
  TUNSTACK_REQUIRE_NETNS();
  BufPool pool;
  auto dev = make_tun();
  ASSERT_TRUE(dev.has_value());
  const std::string name = dev->name();
  {
    auto loop = Loop::create(pool, std::move(dev), quiet_config());
    ASSERT_TRUE(loop.ok()) << loop.error();
    (*loop)->stop();
    NullHandler h;
    ASSERT_TRUE((*loop)->run(h).ok());
    EXPECT_TRUE(sh("ip link show dev " + name));
  }
  // Gone at once: the ring's registered-file reference must not keep it alive.
  EXPECT_FALSE(sh("ip link show dev " + name));
}

TEST(TunLoop, TimerFiresAtItsDeadline) {
  BufPool pool;
  auto loop = Loop::create(pool, std::nullopt, quiet_config());
  ASSERT_TRUE(loop.ok()) << loop.error();
  const Instant start = Loop::now();
  const Instant deadline = start + 30ms;
  Instant fired{};
  int calls = 0;
  FnHandler h;
  h.timer = [&](Instant now) {
    fired = now;
    ++calls;
    (*loop)->stop();
  };
  (*loop)->set_deadline(start + 5s);
  (*loop)->set_deadline(deadline);  // earliest wins
  Watchdog dog(**loop, 3s);
  ASSERT_TRUE((*loop)->run(h).ok());
  EXPECT_EQ(calls, 1);
  EXPECT_GE(fired, deadline);
  EXPECT_LT(fired - deadline, 300ms);
  EXPECT_EQ((*loop)->stats().timer_arms, 1u);
  EXPECT_EQ((*loop)->stats().timer_fires, 1u);
}

TEST(TunLoop, DeadlineMovedEarlierUpdatesTheTimeout) {
  TUNSTACK_REQUIRE_NETNS();
  BufPool pool;
  auto loop = Loop::create(pool, make_tun(), quiet_config());
  ASSERT_TRUE(loop.ok()) << loop.error();
  Sender s;
  s.send(1);
  const Instant start = Loop::now();
  (*loop)->set_deadline(start + 10s);
  Instant asked{};
  Instant fired{};
  FnHandler h;
  h.packet = [&](PacketBuf&, Instant now) {
    asked = now + 20ms;
    (*loop)->set_deadline(asked);
  };
  h.timer = [&](Instant now) {
    fired = now;
    (*loop)->stop();
  };
  Watchdog dog(**loop, 3s);
  ASSERT_TRUE((*loop)->run(h).ok());
  EXPECT_FALSE(dog.fired());
  EXPECT_GE(fired, asked);
  EXPECT_LT(fired - start, 2s);
  EXPECT_EQ((*loop)->stats().timer_arms, 1u);
  EXPECT_EQ((*loop)->stats().timer_updates, 1u);
}

TEST(TunLoop, ClearedDeadlineNeverCallsTheHandler) {
  TUNSTACK_REQUIRE_NETNS();
  BufPool pool;
  auto loop = Loop::create(pool, make_tun(), quiet_config());
  ASSERT_TRUE(loop.ok()) << loop.error();
  Sender s;
  s.send(1);
  (*loop)->set_deadline(Loop::now() + 150ms);
  int calls = 0;
  FnHandler h;
  h.packet = [&](PacketBuf&, Instant) { (*loop)->clear_deadline(); };
  h.timer = [&](Instant) { ++calls; };
  Watchdog dog(**loop, 400ms);
  ASSERT_TRUE((*loop)->run(h).ok());
  EXPECT_TRUE(dog.fired());
  EXPECT_EQ(calls, 0);
  EXPECT_EQ((*loop)->stats().timer_removes, 1u);
}

TEST(TunLoop, StopFromAnotherThreadAndRunAgain) {
  TUNSTACK_REQUIRE_NETNS();
  BufPool pool;
  auto loop = Loop::create(pool, make_tun(), quiet_config());
  ASSERT_TRUE(loop.ok()) << loop.error();
  NullHandler idle;
  {
    Watchdog dog(**loop, 50ms);
    ASSERT_TRUE((*loop)->run(idle).ok());
    EXPECT_TRUE(dog.fired());
  }
  EXPECT_FALSE((*loop)->running());
  EXPECT_EQ((*loop)->in_flight(), 0u);
  EXPECT_EQ(pool.stats().blocks_out, 0u);
  // A second run re-arms everything.
  Sender s;
  s.send(5);
  int got = 0;
  FnHandler h;
  h.packet = [&](PacketBuf&, Instant) {
    if (++got == 5) (*loop)->stop();
  };
  Watchdog dog(**loop, 5s);
  ASSERT_TRUE((*loop)->run(h).ok());
  EXPECT_FALSE(dog.fired());
  EXPECT_EQ(got, 5);
}

TEST(TunLoop, SigtermStopsTheLoopAndTheMaskIsRestored) {
  BufPool pool;
  Loop::Config cfg = quiet_config();
  cfg.handle_signals = true;
  {
    auto loop = Loop::create(pool, std::nullopt, cfg);
    ASSERT_TRUE(loop.ok()) << loop.error();
    const pthread_t me = ::pthread_self();
    std::thread killer([me] {
      std::this_thread::sleep_for(50ms);
      ::pthread_kill(me, SIGTERM);  // directed at the loop's thread, where it is blocked
    });
    NullHandler h;
    Watchdog dog(**loop, 3s);
    const auto st = (*loop)->run(h);
    killer.join();
    ASSERT_TRUE(st.ok());
    EXPECT_FALSE(dog.fired());
    EXPECT_EQ((*loop)->stats().signals, 1u);
  }
  sigset_t now;
  ::pthread_sigmask(SIG_SETMASK, nullptr, &now);
  EXPECT_EQ(sigismember(&now, SIGTERM), 0);
}

TEST(TunLoop, StopBeforeRunReturnsAtOnce) {
  BufPool pool;
  auto loop = Loop::create(pool, std::nullopt, quiet_config());
  ASSERT_TRUE(loop.ok()) << loop.error();
  (*loop)->stop();
  NullHandler h;
  Watchdog dog(**loop, 3s);
  ASSERT_TRUE((*loop)->run(h).ok());
  EXPECT_FALSE(dog.fired());
}

TEST(TunLoop, RejectsBadConfig) {
  BufPool pool;
  Loop::Config cfg = quiet_config();
  cfg.rx_depth = 0;
  auto loop = Loop::create(pool, std::nullopt, cfg);
  ASSERT_FALSE(loop.ok());
  EXPECT_NE(loop.error().find("rx_depth"), std::string::npos);
}


/// A posted hook that records its runs and may cancel another hook, post itself again or stop.
struct ProbeHook : RetryHook {
  std::vector<int>* log = nullptr;
  int id = 0;
  int runs = 0;
  Loop* loop = nullptr;
  RetryHook* cancel = nullptr;
  bool repost = false;
  int stop_on_run = 0;  ///< stop the loop on this run (0: never)
  ProbeHook() : RetryHook{&run} {}
  static void run(RetryHook* h) {
    auto* p = static_cast<ProbeHook*>(h);
    p->log->push_back(p->id);
    ++p->runs;
    if (p->cancel != nullptr) p->loop->cancel_retry(p->cancel);
    if (p->repost) {
      p->repost = false;
      p->loop->post(p);  // runs again on the next pass, not in this one
    }
    if (p->runs == p->stop_on_run) p->loop->stop();
  }
};

TEST(TunLoop, PostedHooksRunOnTheNextPassAndCancelFromAnywhere) {
  BufPool pool;
  Loop::Config cfg;
  cfg.handle_signals = false;
  auto loop = Loop::create(pool, std::nullopt, cfg);
  ASSERT_TRUE(loop.ok()) << loop.error();
  std::vector<int> log;
  std::vector<ProbeHook> hooks(4);
  for (std::size_t i = 0; i < hooks.size(); ++i) {
    hooks[i].log = &log;
    hooks[i].id = static_cast<int>(i);
    hooks[i].loop = loop->get();
  }
  // 0 cancels 1 while 1 is pending in the same pass; 2 posts itself again and stops the loop on
  // its second run; 3 is taken off the middle of the list before the loop runs.
  hooks[0].cancel = &hooks[1];
  hooks[2].repost = true;
  hooks[2].stop_on_run = 2;
  for (std::size_t i = 4; i-- > 0;) (*loop)->post(&hooks[i]);  // a stack: runs 0, 1, 2, 3
  (*loop)->cancel_retry(&hooks[3]);  // the tail
  (*loop)->post(&hooks[3]);          // now the head
  NullHandler h;
  Watchdog dog(**loop, 3s);
  ASSERT_TRUE((*loop)->run(h).ok());
  EXPECT_FALSE(dog.fired());
  EXPECT_EQ(log, (std::vector<int>{3, 0, 2, 2}));
  for (const ProbeHook& p : hooks) EXPECT_FALSE(p.queued);
}

}  // namespace
}  // namespace tunstack::tun
