// tun::UdpSocket on a Loop without a TUN, over loopback in the test binary's private namespace:
// round trips in each family, source addresses, the error queue (ICMP port unreachable in IPv4,
// IPv6 and dual-stack), socket options, the bounded send queue, closing from a callback, datagrams
// up to 65507 bytes, the receive budget, and what 1000 idle sockets cost.
#include "tun/udp_socket.hpp"

#include <gtest/gtest.h>
#include <linux/errqueue.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>

#include <cerrno>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "tests/tun/io_test_util.hpp"

namespace tunstack::tun {
namespace {

using namespace std::chrono_literals;
using testing::NullHandler;
using testing::Watchdog;

/// Records what a socket reports; optional hooks run on each event.
struct Recorder : UdpHandler {
  struct Datagram {
    std::string payload;
    Endpoint from;
    std::size_t headroom;
    std::size_t capacity;
  };
  std::vector<Datagram> datagrams;
  std::vector<SockError> errors;
  std::function<void(UdpSocket&)> after_datagram = [](UdpSocket&) {};
  std::function<void(UdpSocket&)> after_error = [](UdpSocket&) {};

  void on_datagram(UdpSocket& s, PacketBuf&& p, const Endpoint& from, Instant) override {
    std::string payload(p.size(), '\0');
    std::memcpy(payload.data(), p.data(), p.size());
    datagrams.push_back({payload, from, p.headroom(), p.capacity()});
    after_datagram(s);
  }
  void on_error(UdpSocket& s, const SockError& e, Instant) override {
    SockError copy = e;
    copy.payload = {};  // the view dies with the callback
    errors.push_back(copy);
    after_error(s);
  }
};

Loop::Config no_signals() {
  Loop::Config c;
  c.handle_signals = false;
  return c;
}

PacketBuf text(BufPool& pool, const std::string& s) { return pool.copy_of(as_bytes(s.data(), s.size())); }

Endpoint ep(const char* text) { return *Endpoint::parse(text); }

// A port on which nothing listens (bound, read, released: the kernel will not reuse it at once).
std::uint16_t closed_port(int af) {
  const int fd = ::socket(af, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_storage ss{};
  socklen_t len = af == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
  ss.ss_family = static_cast<sa_family_t>(af);
  ::bind(fd, reinterpret_cast<sockaddr*>(&ss), len);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  std::uint16_t port;
  if (af == AF_INET) {
    sockaddr_in sin;
    std::memcpy(&sin, &ss, sizeof sin);
    port = ntohs(sin.sin_port);
  } else {
    sockaddr_in6 sin6;
    std::memcpy(&sin6, &ss, sizeof sin6);
    port = ntohs(sin6.sin6_port);
  }
  ::close(fd);
  return port;
}

// A plain kernel UDP socket bound to 127.0.0.1 (the sender the tests do not drive through a Loop).
struct PlainSender {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ~PlainSender() { ::close(fd); }
  bool send(const std::string& payload, const Endpoint& to) const {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    std::memcpy(&sin.sin_addr, to.addr.v4().b.data(), 4);
    sin.sin_port = htons(to.port.value);
    return ::sendto(fd, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&sin),
                    sizeof sin) == static_cast<ssize_t>(payload.size());
  }
};

// A payload whose every byte depends on its position and length: a cut or shifted copy shows.
std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + n) & 0xff);
  return s;
}

// Raises the soft descriptor limit to at least `n` when the hard limit allows it.
bool enough_fds(rlim_t n) {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0) return false;
  if (r.rlim_cur >= n) return true;
  if (r.rlim_max != RLIM_INFINITY && r.rlim_max < n) return false;
  r.rlim_cur = n;
  return ::setrlimit(RLIMIT_NOFILE, &r) == 0;
}

// Resident set size of this process in KiB (/proc/self/status VmRSS).
long rss_kib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

/// Stops the loop at its first timer expiry: runs the loop "for a moment".
struct StopOnTimer : NullHandler {
  Loop* loop = nullptr;
  void on_timer(Instant) override { loop->stop(); }
};

