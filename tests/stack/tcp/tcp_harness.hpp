#pragma once
// TcpHarness: drives the sans-IO TCP engine with a fake clock, crafted client segments
// (wire::TcpRepr) and a controllable outbound, and parses back what the engine emits.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "dispatch/dispatcher.hpp"
#include "dispatch/task_queue.hpp"
#include "stack/tcp/layer.hpp"
#include "stack/wire/ipv4.hpp"
#include "stack/wire/ipv6.hpp"
#include "tests/support/packets.hpp"

namespace tunstack::tcp::testing {

using namespace tunstack::testing;
using wire::TcpFlags;

/// A stream session the test controls: records bytes and events, accepts up to `limit` bytes.
class ManualSession final : public dispatch::StreamSession {
 public:
  std::size_t send(Bytes data) override {
    ++sends;
    const std::size_t n = std::min(data.size(), limit - std::min(limit, received.size()));
    received.append(reinterpret_cast<const char*>(data.data()), n);  // NOLINT
    return n;
  }
  void shutdown_write() override { ++shutdowns; }
  void abort() override {
    ++aborts;
    if (abort_total != nullptr) ++*abort_total;
  }
  void resume_reading() override { ++resumes; }
  /// Lets more bytes in and fires the writable callback, as a real outbound would.
  void open_up(std::size_t new_limit) {
    limit = new_limit;
    notify_writable();
  }

  std::string received;
  std::size_t limit = ~std::size_t{0};
  int sends = 0;  ///< send() calls
  int shutdowns = 0;
  int aborts = 0;
  int resumes = 0;
  int* abort_total = nullptr;  ///< outlives the session (which dies with its connection)
};

/// An outbound whose sessions are ManualSessions; the test plays the remote through `sink`.
class ManualOutbound final : public dispatch::Outbound {
 public:
  std::string_view name() const override { return "manual"; }
  std::unique_ptr<dispatch::DatagramSession> open_datagram(const dispatch::FlowInfo&,
                                                           dispatch::DatagramSink&) override {
    return nullptr;
  }
  std::unique_ptr<dispatch::StreamSession> open_stream(const dispatch::FlowInfo& f,
                                                       dispatch::StreamSink& s) override {
    flows.push_back(f);
    sink = &s;
    auto p = std::make_unique<ManualSession>();
    session = p.get();
    p->abort_total = &aborts;
    return p;
  }
  std::vector<dispatch::FlowInfo> flows;
  dispatch::StreamSink* sink = nullptr;
  ManualSession* session = nullptr;
  int aborts = 0;  ///< aborts over all sessions
};

/// A dispatcher routing to an outbound the fixture owns (so tests can swap it).
class RefDispatcher final : public dispatch::Dispatcher {
 public:
  dispatch::Outbound* target = nullptr;
  dispatch::Outbound& route(const dispatch::FlowInfo&) override { return *target; }
};

/// One parsed segment the engine emitted.
struct Seg {
  wire::TcpRepr r;
  std::string payload;
  IpAddr src, dst;
  bool is_tcp = true;
};

/// The fixture: see the file comment.
class TcpHarness : public ::testing::Test {
 protected:
  explicit TcpHarness(TcpConfig cfg = {}) { reset(cfg); }

  void reset(TcpConfig cfg) {
    layer.reset();
    cfg_ = cfg;
    dispatcher.target = &manual;
    layer = std::make_unique<TcpLayer>(cfg, now, pool, out, dispatcher, &errors);
  }

  /// Builds and injects one client segment.
  void inject(const wire::TcpRepr& r, std::string_view payload = {},
              std::optional<Endpoint> from = std::nullopt) {
    const Endpoint src = from ? *from : client;
    PacketBuf p = pool.alloc(payload.size() + 60);
    if (!payload.empty()) std::memcpy(p.append(payload.size()).data(), payload.data(), payload.size());
    const std::size_t n = r.size();
    const Bytes pl = p.view();
    MutBytes h = p.prepend(n);
    r.emit(h, pl, src.addr, server.addr);
    layer->on_tcp(now, src.addr, server.addr, std::move(p));
    tasks.run_all();
  }

