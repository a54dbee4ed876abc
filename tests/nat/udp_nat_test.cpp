// The full-cone NAT, sans-IO: real packets out through the return path, the far side played by a
// scripted outbound (the kernel-socket outbound is covered by the namespace integration tests).
#include "nat/udp_nat.hpp"

#include <gtest/gtest.h>

#include <map>

#include "dispatch/builtin.hpp"
#include "stack/ip/reassembly.hpp"
#include "stack/wire/icmpv4.hpp"
#include "stack/wire/icmpv6.hpp"
#include "stack/wire/ipv4.hpp"
#include "stack/wire/ipv6.hpp"
#include "stack/wire/udp.hpp"
#include "tests/support/packets.hpp"

namespace tunstack::nat {
namespace {

using namespace tunstack::testing;

const Instant kT0 = instant_from_ns(5'000'000'000);

/// The far side: records what each session sent and lets the test answer from any remote.
class ScriptedOutbound final : public dispatch::Outbound {
 public:
  struct Session final : dispatch::DatagramSession {
    Session(ScriptedOutbound& o, dispatch::DatagramSink& s, Endpoint c) : out(o), sink(s), client(c) {}
    ~Session() override { out.live.erase(client); ++out.closed; }
    Status<dispatch::SendError> send(const Endpoint& dst, PacketBuf payload) override {
      if (out.refuse_sends) return Err{dispatch::SendError::QueueFull};
      sent.emplace_back(dst, to_string(payload.view()));
      return {};
    }
    std::optional<Endpoint> mapped_endpoint() const override { return public_ep; }
    ScriptedOutbound& out;
    dispatch::DatagramSink& sink;
    Endpoint client;
    Endpoint public_ep;
    std::vector<std::pair<Endpoint, std::string>> sent;
  };

  std::string_view name() const override { return "scripted"; }
  std::unique_ptr<dispatch::DatagramSession> open_datagram(const dispatch::FlowInfo& f,
                                                           dispatch::DatagramSink& sink) override {
    ++opened;
    auto s = std::make_unique<Session>(*this, sink, f.src);
    s->public_ep = Endpoint{addr("198.18.200.1"), Port{static_cast<std::uint16_t>(40000 + opened)}};
    live[f.src] = s.get();
    return s;
  }
  std::unique_ptr<dispatch::StreamSession> open_stream(const dispatch::FlowInfo&, dispatch::StreamSink&) override {
    return nullptr;
  }

  std::map<Endpoint, Session*> live;
  int opened = 0;
  int closed = 0;
  bool refuse_sends = false;
};

struct NatFixture : ::testing::Test {
  explicit NatFixture(UdpNatConfig cfg = {}, std::size_t mtu = 1500)
      : outbound_(new ScriptedOutbound),
        dispatcher_(std::unique_ptr<dispatch::Outbound>(outbound_)),
        errors_(icmp::ErrorSender::Config{}, pool_, out_),
        rp_(ReturnPathConfig{mtu, 64}, pool_, out_, errors_),
        nat_(cfg, dispatcher_, rp_, kT0) {}

  void send(const Endpoint& client, const Endpoint& dst, std::string_view data, Instant at = kT0) {
    nat_.on_datagram(at, client, dst, payload_buf(pool_, text(data)));
  }
  ScriptedOutbound::Session& session(const Endpoint& client) { return *outbound_->live.at(client); }

  BufPool pool_;
  CaptureOutput out_;
  ScriptedOutbound* outbound_;
  dispatch::SingleDispatcher dispatcher_;
  icmp::ErrorSender errors_;
  ReturnPath rp_;
  UdpNat nat_;
};

/// Parses an emitted IPv4/UDP packet back: (src, dst, payload).
struct Parsed {
  Endpoint src, dst;
  std::string payload;
};
Parsed parse_udp(const PacketBuf& p) {
  Parsed r;
  Bytes l4;
  IpAddr s, d;
  if ((load_u8(p.data()) >> 4) == 4) {
    auto v = wire::Ipv4View::check(p.view());
    EXPECT_TRUE(v.ok());
    EXPECT_TRUE(v->checksum_ok());
    s = v->src();
    d = v->dst();
    l4 = v->payload();
  } else {
    auto v = wire::Ipv6View::check(p.view());
    EXPECT_TRUE(v.ok());
    s = v->src();
    d = v->dst();
    l4 = v->payload();
  }
  auto u = wire::UdpView::check(l4);
  EXPECT_TRUE(u.ok());
  EXPECT_TRUE(u->verify_checksum(s, d));
  r.src = Endpoint{s, u->src_port()};
  r.dst = Endpoint{d, u->dst_port()};
  r.payload = to_string(u->payload());
  return r;
}

TEST_F(NatFixture, OneMappingPerSourceForEveryDestination) {
  const Endpoint client = ep("198.18.0.2:5000");
  send(client, ep("198.19.0.1:53"), "to A");
  send(client, ep("198.19.0.9:3478"), "to B");
  EXPECT_EQ(outbound_->opened, 1);  // endpoint-independent mapping (RFC 4787 REQ-1)
  ASSERT_EQ(session(client).sent.size(), 2u);
  EXPECT_EQ(session(client).sent[1].first, ep("198.19.0.9:3478"));
  EXPECT_EQ(session(client).sent[1].second, "to B");
  EXPECT_EQ(nat_.mapped_endpoint(client), session(client).public_ep);
  send(ep("198.18.0.2:5001"), ep("198.19.0.1:53"), "other port");
  EXPECT_EQ(outbound_->opened, 2);
  EXPECT_EQ(nat_.stats().tx_datagrams, 3u);
  EXPECT_EQ(nat_.stats().mappings_created, 2u);
}

TEST_F(NatFixture, AnyRemoteReachesTheClient) {
  const Endpoint client = ep("198.18.0.2:5000");
  send(client, ep("198.19.0.1:53"), "hello");
  // A remote the client never addressed answers: full cone lets it through (RFC 4787 REQ-8).
  session(client).sink.on_datagram(ep("198.19.7.7:9999"), payload_buf(pool_, text("unsolicited")));
  ASSERT_EQ(out_.packets.size(), 1u);
  Parsed p = parse_udp(out_.packets[0]);
  EXPECT_EQ(p.src, ep("198.19.7.7:9999"));
  EXPECT_EQ(p.dst, client);
  EXPECT_EQ(p.payload, "unsolicited");
  EXPECT_EQ(nat_.stats().rx_datagrams, 1u);
}

TEST_F(NatFixture, Ipv6RoundTrip) {
  const Endpoint client = ep("[fd00::2]:7000");
  send(client, ep("[fd00:1::1]:53"), "q");
  session(client).sink.on_datagram(ep("[fd00:1::1]:53"), payload_buf(pool_, text("answer")));
  ASSERT_EQ(out_.packets.size(), 1u);
  Parsed p = parse_udp(out_.packets[0]);
  EXPECT_EQ(p.src, ep("[fd00:1::1]:53"));
  EXPECT_EQ(p.dst, client);
  EXPECT_EQ(p.payload, "answer");
}

TEST_F(NatFixture, ReplyOfTheOtherFamilyIsDroppedAndCounted) {
  const Endpoint client = ep("198.18.0.2:5000");
  send(client, ep("198.19.0.1:53"), "q");
  session(client).sink.on_datagram(ep("[fd00:1::1]:53"), payload_buf(pool_, text("v6")));
  EXPECT_TRUE(out_.packets.empty());
  EXPECT_EQ(nat_.stats().rx_drop_family_mismatch, 1u);
}

TEST_F(NatFixture, IdleMappingsExpireAndOutboundTrafficRefreshes) {
  const Endpoint a = ep("198.18.0.2:1000");
  const Endpoint b = ep("198.18.0.2:2000");
  const Duration idle = nat_.config().idle_timeout;
  send(a, ep("198.19.0.1:53"), "x", kT0);
  send(b, ep("198.19.0.1:53"), "x", kT0);
  send(a, ep("198.19.0.1:53"), "keepalive", kT0 + idle / 2);  // refreshes a only
  nat_.poll(kT0 + idle + std::chrono::seconds(1));
  EXPECT_TRUE(nat_.has_mapping(a));
  EXPECT_FALSE(nat_.has_mapping(b));
  EXPECT_EQ(nat_.stats().mappings_expired, 1u);
  EXPECT_EQ(outbound_->closed, 1);  // its session (socket) was closed
  nat_.poll(kT0 + idle / 2 + idle + std::chrono::seconds(1));
  EXPECT_FALSE(nat_.has_mapping(a));
  EXPECT_EQ(nat_.size(), 0u);
}

TEST_F(NatFixture, InboundTrafficDoesNotRefreshByDefault) {
  const Endpoint a = ep("198.18.0.2:1000");
  const Duration idle = nat_.config().idle_timeout;
  send(a, ep("198.19.0.1:53"), "x", kT0);
  nat_.poll(kT0 + idle / 2);
  session(a).sink.on_datagram(ep("198.19.0.1:53"), payload_buf(pool_, text("in")));
  nat_.poll(kT0 + idle + std::chrono::seconds(1));
  EXPECT_FALSE(nat_.has_mapping(a));
}

struct InboundRefreshNat : NatFixture {
  InboundRefreshNat() : NatFixture(UdpNatConfig{16, std::chrono::seconds(120), true}) {}
};

TEST_F(InboundRefreshNat, InboundTrafficRefreshesWhenConfigured) {
  const Endpoint a = ep("198.18.0.2:1000");
  send(a, ep("198.19.0.1:53"), "x", kT0);
  nat_.poll(kT0 + std::chrono::seconds(100));
  session(a).sink.on_datagram(ep("198.19.0.1:53"), payload_buf(pool_, text("in")));
  nat_.poll(kT0 + std::chrono::seconds(121));
  EXPECT_TRUE(nat_.has_mapping(a));
  nat_.poll(kT0 + std::chrono::seconds(221));
  EXPECT_FALSE(nat_.has_mapping(a));
}

struct SmallNat : NatFixture {
  SmallNat() : NatFixture(UdpNatConfig{3, std::chrono::seconds(120), false}) {}
};

TEST_F(SmallNat, CapEvictsLeastRecentlyUsed) {
  const Endpoint c1 = ep("198.18.0.2:1"), c2 = ep("198.18.0.2:2"), c3 = ep("198.18.0.2:3"),
                 c4 = ep("198.18.0.2:4");
  send(c1, ep("198.19.0.1:53"), "1");
  send(c2, ep("198.19.0.1:53"), "2");
  send(c3, ep("198.19.0.1:53"), "3");
  send(c1, ep("198.19.0.1:53"), "1 again");  // c2 is now the least recently used
  send(c4, ep("198.19.0.1:53"), "4");
  EXPECT_EQ(nat_.size(), 3u);
  EXPECT_TRUE(nat_.has_mapping(c1));
  EXPECT_FALSE(nat_.has_mapping(c2));
  EXPECT_TRUE(nat_.has_mapping(c3));
  EXPECT_TRUE(nat_.has_mapping(c4));
  EXPECT_EQ(nat_.stats().mappings_evicted, 1u);
  EXPECT_EQ(outbound_->closed, 1);
}

TEST_F(NatFixture, RefusedSendsAreCountedByReason) {
  outbound_->refuse_sends = true;
  send(ep("198.18.0.2:1"), ep("198.19.0.1:53"), "x");
  send(ep("198.18.0.2:1"), ep("198.19.0.1:53"), "y");
  EXPECT_EQ(nat_.stats().tx_drop_queue_full, 2u);
  EXPECT_EQ(nat_.stats().tx_datagrams, 0u);
}

TEST_F(NatFixture, SessionClosedByOutboundIsReleasedOutsideItsCallback) {
  const Endpoint a = ep("198.18.0.2:1000");
  send(a, ep("198.19.0.1:53"), "x");
  session(a).sink.on_session_closed();
  EXPECT_EQ(outbound_->closed, 0);  // not destroyed from inside its own callback
  EXPECT_TRUE(nat_.next_deadline().has_value());
  nat_.poll(kT0 + std::chrono::milliseconds(1));
  EXPECT_FALSE(nat_.has_mapping(a));
  EXPECT_EQ(outbound_->closed, 1);
  EXPECT_EQ(nat_.stats().mappings_closed_by_outbound, 1u);
  send(a, ep("198.19.0.1:53"), "again");  // a new datagram opens a new mapping
  EXPECT_EQ(outbound_->opened, 2);
}

TEST_F(NatFixture, RemoteErrorBecomesIcmpPortUnreachableQuotingTheClientsDatagram) {
  const Endpoint client = ep("198.18.0.2:5000");
  const Endpoint remote = ep("198.19.0.1:9");
  send(client, remote, "12345");
  dispatch::RemoteError err{dispatch::RemoteError::Kind::PortUnreachable, remote, remote.addr, 0};
  session(client).sink.on_remote_error(err);
  ASSERT_EQ(out_.packets.size(), 1u);
  auto ip4 = wire::Ipv4View::check(out_.packets[0].view());
  ASSERT_TRUE(ip4.ok());
  EXPECT_EQ(IpAddr{ip4->src()}, remote.addr);
  EXPECT_EQ(IpAddr{ip4->dst()}, client.addr);
  auto icmp = wire::Icmpv4View::check(ip4->payload());
  ASSERT_TRUE(icmp.ok());
  EXPECT_TRUE(icmp->verify_checksum());
  EXPECT_EQ(icmp->type(), 3);
  EXPECT_EQ(icmp->code(), 3);
  // The quote is the client's own datagram: its kernel matches it to the socket by these.
  auto quoted = icmp->body();
  ASSERT_GE(quoted.size(), 28u);
  EXPECT_EQ(Ip4Addr::load(quoted.data() + 12), client.addr.v4());
  EXPECT_EQ(Ip4Addr::load(quoted.data() + 16), remote.addr.v4());
  EXPECT_EQ(load_be16(quoted.data() + 20), client.port.value);
  EXPECT_EQ(load_be16(quoted.data() + 22), remote.port.value);
  EXPECT_EQ(nat_.stats().icmp_errors_sent, 1u);
}

TEST_F(NatFixture, Ipv6RemoteErrorBecomesIcmpv6PortUnreachable) {
  const Endpoint client = ep("[fd00::2]:5000");
  const Endpoint remote = ep("[fd00:1::1]:9");
  send(client, remote, "x");
  session(client).sink.on_remote_error({dispatch::RemoteError::Kind::PortUnreachable, remote, remote.addr, 0});
  ASSERT_EQ(out_.packets.size(), 1u);
  auto ip6 = wire::Ipv6View::check(out_.packets[0].view());
  ASSERT_TRUE(ip6.ok());
  auto icmp = wire::Icmpv6View::check(ip6->payload());
  ASSERT_TRUE(icmp.ok());
  EXPECT_TRUE(icmp->verify_checksum(ip6->src(), ip6->dst()));
  EXPECT_EQ(icmp->type(), 1);
  EXPECT_EQ(icmp->code(), 4);
}

struct SmallMtuNat : NatFixture {
  SmallMtuNat() : NatFixture(UdpNatConfig{}, 1280) {}
};

TEST_F(SmallMtuNat, OversizeRepliesAreFragmentedAndReassembleToTheOriginal) {
  for (const char* client_s : {"198.18.0.2:5000", "[fd00::2]:5000"}) {
    out_.packets.clear();
    const Endpoint client = ep(client_s);
    const Endpoint remote = client.addr.is_v4() ? ep("198.19.0.1:53") : ep("[fd00:1::1]:53");
    send(client, remote, "q");
    std::string big(9000, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
    session(client).sink.on_datagram(remote, payload_buf(pool_, text(big)));
    ASSERT_GT(out_.packets.size(), 7u);
    ip::Reassembler reasm(pool_);
    std::optional<PacketBuf> whole;
    for (auto& p : out_.packets) {
      EXPECT_LE(p.size(), 1280u);
      auto r = client.addr.is_v4() ? reasm.input_v4(std::move(p), kT0) : reasm.input_v6(std::move(p), kT0);
      if (r.datagram) whole = std::move(r.datagram);
    }
    ASSERT_TRUE(whole.has_value());
    Parsed parsed = parse_udp(*whole);
    EXPECT_EQ(parsed.payload, big);
    EXPECT_EQ(parsed.dst, client);
  }
  EXPECT_EQ(rp_.stats().udp_fragmented, 2u);
}

TEST(UdpNatEcho, EchoOutboundAnswersThroughTheTaskQueue) {
  BufPool pool;
  CaptureOutput out;
  dispatch::TaskQueue tasks;
  dispatch::SingleDispatcher d(dispatch::make_echo_outbound(tasks));
  icmp::ErrorSender errors({}, pool, out);
  ReturnPath rp({}, pool, out, errors);
  UdpNat nat({}, d, rp, kT0);
  for (int i = 0; i < 10; ++i)
    nat.on_datagram(kT0, ep("198.18.0.2:5000"), ep("198.19.0.1:7"), pool.copy_of(text("ping")));
  EXPECT_TRUE(out.packets.empty());  // deferred, never re-entrant
  tasks.run_all();
  ASSERT_EQ(out.packets.size(), 10u);
  Parsed p = parse_udp(out.packets[0]);
  EXPECT_EQ(p.src, ep("198.19.0.1:7"));
  EXPECT_EQ(p.payload, "ping");
}

TEST(UdpNatReject, OpenFailureIsCounted) {
  BufPool pool;
  CaptureOutput out;
  dispatch::TaskQueue tasks;
  dispatch::SingleDispatcher d(dispatch::make_reject_outbound(tasks));
  icmp::ErrorSender errors({}, pool, out);
  ReturnPath rp({}, pool, out, errors);
  UdpNat nat({}, d, rp, kT0);
  nat.on_datagram(kT0, ep("198.18.0.2:5000"), ep("198.19.0.1:7"), pool.copy_of(text("x")));
  EXPECT_EQ(nat.stats().open_failed, 1u);
  EXPECT_EQ(nat.size(), 0u);
}

// A flood of sources against a small cap: the table stays bounded and every datagram is
// accounted for (sent = delivered to a session + counted drops).
TEST(UdpNatFlood, StaysBoundedAndCountersAddUp) {
  BufPool pool;
  CaptureOutput out;
  dispatch::TaskQueue tasks;
  dispatch::SingleDispatcher d(dispatch::make_echo_outbound(tasks, dispatch::EchoConfig{4}));
  icmp::ErrorSender errors({}, pool, out);
  ReturnPath rp({}, pool, out, errors);
  UdpNat nat(UdpNatConfig{1000, std::chrono::seconds(120), false}, d, rp, kT0);
  std::uint64_t offered = 0;
  for (int i = 0; i < 100000; ++i) {
    const auto port = static_cast<std::uint16_t>(1 + i % 50000);
    nat.on_datagram(kT0, Endpoint{addr("198.18.0.2"), Port{port}}, ep("198.19.0.1:7"), pool.copy_of(text("x")));
    ++offered;
    if (i % 64 == 0) {
      tasks.run_all();
      out.packets.clear();
    }
    ASSERT_LE(nat.size(), 1000u);
  }
  tasks.run_all();
  const auto& s = nat.stats();
  EXPECT_EQ(offered, s.tx_datagrams + s.tx_drop_queue_full + s.tx_drop_unreachable + s.tx_drop_closed + s.open_failed);
  EXPECT_EQ(s.mappings_created - s.mappings_evicted, nat.size());
  EXPECT_GT(s.mappings_evicted, 40000u);
}

}  // namespace
}  // namespace tunstack::nat