struct Case {
  const char* name;
  UdpSocket::Family family;
  const char* bind;
};

class UdpFamilies : public ::testing::TestWithParam<Case> {};

TEST_P(UdpFamilies, RoundTripWithSourceAddresses) {
  TUNSTACK_REQUIRE_NETNS();
  BufPool pool;
  auto loop = Loop::create(pool, std::nullopt, no_signals());
  ASSERT_TRUE(loop.ok()) << loop.error();
  UdpSocket::Config cfg;
  cfg.family = GetParam().family;
  cfg.bind = ep(GetParam().bind);
  Recorder ra, rb;
  auto a = UdpSocket::open(**loop, ra, cfg);
  auto b = UdpSocket::open(**loop, rb, cfg);
  ASSERT_TRUE(a.ok()) << a.error();
  ASSERT_TRUE(b.ok()) << b.error();
  auto a_ep = (*a)->local_endpoint();
  auto b_ep = (*b)->local_endpoint();
  ASSERT_TRUE(a_ep.ok() && b_ep.ok());
  EXPECT_NE(a_ep->port.value, 0);
  EXPECT_EQ(a_ep->addr, cfg.bind->addr);  // IPv4-mapped comes back as IPv4 on dual-stack

  rb.after_datagram = [&](UdpSocket& s) { s.send_to(text(pool, "pong:" + rb.datagrams.back().payload), rb.datagrams.back().from); };
  ra.after_datagram = [&](UdpSocket&) { (*loop)->stop(); };
  ASSERT_TRUE((*a)->send_to(text(pool, "ping"), *b_ep));
  NullHandler h;
  Watchdog dog(**loop, 3s);
  ASSERT_TRUE((*loop)->run(h).ok());
  EXPECT_FALSE(dog.fired());
  ASSERT_EQ(rb.datagrams.size(), 1u);
  EXPECT_EQ(rb.datagrams[0].payload, "ping");
  EXPECT_EQ(rb.datagrams[0].from, *a_ep);
  EXPECT_EQ(rb.datagrams[0].headroom, pool.config().headroom) << "payload lands after the headroom";
  ASSERT_EQ(ra.datagrams.size(), 1u);
  EXPECT_EQ(ra.datagrams[0].payload, "pong:ping");
  EXPECT_EQ(ra.datagrams[0].from, *b_ep);
  EXPECT_EQ((*a)->stats().tx_datagrams, 1u);
  EXPECT_EQ((*a)->stats().rx_datagrams, 1u);
  EXPECT_EQ((*b)->stats().rx_bytes, 4u);
}

INSTANTIATE_TEST_SUITE_P(Tun, UdpFamilies,
                         ::testing::Values(Case{"V4", UdpSocket::Family::V4, "127.0.0.1:0"},
                                           Case{"V6", UdpSocket::Family::V6, "[::1]:0"},
                                           Case{"DualOverV4", UdpSocket::Family::Dual, "127.0.0.1:0"},
                                           Case{"DualOverV6", UdpSocket::Family::Dual, "[::1]:0"}),
                         [](const auto& p) { return std::string(p.param.name); });

struct ErrCase {
  const char* name;
  UdpSocket::Family family;
  const char* dst_addr;
  int af;
  ErrorOrigin origin;
  std::uint8_t type;
  std::uint8_t code;
};

class UdpErrors : public ::testing::TestWithParam<ErrCase> {};

