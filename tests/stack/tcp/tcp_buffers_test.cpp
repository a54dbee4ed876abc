// Buffers over a connection's life: the window scale chosen for the largest buffer, receive-
// buffer auto-tuning when the session keeps up with a full window per RTT (and not when it
// does not), send-buffer growth with cwnd, ring storage that grows with what is held and is
// released after buf_idle_release of emptiness, the tcp_buffer_bytes gauge, and what an idle
// connection costs (1000 of them).
#include <mimalloc.h>

#include <iostream>

#include "tests/stack/tcp/tcp_harness.hpp"

namespace tunstack::tcp::testing {
namespace {

using Buffers = TcpHarness;

TcpConfig tuning_config() {
  TcpConfig c;
  c.rcv_buf = 16u << 10;
  c.rcv_buf_max = 1u << 20;
  c.snd_buf = 16u << 10;
  c.snd_buf_max = 1u << 20;
  return c;
}

TEST_F(Buffers, WindowScaleIsChosenForTheLargestBuffer) {
  TcpConfig c = tuning_config();
  c.rcv_buf_max = 4u << 20;
  reset(c);
  inject(syn());
  manual.sink->on_connected();
  Seg sa = sent_one();
  ASSERT_TRUE(sa.r.options.wscale.has_value());
  EXPECT_EQ(*sa.r.options.wscale, 7);  // 16 KiB alone would need none; 4 MiB needs 7
  EXPECT_EQ(sa.r.window, 16u << 10);   // but the window offered now is the initial buffer
}

class Tuning : public TcpHarness {
 protected:
  Tuning() { reset(tuning_config()); }
  /// The handshake with a client 10 ms away (so both RTT estimates start right).
  void established_10ms() {
    inject(syn());
    manual.sink->on_connected();
    (void)sent();
    advance(10ms);
    inject(seg(TcpFlags::ACK, 1));
    (void)sent();
    ASSERT_EQ(conn()->state(), State::Established);
  }
  /// Sends one window's worth (as last advertised) and returns the window advertised after it.
  std::uint32_t send_window(std::uint32_t wnd) {
    std::uint32_t last = wnd;
    for (std::uint32_t sent_bytes = 0; sent_bytes < wnd;) {
      const std::uint32_t n = std::min<std::uint32_t>(1448, wnd - sent_bytes);
      inject(seg(TcpFlags::ACK, off_), std::string(n, 'w'));
      off_ += n;
      sent_bytes += n;
      for (const Seg& s : sent()) last = std::uint32_t{s.r.window} << conn()->rcv_wscale();
    }
    return last;
  }
  std::uint32_t off_ = 1;
};

TEST_F(Tuning, ReceiveBufferGrowsWhenTheSessionDrainsAWindowPerRtt) {
  established_10ms();
  std::uint32_t wnd = 16u << 10;
  for (int round = 0; round < 8; ++round) {
    wnd = send_window(wnd);
    advance(10ms);  // one client RTT
  }
  EXPECT_GT(conn()->recv_capacity(), 256u << 10);
  EXPECT_LE(conn()->recv_capacity(), 1u << 20);
  EXPECT_GT(wnd, 256u << 10);
  EXPECT_GT(layer->stats().rcv_buf_grown, 0u);
  EXPECT_EQ(manual.session->received.size(), off_ - 1);  // every byte arrived, in order
}

TEST_F(Tuning, ReceiveBufferStaysWhenTheSessionLags) {
  established_10ms();
  manual.session->limit = 8u << 10;  // takes half a window, then nothing more
  std::uint32_t wnd = 16u << 10;
  for (int round = 0; round < 8 && wnd > 0; ++round) {
    wnd = send_window(wnd);
    advance(10ms);
  }
  EXPECT_EQ(conn()->recv_capacity(), 16u << 10);
  EXPECT_EQ(layer->stats().rcv_buf_grown, 0u);
}

TEST_F(Tuning, WithoutWindowScalingTheBufferStopsAt64K) {
  use_ws = false;
  established_10ms();
  std::uint32_t wnd = 16u << 10;
  for (int round = 0; round < 8; ++round) {
    wnd = send_window(wnd);
    advance(10ms);
  }
  EXPECT_EQ(conn()->recv_capacity(), 0xffffu);
  EXPECT_EQ(wnd, 0xffffu);  // the session drains each segment before its ACK
}

TEST_F(Tuning, SendBufferFollowsCwnd) {
  established();
  const std::string blob(1u << 20, 's');
  std::size_t accepted = 0;
  std::size_t most_in_one_write = 0;
  for (int round = 0; round < 8; ++round) {
    const std::size_t n = manual.sink->on_data(text(blob));
    accepted += n;
    most_in_one_write = std::max(most_in_one_write, n);
    // The client ACKs each segment separately, so slow start doubles cwnd each round.
    for (const Seg& s : sent()) {
      if (s.payload.empty()) continue;
      inject(seg(TcpFlags::ACK, 1, s.r.seq + static_cast<std::uint32_t>(s.payload.size())));
    }
    (void)sent();
  }
  EXPECT_GT(conn()->cwnd(), 64u << 10);
  EXPECT_GE(conn()->send_capacity(), std::min<std::uint32_t>(2 * conn()->cwnd(), 1u << 20) - 2 * 1448);
  EXPECT_GT(most_in_one_write, 16u << 10);
  EXPECT_GT(layer->stats().snd_buf_grown, 0u);
  EXPECT_GT(accepted, 256u << 10);
}

TEST_F(Buffers, StorageGrowsWithWhatIsHeldNotWithTheWindow) {
  established();
  EXPECT_EQ(layer->stats().buffer_bytes, 0u);  // nothing before the first byte
  manual.session->limit = 0;
  for (std::uint32_t i = 0; i < 7; ++i) inject(seg(TcpFlags::ACK, 1 + i * 1448), std::string(1448, 'g'));
  EXPECT_EQ(conn()->recv_buffered(), 7u * 1448u);
  EXPECT_EQ(conn()->buffer_bytes(), 16384u);  // 4 KiB, doubled twice; not the 64 KiB window
  EXPECT_EQ(layer->stats().buffer_bytes, 16384u);
  manual.session->open_up(~std::size_t{0});
  EXPECT_EQ(manual.session->received, std::string(7 * 1448, 'g'));
}

TEST_F(Buffers, EmptyRingsAreReleasedAfterTheIdleTime) {
  established();
  inject(seg(TcpFlags::ACK | TcpFlags::PSH, 1), "hello");
  EXPECT_EQ(manual.session->received, "hello");
  EXPECT_EQ(layer->stats().buffer_bytes, ByteRing::kMinAlloc);
  advance(499ms);
  EXPECT_EQ(layer->stats().buffer_bytes, ByteRing::kMinAlloc);
  advance(2ms);
  EXPECT_EQ(layer->stats().buffer_bytes, 0u);
  // The send ring: held until acknowledged, then released after the same idle time.
  manual.sink->on_data(text("world"));
  EXPECT_EQ(layer->stats().buffer_bytes, ByteRing::kMinAlloc);
  advance(1s);  // unacknowledged: the data must stay (and is retransmitted)
  EXPECT_EQ(layer->stats().buffer_bytes, ByteRing::kMinAlloc);
  inject(seg(TcpFlags::ACK, 6, server_isn + 6));
  EXPECT_EQ(conn()->send_buffered(), 0u);
  advance(501ms);
  EXPECT_EQ(layer->stats().buffer_bytes, 0u);
  EXPECT_EQ(conn()->buffer_bytes(), 0u);
  // Used again after the release: it still works.
  inject(seg(TcpFlags::ACK | TcpFlags::PSH, 6, server_isn + 6), "again");
  EXPECT_EQ(manual.session->received, "helloagain");
}

TEST_F(Buffers, HeldBytesKeepTheirStorage) {
  established();
  manual.session->limit = 0;
  inject(seg(TcpFlags::ACK | TcpFlags::PSH, 1), "stuck");
  advance(5s);
  EXPECT_EQ(layer->stats().buffer_bytes, ByteRing::kMinAlloc);
  manual.session->open_up(~std::size_t{0});
  EXPECT_EQ(manual.session->received, "stuck");
  advance(501ms);
  EXPECT_EQ(layer->stats().buffer_bytes, 0u);
}

TEST_F(Buffers, ZeroIdleTimeReleasesAtOnce) {
  TcpConfig c;
  c.buf_idle_release = Duration{0};
  reset(c);
  established();
  inject(seg(TcpFlags::ACK | TcpFlags::PSH, 1), "hello");
  EXPECT_EQ(manual.session->received, "hello");
  EXPECT_EQ(layer->stats().buffer_bytes, 0u);
}

TEST_F(Buffers, GaugeFallsWhenConnectionsGo) {
  established();
  manual.session->limit = 0;
  inject(seg(TcpFlags::ACK | TcpFlags::PSH, 1), "held");
  manual.sink->on_data(text("unacked"));
  EXPECT_EQ(layer->stats().buffer_bytes, 2u * ByteRing::kMinAlloc);
  inject(seg(TcpFlags::RST, 5));
  EXPECT_EQ(layer->connection_count(), 0u);
  EXPECT_EQ(layer->stats().buffer_bytes, 0u);
}

// --- what an idle connection costs ---------------------------------------------------------

/// A session that takes everything and keeps nothing.
class NullSession final : public dispatch::StreamSession {
 public:
  std::size_t send(Bytes d) override { return d.size(); }
  void shutdown_write() override {}
  void abort() override {}
  void resume_reading() override {}
};

/// Hands out NullSessions and remembers each sink, without allocating per flow (reserved).
class NullOutbound final : public dispatch::Outbound {
 public:
  explicit NullOutbound(std::size_t n) { sinks.reserve(n); }
  std::string_view name() const override { return "null"; }
  std::unique_ptr<dispatch::DatagramSession> open_datagram(const dispatch::FlowInfo&,
                                                           dispatch::DatagramSink&) override {
    return nullptr;
  }
  std::unique_ptr<dispatch::StreamSession> open_stream(const dispatch::FlowInfo&,
                                                       dispatch::StreamSink& s) override {
    sinks.push_back(&s);
    return std::make_unique<NullSession>();
  }
  std::vector<dispatch::StreamSink*> sinks;
};

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kPlainMalloc = false;  // ASan's allocator: mallinfo2 does not see it
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kPlainMalloc = false;
#else
constexpr bool kPlainMalloc = true;
#endif
#else
constexpr bool kPlainMalloc = true;
#endif

/// Bytes in live blocks of this thread's mimalloc heap (the daemon's and the tests' malloc:
/// libmimalloc.so interposes it), size-class rounding included.
std::size_t live_heap_bytes() {
  std::size_t total = 0;
  mi_heap_visit_blocks(
      mi_heap_get_default(), false,
      [](const mi_heap_t*, const mi_heap_area_t* area, void*, std::size_t, void* arg) {
        *static_cast<std::size_t*>(arg) += area->used * area->block_size;
        return true;
      },
      &total);
  return total;
}

TEST_F(Buffers, ThousandIdleConnectionsHoldNoRingStorage) {
  constexpr std::uint16_t kConns = 1000;
  NullOutbound null(kConns + 1);
  dispatcher.target = &null;
  out.packets.reserve(64);
  std::size_t heap_before = 0;
  for (std::uint16_t i = 0; i <= kConns; ++i) {
    if (i == 1) heap_before = live_heap_bytes();  // after one warm-up connection (pool, vectors)
    const Endpoint from{client.addr, Port{static_cast<std::uint16_t>(20000 + i)}};
    wire::TcpRepr s = syn();
    s.src_port = from.port;
    inject(s, {}, from);
    null.sinks.back()->on_connected();
    const SeqNum iss = sent_one().r.seq;
    wire::TcpRepr a = seg(TcpFlags::ACK | TcpFlags::PSH, 1, iss + 1);
    a.src_port = from.port;
    inject(a, "ping", from);                        // client -> remote: the receive ring
    null.sinks.back()->on_data(text("pong"));       // remote -> client: the send ring
    a = seg(TcpFlags::ACK, 5, iss + 5);
    a.src_port = from.port;
    inject(a, {}, from);
    out.packets.clear();
  }
  ASSERT_EQ(layer->connection_count(), kConns + 1u);
  EXPECT_GT(layer->stats().buffer_bytes, 0u);
  advance(1s);  // idle
  out.packets.clear();
  EXPECT_EQ(layer->stats().buffer_bytes, 0u);
  std::size_t ring_bytes = 0;
  layer->for_each_connection([&](Connection& c) {
    EXPECT_EQ(c.state(), State::Established);
    ring_bytes += c.buffer_bytes();
  });
  EXPECT_EQ(ring_bytes, 0u);
  const std::size_t heap_after = live_heap_bytes();
  const double per_conn = static_cast<double>(heap_after - heap_before) / kConns;
  std::cout << "sizeof(Connection) = " << sizeof(Connection) << " bytes; heap per idle connection = "
            << per_conn << " bytes (Connection + congestion controller + outbound session, malloc "
            << "overhead included; the demux table is preallocated)\n";
  RecordProperty("sizeof_connection", static_cast<int>(sizeof(Connection)));
  RecordProperty("heap_bytes_per_idle_connection", static_cast<int>(per_conn));
  if (kPlainMalloc) {
    // The heap counts whole size-class blocks: compare with the block a Connection takes, so
    // that a Connection made smaller within its size class does not tighten the bound.
    EXPECT_GE(per_conn, static_cast<double>(sizeof(Connection)));
    EXPECT_LT(per_conn, static_cast<double>(mi_good_size(sizeof(Connection))) + 256);
  }
}

}  // namespace
}  // namespace tunstack::tcp::testing
