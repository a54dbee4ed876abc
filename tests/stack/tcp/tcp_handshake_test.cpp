// Passive open: option negotiation, the SYN-ACK deferred until the outbound connects, refusal
// (RST) and failure (ICMP), RST for segments to no connection, the half-open cap.
#include "dispatch/builtin.hpp"
#include "tests/stack/tcp/tcp_harness.hpp"

namespace tunstack::tcp::testing {
namespace {

using Handshake = TcpHarness;

TEST_F(Handshake, SynAckWaitsForTheOutboundAndNegotiatesEveryOption) {
  inject(syn());
  EXPECT_TRUE(sent().empty());  // nothing until the outbound is connected
  ASSERT_EQ(manual.flows.size(), 1u);
  EXPECT_EQ(manual.flows[0].proto, dispatch::Proto::Tcp);
  EXPECT_EQ(manual.flows[0].src, client);
  EXPECT_EQ(manual.flows[0].dst, server);
  EXPECT_EQ(conn()->state(), State::SynPending);
  EXPECT_EQ(layer->stats().half_open, 1u);

  manual.sink->on_connected();
  Seg sa = sent_one();
  EXPECT_EQ(sa.src, server.addr);
  EXPECT_EQ(sa.dst, client.addr);
  EXPECT_EQ(sa.r.flags, TcpFlags::SYN | TcpFlags::ACK);
  EXPECT_EQ(*sa.r.ack, client_isn + 1);
  EXPECT_EQ(sa.r.options.mss, std::optional<std::uint16_t>(1460));  // 1500 - 20 - 20
  ASSERT_TRUE(sa.r.options.wscale.has_value());
  EXPECT_GT(*sa.r.options.wscale, 0);  // the 4 MiB auto-tuning ceiling needs scaling
  EXPECT_TRUE(sa.r.options.sack_permitted);
  ASSERT_TRUE(sa.r.options.timestamps.has_value());
  EXPECT_EQ(sa.r.options.timestamps->tsecr, tsval);
  EXPECT_EQ(sa.r.window, 0xffff);  // unscaled in the SYN (RFC 7323 §2.2)

  inject(seg(TcpFlags::ACK, 1));
  EXPECT_EQ(conn()->state(), State::Established);
  EXPECT_EQ(layer->stats().half_open, 0u);
  EXPECT_EQ(layer->stats().established, 1u);
  EXPECT_TRUE(sent().empty());
}

TEST_F(Handshake, WithoutOptionsOnlyMssIsSent) {
  use_ts = use_ws = use_sack = false;
  inject(syn());
  manual.sink->on_connected();
  Seg sa = sent_one();
  EXPECT_TRUE(sa.r.options.mss.has_value());
  EXPECT_FALSE(sa.r.options.wscale.has_value());
  EXPECT_FALSE(sa.r.options.sack_permitted);
  EXPECT_FALSE(sa.r.options.timestamps.has_value());
}

TEST_F(Handshake, ImmediateSynAckWhenConfigured) {
  TcpConfig c;
  c.immediate_synack = true;
  reset(c);
  inject(syn());
  Seg sa = sent_one();
  EXPECT_EQ(sa.r.flags, TcpFlags::SYN | TcpFlags::ACK);
  inject(seg(TcpFlags::ACK, 1));
  EXPECT_EQ(conn()->state(), State::Established);
  // Client data before the outbound connects is held, then delivered.
  inject(seg(TcpFlags::ACK | TcpFlags::PSH, 1), "early");
  EXPECT_EQ(manual.session->received, "");
  manual.sink->on_connected();
  EXPECT_EQ(manual.session->received, "early");
}

TEST_F(Handshake, RefusedOutboundResetsTheClient) {
  auto reject = dispatch::make_reject_outbound(tasks);
  dispatcher.target = reject.get();
  inject(syn());  // the reject outbound fails from the task queue, which inject() drains
  Seg rst = sent_one();
  EXPECT_EQ(rst.r.flags, TcpFlags::RST | TcpFlags::ACK);
  EXPECT_EQ(rst.r.seq, SeqNum{0});
  EXPECT_EQ(*rst.r.ack, client_isn + 1);
  advance(std::chrono::milliseconds(1));
  EXPECT_EQ(layer->connection_count(), 0u);
  EXPECT_EQ(layer->stats().rst_out[static_cast<int>(RstReason::Refused)], 1u);
  EXPECT_EQ(layer->stats().half_open, 0u);
}

TEST_F(Handshake, UnreachableOutboundSendsIcmp) {
  inject(syn());
  manual.sink->on_connect_failed(false, dispatch::RemoteError{dispatch::RemoteError::Kind::HostUnreachable,
                                                              server, server.addr, 0});
  auto v = sent();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_FALSE(v[0].is_tcp);
  EXPECT_EQ(v[0].dst, client.addr);
  EXPECT_EQ(errors.stats().sent, 1u);
  advance(std::chrono::milliseconds(1));
  EXPECT_EQ(layer->connection_count(), 0u);
}

TEST_F(Handshake, SilentOutboundTimesOutWithIcmpNotRst) {
  inject(syn());
  advance(layer->config().connect_timeout - std::chrono::milliseconds(1));
  EXPECT_TRUE(sent().empty());  // nothing while the outbound may still connect
  advance(std::chrono::milliseconds(2));
  auto v = sent();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_FALSE(v[0].is_tcp);  // ICMP unreachable about the SYN, not a RST
  EXPECT_EQ(v[0].dst, client.addr);
  EXPECT_EQ(errors.stats().sent, 1u);
  EXPECT_EQ(layer->connection_count(), 0u);
  EXPECT_EQ(manual.aborts, 1);  // the outbound connect is abandoned
}

TEST_F(Handshake, RetransmittedSynGetsTheSameSynAck) {
  inject(syn());
  manual.sink->on_connected();
  Seg a = sent_one();
  inject(syn());
  Seg b = sent_one();
  EXPECT_EQ(a.r.seq, b.r.seq);
  EXPECT_EQ(layer->connection_count(), 1u);
}

TEST_F(Handshake, SynAckIsRetransmittedWithBackoff) {
  inject(syn());
  manual.sink->on_connected();
  (void)sent();
  advance(std::chrono::milliseconds(999));
  EXPECT_TRUE(sent().empty());
  advance(std::chrono::milliseconds(2));
  EXPECT_EQ(sent_one().r.flags, TcpFlags::SYN | TcpFlags::ACK);
  advance(std::chrono::milliseconds(1990));
  EXPECT_TRUE(sent().empty());
  advance(std::chrono::milliseconds(20));
  EXPECT_EQ(sent().size(), 1u);
}

TEST_F(Handshake, BadAckInSynReceivedGetsRst) {
  inject(syn());
  manual.sink->on_connected();
  Seg sa = sent_one();
  inject(seg(TcpFlags::ACK, 1, sa.r.seq + 100));
  Seg rst = sent_one();
  EXPECT_EQ(rst.r.flags, TcpFlags::RST);
  EXPECT_EQ(rst.r.seq, sa.r.seq + 100);
  EXPECT_EQ(conn()->state(), State::SynReceived);
}

TEST_F(Handshake, SegmentForNoConnectionGetsRst) {
  inject(seg(TcpFlags::ACK, 5, SeqNum{777}));
  Seg r1 = sent_one();
  EXPECT_EQ(r1.r.flags, TcpFlags::RST);
  EXPECT_EQ(r1.r.seq, SeqNum{777});
  inject(seg(TcpFlags::FIN, 5));
  Seg r2 = sent_one();
  EXPECT_EQ(r2.r.flags, TcpFlags::RST | TcpFlags::ACK);
  EXPECT_EQ(*r2.r.ack, client_isn + 6);
  inject(seg(TcpFlags::RST, 5));
  EXPECT_TRUE(sent().empty());  // never a RST for a RST
  EXPECT_EQ(layer->connection_count(), 0u);
}

TEST_F(Handshake, HalfOpenCapDropsAndCountsWithoutSynCookies) {
  TcpConfig c;
  c.max_half_open = 2;
  c.syn_cookies = false;
  reset(c);
  for (std::uint16_t p = 1; p <= 3; ++p) {
    wire::TcpRepr s = syn();
    s.src_port = Port{p};
    inject(s, {}, Endpoint{client.addr, Port{p}});
  }
  EXPECT_EQ(layer->connection_count(), 2u);
  EXPECT_EQ(layer->stats().drops[static_cast<int>(DropReason::HalfOpenFull)], 1u);
}

TEST_F(Handshake, ConnectTimeoutGivesUp) {
  inject(syn());
  advance(std::chrono::seconds(31));
  EXPECT_EQ(layer->connection_count(), 0u);
  EXPECT_EQ(layer->stats().rst_out[static_cast<int>(RstReason::Timeout)], 1u);
}

TEST_F(Handshake, Ipv6EndToEnd) {
  client = ep("[fd00::2]:40000");
  server = ep("[2001:db8::1]:443");
  established();
  inject(seg(TcpFlags::ACK | TcpFlags::PSH, 1), "hello6");
  EXPECT_EQ(manual.session->received, "hello6");
  manual.sink->on_data(text("back6"));
  auto v = sent();
  ASSERT_FALSE(v.empty());
  EXPECT_EQ(v.back().payload, "back6");
  EXPECT_EQ(v.back().dst, client.addr);
}

}  // namespace
}  // namespace tunstack::tcp::testing