TEST_P(UdpErrors, PortUnreachableArrivesWithItsDetails) {
  TUNSTACK_REQUIRE_NETNS();
  const ErrCase& c = GetParam();
  BufPool pool;
  auto loop = Loop::create(pool, std::nullopt, no_signals());
  ASSERT_TRUE(loop.ok()) << loop.error();
  UdpSocket::Config cfg;
  cfg.family = c.family;
  Recorder r;
  auto sock = UdpSocket::open(**loop, r, cfg);
  ASSERT_TRUE(sock.ok()) << sock.error();
  const Endpoint dst{*IpAddr::parse(c.dst_addr), Port{closed_port(c.af)}};
  r.after_error = [&](UdpSocket&) { (*loop)->stop(); };
  ASSERT_TRUE((*sock)->send_to(text(pool, "anyone there?"), dst));
  NullHandler h;
  Watchdog dog(**loop, 3s);
  ASSERT_TRUE((*loop)->run(h).ok());
  EXPECT_FALSE(dog.fired());
  ASSERT_GE(r.errors.size(), 1u);
  const SockError& e = r.errors[0];
  EXPECT_EQ(e.error, ECONNREFUSED);
  EXPECT_EQ(e.origin, c.origin);
  EXPECT_EQ(e.type, c.type);
  EXPECT_EQ(e.code, c.code);
  ASSERT_TRUE(e.offender.has_value());
  EXPECT_EQ(*e.offender, dst.addr);  // loopback answers for itself
  ASSERT_TRUE(e.original_dst.has_value());
  EXPECT_EQ(*e.original_dst, dst);
  EXPECT_GE((*sock)->stats().errqueue_messages, 1u);
}

INSTANTIATE_TEST_SUITE_P(
    Tun, UdpErrors,
    ::testing::Values(
        // ICMP type 3 code 3 (RFC 792); ICMPv6 type 1 code 4 (RFC 4443 §3.1).
        ErrCase{"V4", UdpSocket::Family::V4, "127.0.0.1", AF_INET, ErrorOrigin::Icmp, 3, 3},
        ErrCase{"V6", UdpSocket::Family::V6, "::1", AF_INET6, ErrorOrigin::Icmp6, 1, 4},
        ErrCase{"DualToV4", UdpSocket::Family::Dual, "127.0.0.1", AF_INET, ErrorOrigin::Icmp, 3, 3}),
    [](const auto& p) { return std::string(p.param.name); });

TEST(TunUdpSocket, AppliesMarkAndBindToDevice) {
  TUNSTACK_REQUIRE_NETNS();
  BufPool pool;
  auto loop = Loop::create(pool, std::nullopt, no_signals());
  ASSERT_TRUE(loop.ok()) << loop.error();
  UdpSocket::Config cfg;
  cfg.family = UdpSocket::Family::V4;
  cfg.mark = 0x2a;
  cfg.bind_device = "lo";
  Recorder r;
  auto sock = UdpSocket::open(**loop, r, cfg);
  ASSERT_TRUE(sock.ok()) << sock.error();
  int mark = 0;
  socklen_t len = sizeof mark;
  ASSERT_EQ(::getsockopt((*sock)->fd(), SOL_SOCKET, SO_MARK, &mark, &len), 0);
  EXPECT_EQ(mark, 0x2a);
  char dev[IFNAMSIZ] = {};
  len = sizeof dev;
  ASSERT_EQ(::getsockopt((*sock)->fd(), SOL_SOCKET, SO_BINDTODEVICE, dev, &len), 0);
  EXPECT_STREQ(dev, "lo");
  int on = 0;
  len = sizeof on;
  ASSERT_EQ(::getsockopt((*sock)->fd(), IPPROTO_IP, IP_RECVERR, &on, &len), 0);
  EXPECT_EQ(on, 1);

  cfg.bind_device = "no-such-dev0";
  auto bad = UdpSocket::open(**loop, r, cfg);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("SO_BINDTODEVICE"), std::string::npos) << bad.error();
}