  /// A client segment with our usual ports, seq and ack.
  wire::TcpRepr seg(TcpFlags flags, std::uint32_t seq_off, std::optional<SeqNum> ack = std::nullopt,
                    std::uint16_t window = 0xffff) const {
    wire::TcpRepr r;
    r.src_port = client.port;
    r.dst_port = server.port;
    r.seq = client_isn + seq_off;
    r.flags = flags;
    if (flags.has(TcpFlags::ACK)) r.ack = ack ? *ack : server_nxt();
    r.window = window;
    if (use_ts) r.options.timestamps = wire::TcpTimestamps{tsval, peer_tsval};
    return r;
  }
  /// The SYN with the full option set (MSS 1460, WS 7, SACK-permitted, timestamps).
  wire::TcpRepr syn() const {
    wire::TcpRepr r = seg(TcpFlags::SYN, 0);
    r.options.mss = 1460;
    if (use_ws) r.options.wscale = 7;
    r.options.sack_permitted = use_sack;
    return r;
  }

  /// Everything emitted since the last call, parsed.
  std::vector<Seg> sent() {
    std::vector<Seg> v;
    for (auto& p : out.packets) {
      Seg s;
      Bytes b = p.view();
      std::size_t hl = 0;
      if ((std::to_integer<int>(b[0]) >> 4) == 4) {
        hl = static_cast<std::size_t>(std::to_integer<int>(b[0]) & 0xf) * 4;
        s.src = Ip4Addr::load(b.data() + 12);
        s.dst = Ip4Addr::load(b.data() + 16);
        s.is_tcp = std::to_integer<int>(b[9]) == 6;
      } else {
        hl = 40;
        s.src = Ip6Addr::load(b.data() + 8);
        s.dst = Ip6Addr::load(b.data() + 24);
        s.is_tcp = std::to_integer<int>(b[6]) == 6;
      }
      if (s.is_tcp) {
        auto view = wire::TcpView::check(b.subspan(hl));
        EXPECT_TRUE(view.ok());
        if (!view) continue;
        EXPECT_TRUE(view->verify_checksum(s.src, s.dst));
        auto r = wire::TcpRepr::parse(*view);
        EXPECT_TRUE(r.ok());
        if (!r) continue;
        s.r = *r;
        s.payload = tunstack::testing::to_string(view->payload());
      }
      v.push_back(std::move(s));
    }
    out.packets.clear();
    for (const Seg& s : v) {
      if (!s.is_tcp) continue;
      if (s.r.options.timestamps) peer_tsval = s.r.options.timestamps->tsval;
      if (s.r.flags.has(TcpFlags::SYN)) server_isn = s.r.seq;
      const SeqNum end = s.r.seq + static_cast<std::uint32_t>(s.payload.size()) +
                         (s.r.flags.any(TcpFlags::SYN | TcpFlags::FIN) ? 1u : 0u);
      if (!s.r.flags.has(TcpFlags::RST) && (s.r.flags.has(TcpFlags::SYN) || end > server_high))
        server_high = end;
    }
    return v;
  }
  /// Exactly one segment must have been emitted; returns it.
  Seg sent_one() {
    auto v = sent();
    EXPECT_EQ(v.size(), 1u);
    return v.empty() ? Seg{} : v.front();
  }

  /// Moves the clock, firing every deadline on the way in order.
  void advance(Duration d) {
    const Instant target = now + d;
    while (auto next = layer->next_deadline()) {
      if (*next > target) break;
      now = std::max(now, *next);
      layer->poll(now);
      tasks.run_all();
    }
    now = target;
    layer->poll(now);
    tasks.run_all();
  }

  /// SYN, connect, SYN-ACK, ACK: leaves the connection ESTABLISHED with the output drained.
  Connection& established() {
    inject(syn());
    manual.sink->on_connected();
    Seg sa = sent_one();
    EXPECT_EQ(sa.r.flags, TcpFlags::SYN | TcpFlags::ACK);
    inject(seg(TcpFlags::ACK, 1));
    (void)sent();
    Connection* c = conn();
    EXPECT_NE(c, nullptr);
    EXPECT_EQ(c->state(), State::Established);
    return *c;
  }
  Connection* conn() { return layer->find(client, server); }
  SeqNum server_nxt() const { return server_high; }

  Instant now = instant_from_ns(5'000'000'000);
  BufPool pool;
  CaptureOutput out;
  dispatch::TaskQueue tasks;
  ManualOutbound manual;
  RefDispatcher dispatcher;
  icmp::ErrorSender errors{icmp::ErrorSender::Config{}, pool, out};
  std::unique_ptr<TcpLayer> layer;
  TcpConfig cfg_;

  Endpoint client = ep("10.0.0.2:40000");
  Endpoint server = ep("93.184.216.34:443");
  SeqNum client_isn{1000};
  SeqNum server_isn{};
  SeqNum server_high{};
  bool use_ts = true;
  bool use_ws = true;
  bool use_sack = true;
  std::uint32_t tsval = 100;
  std::uint32_t peer_tsval = 0;
};

}  // namespace tunstack::tcp::testing
