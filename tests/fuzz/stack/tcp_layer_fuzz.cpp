// Fuzzes the TCP engine through its public input path: the fuzz bytes are decoded into a script
// of client segments (flags, seq/ack near the live values, window, options, payload) for four
// 4-tuples (one IPv6), outbound events (connected, refused, unreachable, echo data, FIN, reset,
// back-pressure), and time steps that fire the layer's deadlines. A small echo outbound sends
// back what each session received. Tiny limits (half-open cap 2, so SYN cookies are reached)
// make every limit path reachable.
//
// Invariants checked after every step: connection_count <= max_connections; the active and
// half-open gauges agree with the table; tcp_buffer_bytes equals the ring storage the
// connections hold; every emitted packet parses as IP + TCP with a valid checksum, fits the MTU,
// and is counted in tcp_segments_out; the bytes a session receives are exactly the client's
// stream (payload bytes are a function of their sequence number, so misplaced bytes show), and
// the bytes sent to a client are exactly what its session echoed. At the end every packet buffer
// has returned to the pool.
#include <fuzzer/FuzzedDataProvider.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "dispatch/dispatcher.hpp"
#include "stack/tcp/layer.hpp"
#include "stack/wire/ipv4.hpp"
#include "stack/wire/ipv6.hpp"

namespace {

using namespace tunstack;
using namespace tunstack::tcp;
using wire::TcpFlags;

constexpr std::size_t kMtu = 1500;
constexpr std::size_t kTuples = 4;
constexpr std::size_t kMaxConnections = 3;

#define FUZZ_CHECK(cond)                                                  \
  do {                                                                    \
    if (!(cond)) {                                                        \
      std::fprintf(stderr, "tcp_layer_fuzz:%d: %s failed\n", __LINE__, #cond); \
      std::abort();                                                       \
    }                                                                     \
  } while (0)

/// The byte a client sends at sequence number s (so any misplaced byte is visible).
std::byte client_byte(SeqNum s) { return static_cast<std::byte>((s.raw() * 2654435761u) >> 24); }

FourTuple tuple_of(std::size_t i) {
  if (i == 3) {
    return {Endpoint{*IpAddr::parse("fd00::2"), Port{1003}}, Endpoint{*IpAddr::parse("2001:db8::1"), Port{443}}};
  }
  return {Endpoint{Ip4Addr::from_host(0x0a000002), Port{static_cast<std::uint16_t>(1000 + i)}},
          Endpoint{Ip4Addr::from_host(0xc0000201), Port{80}}};
}

std::size_t index_of(const Endpoint& client) {
  for (std::size_t i = 0; i < kTuples; ++i)
    if (tuple_of(i).client == client) return i;
  std::abort();
}

class EchoOutbound;

/// One stream: checks what the client sends and echoes it when told to.
class EchoSession final : public dispatch::StreamSession {
 public:
  EchoSession(EchoOutbound& ob, std::size_t idx, dispatch::StreamSink& sink, SeqNum start)
      : ob_(ob), idx_(idx), sink_(sink), start_(start) {}
  ~EchoSession() override;

  std::size_t send(Bytes data) override {
    FUZZ_CHECK(!aborted_ && !shut_);
    const std::size_t n = std::min(data.size(), budget_);
    for (std::size_t i = 0; i < n; ++i)
      FUZZ_CHECK(data[i] == client_byte(start_ + static_cast<std::uint32_t>(received_ + i)));
    received_ += n;
    budget_ -= n;
    return n;
  }
  void shutdown_write() override {
    if (std::getenv("TCP_FUZZ_TRACE") != nullptr) std::fprintf(stderr, "session %zu shutdown\n", idx_);
    FUZZ_CHECK(!shut_);
    shut_ = true;
  }
  void abort() override {
    if (std::getenv("TCP_FUZZ_TRACE") != nullptr) std::fprintf(stderr, "session %zu abort\n", idx_);
    aborted_ = true;
  }
  void resume_reading() override {}

  /// Outbound events, applied only when a real outbound could produce them.
  void event(std::uint8_t kind, std::uint16_t arg) {
    if (std::getenv("TCP_FUZZ_TRACE") != nullptr) std::fprintf(stderr, "session %zu event %d arg %d\n", idx_, kind % 8, arg);
    if (aborted_ || failed_) return;
    switch (kind % 8) {
      case 0:
        if (!connected_) {
          connected_ = true;
          sink_.on_connected();
        }
        break;
      case 1:
      case 2:
        if (!connected_) {
          failed_ = true;
          sink_.on_connect_failed(kind % 8 == 1, dispatch::RemoteError{});
        }
        break;
      case 3: {
        if (!connected_ || fin_) break;
        const std::size_t n = std::min<std::size_t>(arg, received_ - echoed_);
        std::string buf(n, '\0');
        for (std::size_t i = 0; i < n; ++i)
          buf[i] = static_cast<char>(client_byte(start_ + static_cast<std::uint32_t>(echoed_ + i)));
        offered_ = echoed_ + n;  // the engine may send from inside on_data
        echoed_ += sink_.on_data(as_bytes(buf.data(), n));
        offered_ = echoed_;
        break;
      }
      case 4:
        if (connected_ && !fin_) {
          fin_ = true;
          sink_.on_remote_fin();
        }
        break;
      case 5:
        if (connected_) {
          failed_ = true;
          sink_.on_reset();
        }
        break;
      default:
        budget_ = arg % 2 == 0 ? ~std::size_t{0} : arg;
        notify_writable();
        break;
    }
  }
  /// The client-bound byte at stream offset `off` (the echo of what we received).
  bool echoed_byte_ok(std::size_t off, std::byte b) const {
    return off < offered_ && b == client_byte(start_ + static_cast<std::uint32_t>(off));
  }

 private:
  EchoOutbound& ob_;
  std::size_t idx_;
  dispatch::StreamSink& sink_;
  SeqNum start_;  ///< the sequence number of the client's first data byte
  std::size_t received_ = 0;
  std::size_t echoed_ = 0;
  std::size_t offered_ = 0;  ///< echoed_ plus what is being offered right now
  std::size_t budget_ = ~std::size_t{0};
  bool connected_ = false, failed_ = false, fin_ = false, shut_ = false, aborted_ = false;
};

/// Hands out EchoSessions and finds them by tuple index.
class EchoOutbound final : public dispatch::Outbound {
 public:
  std::string_view name() const override { return "fuzz-echo"; }
  std::unique_ptr<dispatch::DatagramSession> open_datagram(const dispatch::FlowInfo&,
                                                           dispatch::DatagramSink&) override {
    return nullptr;
  }
  std::unique_ptr<dispatch::StreamSession> open_stream(const dispatch::FlowInfo& f,
                                                       dispatch::StreamSink& sink) override {
    const std::size_t i = index_of(f.src);
    FUZZ_CHECK(sessions[i] == nullptr);  // one connection per 4-tuple
    // Nothing has been received yet: rcv_nxt is the first data byte.
    const auto* c = dynamic_cast<Connection*>(&sink);
    FUZZ_CHECK(c != nullptr);
    auto s = std::make_unique<EchoSession>(*this, i, sink, c->rcv_nxt());
    sessions[i] = s.get();
    return s;
  }
  std::array<EchoSession*, kTuples> sessions{};
};

EchoSession::~EchoSession() { ob_.sessions[idx_] = nullptr; }

/// Checks and counts every packet the layer emits; remembers the server side's sequence space.
class CheckingOutput final : public PacketOutput {
 public:
  void emit(PacketBuf p) override {
    ++packets;
    FUZZ_CHECK(p.size() <= kMtu);
    Bytes b = p.view();
    FUZZ_CHECK(!b.empty());
    IpAddr src, dst;
    Bytes seg;
    if (load_u8(b.data()) >> 4 == 4) {
      auto v = wire::Ipv4View::check(b);
      FUZZ_CHECK(v.ok() && v->protocol() == wire::IpProto::Tcp);
      src = v->src();
      dst = v->dst();
      seg = v->payload();
    } else {
      auto v = wire::Ipv6View::check(b);
      FUZZ_CHECK(v.ok() && v->next_header() == wire::IpProto::Tcp);
      src = v->src();
      dst = v->dst();
      seg = v->payload();
    }
    auto view = wire::TcpView::check(seg);
    FUZZ_CHECK(view.ok() && view->verify_checksum(src, dst));
    auto r = wire::TcpRepr::parse(*view);
    FUZZ_CHECK(r.ok());
    const std::size_t i = index_of(Endpoint{dst, r->dst_port});
    FUZZ_CHECK(tuple_of(i).server == (Endpoint{src, r->src_port}));
    // Remember where the server is, so the script can aim ACKs and SACKs at it.
    const SeqNum end = r->seq + r->segment_len();
    if (r->flags.has(TcpFlags::SYN)) {
      server_iss[i] = r->seq;
      server_nxt[i] = end;
    } else if (!r->flags.has(TcpFlags::RST) && end > server_nxt[i]) {
      server_nxt[i] = end;
    }
    if (r->options.timestamps) server_ts[i] = r->options.timestamps->tsval;
    // Remote -> client bytes must be exactly the session's echo, at the right offsets.
    const Bytes payload = view->payload();
    if (!payload.empty()) {
      FUZZ_CHECK(!r->flags.any(TcpFlags::SYN | TcpFlags::RST));
      Connection* c = layer->find(tuple_of(i).client, tuple_of(i).server);
      FUZZ_CHECK(c != nullptr && out->sessions[i] != nullptr);
      const auto off = static_cast<std::uint32_t>(r->seq - (c->iss() + 1));
      for (std::size_t j = 0; j < payload.size(); ++j) FUZZ_CHECK(out->sessions[i]->echoed_byte_ok(off + j, payload[j]));
    }
  }
  TcpLayer* layer = nullptr;
  EchoOutbound* out = nullptr;
  std::uint64_t packets = 0;
  std::array<SeqNum, kTuples> server_iss{};
  std::array<SeqNum, kTuples> server_nxt{};
  std::array<std::uint32_t, kTuples> server_ts{};
};

/// A dispatcher for the one outbound.
class OneDispatcher final : public dispatch::Dispatcher {
 public:
  explicit OneDispatcher(dispatch::Outbound& o) : o_(o) {}
  dispatch::Outbound& route(const dispatch::FlowInfo&) override { return o_; }

 private:
  dispatch::Outbound& o_;
};

void check_invariants(TcpLayer& layer, const CheckingOutput& out) {
  const TcpStats& st = layer.stats();
  FUZZ_CHECK(layer.connection_count() <= kMaxConnections);
  FUZZ_CHECK(st.active == layer.connection_count());
  std::size_t half_open = 0, ring = 0;
  layer.for_each_connection([&](Connection& c) {
    if (c.half_open()) ++half_open;
    ring += c.buffer_bytes();
    FUZZ_CHECK(c.send_buffered() <= c.send_capacity());
    FUZZ_CHECK(c.recv_buffered() <= c.recv_capacity());
  });
  FUZZ_CHECK(st.half_open <= half_open);  // cookie connections are never counted
  FUZZ_CHECK(st.half_open <= layer.config().max_half_open);
  FUZZ_CHECK(st.buffer_bytes == ring);
  FUZZ_CHECK(st.segments_out == out.packets);
}

struct Client {
  SeqNum isn;
  SeqNum nxt;
  std::uint32_t ts = 1;
};

/// Decodes one client segment. Sequence and acknowledgment numbers are exact (where the client
/// and the server are) half of the time, a little off a quarter, anywhere the rest: enough
/// precision to get through handshakes and data, enough noise to hit every edge.
wire::TcpRepr make_segment(FuzzedDataProvider& in, std::size_t i, Client& cl, const CheckingOutput& out,
                           std::uint32_t& payload_len) {
  wire::TcpRepr r;
  const FourTuple t = tuple_of(i);
  r.src_port = t.client.port;
  r.dst_port = t.server.port;
  const std::uint8_t kind = in.ConsumeIntegral<std::uint8_t>();
  switch (kind & 7) {
    case 0: r.flags = TcpFlags::SYN; break;
    case 1: r.flags = TcpFlags::ACK; break;
    case 2: r.flags = TcpFlags::ACK | TcpFlags::PSH; break;
    case 3: r.flags = TcpFlags::ACK | TcpFlags::FIN; break;
    case 4: r.flags = TcpFlags::RST; break;
    case 5: r.flags = TcpFlags::RST | TcpFlags::ACK; break;
    case 6: r.flags = TcpFlags::ACK; break;
    default: r.flags = TcpFlags{in.ConsumeIntegral<std::uint8_t>()}; break;
  }
  const auto near = [&](SeqNum base, unsigned mode) {
    if (mode < 2) return base;
    if (mode == 2) return base + static_cast<std::uint32_t>(static_cast<std::int32_t>(static_cast<std::int8_t>(in.ConsumeIntegral<std::uint8_t>())) * 64);
    return SeqNum{in.ConsumeIntegral<std::uint32_t>()};
  };
  if (r.flags.has(TcpFlags::SYN) && !r.flags.has(TcpFlags::ACK) && ((kind >> 3) & 3) < 2) {
    if (in.ConsumeBool()) cl.isn = cl.isn + 100000;  // a new incarnation
    r.seq = cl.isn;
    cl.nxt = cl.isn + 1;
  } else {
    r.seq = near(cl.nxt, (kind >> 3) & 3);
  }
  if (r.flags.has(TcpFlags::ACK)) r.ack = near(out.server_nxt[i], (kind >> 5) & 3);
  const std::uint8_t opts = in.ConsumeIntegral<std::uint8_t>();
  r.window = (opts & 128) ? in.ConsumeIntegral<std::uint16_t>() : std::uint16_t{0xffff};
  if (opts & 1) r.options.mss = in.ConsumeIntegralInRange<std::uint16_t>(0, 9000);
  if (opts & 2) r.options.wscale = in.ConsumeIntegralInRange<std::uint8_t>(0, wire::kTcpMaxWindowShift);
  if (opts & 4) r.options.sack_permitted = true;
  if (opts & 8) {
    cl.ts += in.ConsumeIntegral<std::uint8_t>();
    const std::uint32_t ts = (opts & 16) ? cl.ts - 1000 : cl.ts;  // sometimes old (PAWS)
    const std::uint32_t ecr = (opts & 32) ? in.ConsumeIntegral<std::uint32_t>() : out.server_ts[i];
    r.options.timestamps = wire::TcpTimestamps{ts, ecr};
  }
  if ((opts & 64) && r.flags.has(TcpFlags::ACK)) {
    const SeqNum base = out.server_iss[i] + 1;
    const std::uint32_t l = in.ConsumeIntegral<std::uint16_t>();
    (void)r.options.add_sack({base + l, base + l + in.ConsumeIntegral<std::uint16_t>()});
    r.options.sack_count = static_cast<std::uint8_t>(r.options.emitted_sack_count());
  }
  payload_len = (kind & 128) && !r.flags.has(TcpFlags::RST) ? in.ConsumeIntegralInRange<std::uint32_t>(1, 1460) : 0;
  const SeqNum end = r.seq + payload_len + (r.flags.has(TcpFlags::FIN) ? 1u : 0u);
  if (((kind >> 3) & 3) < 3 && end > cl.nxt) cl.nxt = end;
  return r;
}

/// Small limits so that every limit path is reachable; some knobs from the input.
TcpConfig decode_config(FuzzedDataProvider& in) {
  TcpConfig cfg;
  cfg.max_connections = kMaxConnections;
  cfg.max_half_open = 2;
  cfg.rcv_buf = 4096;
  cfg.snd_buf = 4096;
  cfg.rcv_buf_max = 64u << 10;
  cfg.snd_buf_max = 64u << 10;
  cfg.challenge_ack_limit = 5;
  cfg.keepalive_idle = std::chrono::seconds(in.ConsumeBool() ? 5 : 0);
  cfg.keepalive_interval = std::chrono::seconds(1);
  cfg.user_timeout = std::chrono::seconds(in.ConsumeIntegralInRange<int>(0, 5));
  cfg.immediate_synack = in.ConsumeBool();
  cfg.buf_idle_release = std::chrono::milliseconds(in.ConsumeIntegralInRange<int>(0, 600));
  return cfg;
}

/// Moves the clock to now + d, polling at every deadline on the way (as the daemon's loop does).
void advance(TcpLayer& layer, const CheckingOutput& out, Instant& now, Duration d) {
  const Instant target = now + d;
  while (auto next = layer.next_deadline()) {
    if (*next > target) break;
    now = std::max(now, *next);
    layer.poll(now);
    check_invariants(layer, out);
  }
  now = target;
  layer.poll(now);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  BufPool::Config pc;
  pc.max_bytes = 8u << 20;
  BufPool pool(pc);
  {
    const TcpConfig cfg = decode_config(in);
    CheckingOutput out;
    EchoOutbound echo;
    OneDispatcher dispatcher(echo);
    Instant now = instant_from_ns(1'000'000'000);
    TcpLayer layer(cfg, now, pool, out, dispatcher);
    out.layer = &layer;
    out.out = &echo;
    std::array<Client, kTuples> clients{};
    for (std::size_t i = 0; i < kTuples; ++i) clients[i].isn = clients[i].nxt = SeqNum{0x1000u * static_cast<std::uint32_t>(i + 1)};

    const bool trace = std::getenv("TCP_FUZZ_TRACE") != nullptr;
    while (in.remaining_bytes() > 0) {
      const std::uint8_t op = in.ConsumeIntegral<std::uint8_t>();
      const std::size_t i = (op >> 4) % kTuples;
      switch ((op & 0x0f) % 5) {
        case 0:  // time passes
          advance(layer, out, now, std::chrono::milliseconds(in.ConsumeIntegral<std::uint16_t>()));
          break;
        case 1:
        case 2: {  // a client segment
          std::uint32_t len = 0;
          const wire::TcpRepr r = make_segment(in, i, clients[i], out, len);
          const FourTuple t = tuple_of(i);
          PacketBuf p = pool.alloc(len + 60);
          if (!p.valid()) break;
          MutBytes body = p.append(len);
          for (std::uint32_t j = 0; j < len; ++j) body[j] = client_byte(r.seq + j);
          const Bytes pl = p.view();
          const std::size_t n = r.size();
          r.emit(p.prepend(n), pl, t.client.addr, t.server.addr);
          if (trace) std::fprintf(stderr, "seg %zu %s seq=%u ack=%u len=%u\n", i, r.flags.to_string().c_str(), r.seq.raw(), r.ack ? r.ack->raw() : 0, len);
          layer.on_tcp(now, t.client.addr, t.server.addr, std::move(p));
          break;
        }
        case 3: {  // an outbound event
          const std::uint8_t kind = in.ConsumeIntegral<std::uint8_t>();
          const std::uint16_t arg = in.ConsumeIntegral<std::uint16_t>();
          if (EchoSession* s = echo.sessions[i]) s->event(kind, arg);
          break;
        }
        default: {  // raw bytes as a TCP segment: the parser path
          std::string raw = in.ConsumeRandomLengthString(80);
          const FourTuple t = tuple_of(i);
          if (raw.size() >= 4) {  // our ports, so any answer goes to a known client
            store_be16(reinterpret_cast<std::byte*>(raw.data()), t.client.port.value);  // NOLINT
            store_be16(reinterpret_cast<std::byte*>(raw.data() + 2), t.server.port.value);  // NOLINT
          }
          layer.on_tcp(now, t.client.addr, t.server.addr, pool.copy_of(as_bytes(raw.data(), raw.size())));
          break;
        }
      }
      check_invariants(layer, out);
    }
    if (std::getenv("TCP_FUZZ_STATS") != nullptr) {
      // Coverage at a glance: which counters a corpus reaches (TCP_FUZZ_STATS=1 -runs=0).
      layer.stats().visit([](std::string_view n, std::uint64_t v) {
        if (v != 0) std::fprintf(stderr, "%.*s=%llu ", static_cast<int>(n.size()), n.data(), static_cast<unsigned long long>(v));
      });
      std::fprintf(stderr, "\n");
    }
  }
  FUZZ_CHECK(pool.stats().blocks_out == 0);  // every buffer came back
  return 0;
}