TEST(TunUdpSocket, SendQueueIsBoundedAndFamilyChecked) {
  TUNSTACK_REQUIRE_NETNS();
  BufPool pool;
  auto loop = Loop::create(pool, std::nullopt, no_signals());
  ASSERT_TRUE(loop.ok()) << loop.error();
  UdpSocket::Config cfg;
  cfg.family = UdpSocket::Family::V4;
  cfg.send_queue_limit = 2;
  Recorder r;
  auto sock = UdpSocket::open(**loop, r, cfg);
  ASSERT_TRUE(sock.ok()) << sock.error();
  EXPECT_FALSE((*sock)->send_to(text(pool, "v6?"), ep("[::1]:9")));
  EXPECT_EQ((*sock)->stats().tx_dropped_invalid, 1u);
  // A listening sink: sends to a closed port would fail once its ICMP error is pending.
  const int sink_fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(sink_fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin), 0);
  socklen_t slen = sizeof sin;
  ::getsockname(sink_fd, reinterpret_cast<sockaddr*>(&sin), &slen);
  const Endpoint sink{*IpAddr::parse("127.0.0.1"), Port{ntohs(sin.sin_port)}};
  int accepted = 0;
  for (int i = 0; i < 5; ++i) accepted += (*sock)->send_to(text(pool, "x"), sink) ? 1 : 0;
  EXPECT_EQ(accepted, 2);
  EXPECT_EQ((*sock)->stats().tx_dropped_queue_full, 3u);
  (*loop)->stop();
  NullHandler h;
  ASSERT_TRUE((*loop)->run(h).ok());
  EXPECT_EQ((*sock)->stats().tx_datagrams, 2u);
  ::close(sink_fd);
}

TEST(TunUdpSocket, ClosingFromItsOwnCallbackIsSafe) {
  TUNSTACK_REQUIRE_NETNS();
  BufPool pool;
  auto loop = Loop::create(pool, std::nullopt, no_signals());
  ASSERT_TRUE(loop.ok()) << loop.error();
  UdpSocket::Config cfg;
  cfg.family = UdpSocket::Family::V4;
  cfg.bind = ep("127.0.0.1:0");
  Recorder ra, rb;
  auto a = UdpSocket::open(**loop, ra, cfg);
  auto b = UdpSocket::open(**loop, rb, cfg);
  ASSERT_TRUE(a.ok() && b.ok());
  UdpSocket::Ptr b_owned = std::move(*b);
  const Endpoint b_ep = *b_owned->local_endpoint();
  rb.after_datagram = [&](UdpSocket&) {
    b_owned.reset();  // the socket frees itself once its cancelled receives have completed
    (*loop)->stop();
  };
  ASSERT_TRUE((*a)->send_to(text(pool, "one"), b_ep));
  ASSERT_TRUE((*a)->send_to(text(pool, "two"), b_ep));
  NullHandler h;
  Watchdog dog(**loop, 3s);
  ASSERT_TRUE((*loop)->run(h).ok());
  EXPECT_FALSE(dog.fired());
  EXPECT_EQ(rb.datagrams.size(), 1u) << "no callback after close";
  EXPECT_EQ((*loop)->in_flight(), 0u);
  a->reset();
  EXPECT_EQ(pool.stats().blocks_out, 0u);
}

TEST(TunUdpSocket, PingSocketsCarryIcmpEcho) {
  TUNSTACK_REQUIRE_NETNS();
  ASSERT_TRUE(testing::sh("sysctl -w net.ipv4.ping_group_range='0 0'"));  // this netns only
  BufPool pool;
  auto loop = Loop::create(pool, std::nullopt, no_signals());
  ASSERT_TRUE(loop.ok()) << loop.error();
  struct V {
    UdpSocket::Family family;
    int protocol;
    const char* dst;
    std::uint8_t request, reply;
  };
  // ICMP echo 8 -> 0 (RFC 792); ICMPv6 echo 128 -> 129 (RFC 4443 §4).
  for (const V v : {V{UdpSocket::Family::V4, IPPROTO_ICMP, "127.0.0.1", 8, 0},
                    V{UdpSocket::Family::V6, IPPROTO_ICMPV6, "::1", 128, 129}}) {
    UdpSocket::Config cfg;
    cfg.family = v.family;
    cfg.protocol = v.protocol;
    Recorder r;
    auto sock = UdpSocket::open(**loop, r, cfg);
    ASSERT_TRUE(sock.ok()) << sock.error();
    r.after_datagram = [&](UdpSocket&) { (*loop)->stop(); };
    // Type, code, checksum (the kernel fills it), identifier (the kernel's), sequence, data.
    const std::string echo{static_cast<char>(v.request), 0, 0, 0, 0, 0, 0, 7, 'h', 'i'};
    ASSERT_TRUE((*sock)->send_to(text(pool, echo), Endpoint{*IpAddr::parse(v.dst), Port{0}}));
    NullHandler h;
    Watchdog dog(**loop, 3s);
    ASSERT_TRUE((*loop)->run(h).ok());
    EXPECT_FALSE(dog.fired());
    ASSERT_EQ(r.datagrams.size(), 1u);
    const std::string& got = r.datagrams[0].payload;
    ASSERT_EQ(got.size(), echo.size());
    EXPECT_EQ(static_cast<std::uint8_t>(got[0]), v.reply);
    EXPECT_EQ(got.substr(6), echo.substr(6));  // sequence and data come back
    EXPECT_EQ(r.datagrams[0].from.addr, *IpAddr::parse(v.dst));
  }
  UdpSocket::Config bad;
  bad.family = UdpSocket::Family::Dual;
  bad.protocol = IPPROTO_ICMP;
  Recorder r;
  auto s = UdpSocket::open(**loop, r, bad);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().find("ping socket needs family"), std::string::npos) << s.error();
}

TEST(TunUdpSocket, LargeDatagramsArriveIntactInRightSizedBuffers) {
  TUNSTACK_REQUIRE_NETNS();
  BufPool pool;
  auto loop = Loop::create(pool, std::nullopt, no_signals());
  ASSERT_TRUE(loop.ok()) << loop.error();
  UdpSocket::Config cfg;
  cfg.family = UdpSocket::Family::V4;
  cfg.bind = ep("127.0.0.1:0");
  Recorder r, rs;
  auto rx = UdpSocket::open(**loop, r, cfg);
  auto tx = UdpSocket::open(**loop, rs, cfg);
  ASSERT_TRUE(rx.ok() && tx.ok());
  const Endpoint to = *(*rx)->local_endpoint();
  const std::size_t small_max = pool.config().small_size - pool.config().headroom;
  // 65507: the largest UDP payload over IPv4. The last one goes out through a UdpSocket.
  const std::vector<std::size_t> sizes{60000, 65507, 0, 1, small_max, small_max + 1, 6000, 60000};
  PlainSender plain;
  std::size_t next = 0;
  auto send_next = [&] {
    const std::string p = pattern(sizes[next]);
    if (next + 1 == sizes.size()) {
      ASSERT_TRUE((*tx)->send_to(text(pool, p), to));
    } else {
      ASSERT_TRUE(plain.send(p, to)) << std::strerror(errno);
    }
    ++next;
  };
  // One at a time, so that the default receive buffer never has to hold two 64 KB datagrams.
  r.after_datagram = [&](UdpSocket&) {
    if (next == sizes.size()) {
      (*loop)->stop();
    } else {
      send_next();
    }
  };
  send_next();
  NullHandler h;
  Watchdog dog(**loop, 5s);
  ASSERT_TRUE((*loop)->run(h).ok());
  EXPECT_FALSE(dog.fired());
  ASSERT_EQ(r.datagrams.size(), sizes.size());
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    EXPECT_EQ(r.datagrams[i].payload.size(), sizes[i]) << i;
    EXPECT_TRUE(r.datagrams[i].payload == pattern(sizes[i])) << "datagram " << i << " altered";
    EXPECT_EQ(r.datagrams[i].headroom, pool.config().headroom);
    const std::size_t cls = sizes[i] <= small_max ? pool.config().small_size : pool.config().large_size;
    EXPECT_EQ(r.datagrams[i].capacity, cls) << "datagram " << i << " of " << sizes[i] << " bytes";
  }
  EXPECT_EQ((*rx)->stats().rx_truncated, 0u);
  EXPECT_EQ((*tx)->stats().tx_bytes, 60000u);
  rx->reset();
  tx->reset();
  EXPECT_EQ(pool.stats().blocks_out, 0u);
}

TEST(TunUdpSocket, ReceiveBufferSizeCapsTheDatagram) {
  TUNSTACK_REQUIRE_NETNS();
  BufPool pool;
  auto loop = Loop::create(pool, std::nullopt, no_signals());
  ASSERT_TRUE(loop.ok()) << loop.error();
  UdpSocket::Config cfg;
  cfg.family = UdpSocket::Family::V4;
  cfg.bind = ep("127.0.0.1:0");
  cfg.recv_buffer_size = 1000;
  Recorder r;
  auto rx = UdpSocket::open(**loop, r, cfg);
  ASSERT_TRUE(rx.ok());
  const Endpoint to = *(*rx)->local_endpoint();
  PlainSender plain;
  ASSERT_TRUE(plain.send(pattern(1001), to));
  ASSERT_TRUE(plain.send(pattern(1000), to));
  r.after_datagram = [&](UdpSocket&) { (*loop)->stop(); };
  NullHandler h;
  Watchdog dog(**loop, 3s);
  ASSERT_TRUE((*loop)->run(h).ok());
  ASSERT_EQ(r.datagrams.size(), 1u);
  EXPECT_EQ(r.datagrams[0].payload, pattern(1000));
  EXPECT_EQ((*rx)->stats().rx_truncated, 1u);
}

TEST(TunUdpSocket, DrainBeyondTheBudgetContinuesWithoutNewArrivals) {
  TUNSTACK_REQUIRE_NETNS();
  BufPool pool;
  auto loop = Loop::create(pool, std::nullopt, no_signals());
  ASSERT_TRUE(loop.ok()) << loop.error();
  UdpSocket::Config cfg;
  cfg.family = UdpSocket::Family::V4;
  cfg.bind = ep("127.0.0.1:0");
  cfg.recv_budget = 8;
  Recorder r;
  auto rx = UdpSocket::open(**loop, r, cfg);
  ASSERT_TRUE(rx.ok());
  const Endpoint to = *(*rx)->local_endpoint();
  PlainSender plain;
  constexpr int kCount = 100;  // all queued before the loop runs: a single wakeup
  for (int i = 0; i < kCount; ++i) ASSERT_TRUE(plain.send(std::to_string(i), to));
  r.after_datagram = [&](UdpSocket&) {
    if (r.datagrams.size() == kCount) (*loop)->stop();
  };
  NullHandler h;
  Watchdog dog(**loop, 3s);
  ASSERT_TRUE((*loop)->run(h).ok());
  EXPECT_FALSE(dog.fired());
  ASSERT_EQ(r.datagrams.size(), static_cast<std::size_t>(kCount));
  for (int i = 0; i < kCount; ++i) EXPECT_EQ(r.datagrams[static_cast<std::size_t>(i)].payload, std::to_string(i));
  EXPECT_LE((*rx)->stats().rx_wakeups, 2u) << "the rest was read by posted drains, not new polls";
}

TEST(TunUdpSocket, ThousandIdleSocketsHoldNoBuffers) {
  TUNSTACK_REQUIRE_NETNS();
  constexpr int kSockets = 1000;
  ASSERT_TRUE(enough_fds(kSockets + 256));
  BufPool pool;
  auto loop = Loop::create(pool, std::nullopt, no_signals());
  ASSERT_TRUE(loop.ok()) << loop.error();
  UdpSocket::Config cfg;
  cfg.family = UdpSocket::Family::V4;
  cfg.bind = ep("127.0.0.1:0");
  cfg.send_queue_limit = 256;  // as the direct outbound: must not cost anything while idle
  Recorder r;
  std::vector<UdpSocket::Ptr> socks;
  socks.reserve(kSockets);
  const long rss_before = rss_kib();
  for (int i = 0; i < kSockets; ++i) {
    auto s = UdpSocket::open(**loop, r, cfg);
    ASSERT_TRUE(s.ok()) << s.error();
    socks.push_back(std::move(*s));
  }
  StopOnTimer h;
  h.loop = loop->get();
  (*loop)->set_deadline(Loop::now() + 50ms);
  ASSERT_TRUE((*loop)->run(h).ok());  // the polls are armed in the kernel now
  const long rss_after = rss_kib();
  std::printf("[ info ] %d idle sockets: RSS +%ld KiB (%.0f B each), pool blocks out %zu\n",
              kSockets, rss_after - rss_before,
              static_cast<double>(rss_after - rss_before) * 1024.0 / kSockets, pool.stats().blocks_out);
  EXPECT_EQ(pool.stats().blocks_out, 0u) << "an idle socket holds no packet buffer";
  // Per-socket buffers of the old design cost 24 KiB per socket here (64 send slots, 4 receive
  // buffers); a few hundred bytes each stays far below this bound, even under ASan.
  EXPECT_LT(rss_after - rss_before, 8 * 1024);

  // They all still work: one datagram to the 500th, and the buffer goes back after delivery.
  PlainSender plain;
  ASSERT_TRUE(plain.send("wake", *socks[500]->local_endpoint()));
  r.after_datagram = [&](UdpSocket&) { (*loop)->stop(); };
  Watchdog dog(**loop, 3s);
  ASSERT_TRUE((*loop)->run(h).ok());
  EXPECT_FALSE(dog.fired());
  ASSERT_EQ(r.datagrams.size(), 1u);
  EXPECT_EQ(socks[500]->stats().rx_datagrams, 1u);
  EXPECT_EQ(pool.stats().blocks_out, 0u);
  socks.clear();
  EXPECT_EQ((*loop)->in_flight(), 0u) << "closing after the loop stopped leaves nothing behind";
}

TEST(TunUdpSocket, BurstOfThousandNewSocketsEachReceive) {
  TUNSTACK_REQUIRE_NETNS();
  constexpr int kSockets = 1000;
  ASSERT_TRUE(enough_fds(kSockets + 256));
  BufPool pool;
  auto loop = Loop::create(pool, std::nullopt, no_signals());
  ASSERT_TRUE(loop.ok()) << loop.error();
  UdpSocket::Config cfg;
  cfg.family = UdpSocket::Family::V4;
  cfg.bind = ep("127.0.0.1:0");
  cfg.send_queue_limit = 256;
  Recorder r;
  std::vector<UdpSocket::Ptr> socks;
  socks.reserve(kSockets);
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kSockets; ++i) {
    auto s = UdpSocket::open(**loop, r, cfg);
    ASSERT_TRUE(s.ok()) << s.error();
    socks.push_back(std::move(*s));
  }
  const auto opened = std::chrono::steady_clock::now() - t0;
  PlainSender plain;
  for (int i = 0; i < kSockets; ++i)
    ASSERT_TRUE(plain.send("n" + std::to_string(i), *socks[static_cast<std::size_t>(i)]->local_endpoint()));
  r.after_datagram = [&](UdpSocket&) {
    if (r.datagrams.size() == kSockets) (*loop)->stop();
  };
  NullHandler h;
  Watchdog dog(**loop, 5s);
  ASSERT_TRUE((*loop)->run(h).ok());
  const auto total = std::chrono::steady_clock::now() - t0;
  EXPECT_FALSE(dog.fired());
  EXPECT_EQ(r.datagrams.size(), static_cast<std::size_t>(kSockets));
  for (int i = 0; i < kSockets; ++i)
    EXPECT_EQ(socks[static_cast<std::size_t>(i)]->stats().rx_datagrams, 1u) << i;
  const auto us = [](auto d) { return std::chrono::duration_cast<std::chrono::microseconds>(d).count(); };
  std::printf("[ info ] opened %d sockets in %lld us (%.1f us each); all received after %lld us\n",
              kSockets, static_cast<long long>(us(opened)),
              static_cast<double>(us(opened)) / kSockets, static_cast<long long>(us(total)));
  EXPECT_LT(us(opened), 1'000'000) << "opening 1000 sockets took over a second";
}

}  // namespace
}  // namespace tunstack::tun
