// Limits over time: the user timeout (RFC 5482 / TCP_USER_TIMEOUT) on retransmissions, window
// probes and keepalive; the RFC 5961 §7 challenge-ACK budget; connections past their handshake
// whose outbound never connects; connections whose session lags behind the client's last bytes.
#include "tests/stack/tcp/tcp_harness.hpp"

namespace tunstack::tcp::testing {
namespace {

using Timeouts = TcpHarness;

TcpConfig user_timeout_config(Duration ut) {
  TcpConfig c;
  c.user_timeout = ut;
  c.max_retries = 100;  // would keep retrying for hours
  return c;
}

TEST_F(Timeouts, UserTimeoutAbortsUnacknowledgedData) {
  reset(user_timeout_config(3s));
  established();
  manual.sink->on_data(text("x"));
  (void)sent();
  advance(2990ms);
  ASSERT_NE(conn(), nullptr);
  EXPECT_GE(layer->stats().retransmits, 3u);
  advance(20ms);
  EXPECT_EQ(conn(), nullptr);
  auto v = sent();
  ASSERT_FALSE(v.empty());
  EXPECT_TRUE(v.back().r.flags.has(TcpFlags::RST));
  EXPECT_EQ(layer->stats().user_timeouts, 1u);
  EXPECT_EQ(layer->stats().rst_out[static_cast<int>(RstReason::Timeout)], 1u);
  EXPECT_EQ(manual.aborts, 1);
}

TEST_F(Timeouts, UserTimeoutCountsFromTheLastProgress) {
  reset(user_timeout_config(3s));
  established();
  manual.sink->on_data(text("a"));
  advance(2s);
  inject(seg(TcpFlags::ACK, 1, server_isn + 2));  // "a" acknowledged at last
  manual.sink->on_data(text("b"));
  advance(2500ms);  // 4.5 s since the first send, 2.5 s since progress
  ASSERT_NE(conn(), nullptr);
  advance(1s);
  EXPECT_EQ(conn(), nullptr);
  EXPECT_EQ(layer->stats().user_timeouts, 1u);
}

TEST_F(Timeouts, UserTimeoutEndsZeroWindowProbing) {
  reset(user_timeout_config(5s));
  use_ws = false;
  established();
  inject(seg(TcpFlags::ACK, 1, server_isn + 1, 0));
  manual.sink->on_data(text("blocked"));
  std::optional<Instant> first_probe;
  Instant died{};
  for (int i = 0; i < 200 && conn() != nullptr; ++i) {
    advance(100ms);
    for (const Seg& s : sent()) {
      if (s.r.flags.has(TcpFlags::RST)) died = now;
      if (s.payload.size() == 1) {
        if (!first_probe) first_probe = now;
        inject(seg(TcpFlags::ACK, 1, server_isn + 1, 0));  // still no room
      }
    }
  }
  ASSERT_TRUE(first_probe.has_value());
  EXPECT_EQ(conn(), nullptr);
  EXPECT_GE(died - *first_probe, 5s);
  EXPECT_LE(died - *first_probe, 5100ms);
  EXPECT_GE(layer->stats().persist_probes, 3u);
  EXPECT_EQ(layer->stats().user_timeouts, 1u);
}

TEST_F(Timeouts, UserTimeoutBoundsKeepaliveSilence) {
  TcpConfig c = user_timeout_config(3s);
  c.keepalive_idle = 10s;
  c.keepalive_interval = 1s;
  c.keepalive_probes = 100;
  reset(c);
  established();
  advance(10s);
  EXPECT_EQ(sent().size(), 1u);  // the first probe
  advance(1s);                   // 11 s of silence > 3 s: give up at the next probe time
  EXPECT_EQ(conn(), nullptr);
  EXPECT_EQ(layer->stats().user_timeouts, 1u);
}

TEST_F(Timeouts, ChallengeAcksShareALayerWideBudget) {
  TcpConfig c;
  c.challenge_ack_limit = 3;
  reset(c);
  established();
  for (int i = 0; i < 10; ++i) inject(seg(TcpFlags::RST, 100 + static_cast<std::uint32_t>(i)));
  EXPECT_EQ(sent().size(), 3u);
  EXPECT_EQ(layer->stats().challenge_acks, 3u);
  EXPECT_EQ(layer->stats().challenge_acks_suppressed, 7u);
  EXPECT_EQ(conn()->state(), State::Established);
  // Half a second refills one and a half tokens.
  advance(500ms);
  inject(seg(TcpFlags::RST, 200));
  inject(seg(TcpFlags::RST, 201));
  EXPECT_EQ(sent().size(), 1u);
  // A SYN's challenge ACK draws from the same budget; a full second refills it completely.
  advance(2s);
  wire::TcpRepr s = syn();
  s.seq = client_isn + 50;
  for (int i = 0; i < 5; ++i) inject(s);
  EXPECT_EQ(sent().size(), 3u);
  EXPECT_EQ(layer->stats().challenge_acks_suppressed, 7u + 1u + 2u);
}

TEST_F(Timeouts, ZeroChallengeAckLimitMeansUnlimited) {
  TcpConfig c;
  c.challenge_ack_limit = 0;
  reset(c);
  established();
  for (int i = 0; i < 2000; ++i) inject(seg(TcpFlags::RST, 100));
  EXPECT_EQ(sent().size(), 2000u);
  EXPECT_EQ(layer->stats().challenge_acks_suppressed, 0u);
}

TEST_F(Timeouts, ImmediateSynAckStillTimesOutTheOutbound) {
  TcpConfig c;
  c.immediate_synack = true;
  reset(c);
  inject(syn());
  (void)sent();
  inject(seg(TcpFlags::ACK, 1));
  ASSERT_EQ(conn()->state(), State::Established);
  advance(29s);
  ASSERT_NE(conn(), nullptr);
  advance(2s);  // connect_timeout: the outbound never answered
  EXPECT_EQ(conn(), nullptr);
  auto v = sent();
  ASSERT_FALSE(v.empty());
  EXPECT_TRUE(v.back().r.flags.has(TcpFlags::RST));
  EXPECT_EQ(manual.aborts, 1);
}

TEST_F(Timeouts, ConnectedOutboundCancelsTheConnectTimeout) {
  TcpConfig c;
  c.immediate_synack = true;
  reset(c);
  inject(syn());
  (void)sent();
  inject(seg(TcpFlags::ACK, 1));
  ASSERT_EQ(conn()->state(), State::Established);
  manual.sink->on_connected();
  advance(60s);
  ASSERT_NE(conn(), nullptr);
  EXPECT_EQ(conn()->state(), State::Established);
}

TEST_F(Timeouts, LastAckLingersUntilTheSessionTookTheClientsBytes) {
  established();
  manual.session->limit = 0;
  inject(seg(TcpFlags::ACK | TcpFlags::FIN, 1), "abc");
  EXPECT_EQ(conn()->state(), State::CloseWait);
  manual.sink->on_remote_fin();
  (void)sent();
  inject(seg(TcpFlags::ACK, 5, server_isn + 2));  // our FIN acknowledged
  ASSERT_NE(conn(), nullptr);                      // not dropped with "abc" inside
  EXPECT_EQ(conn()->state(), State::TimeWait);
  manual.session->open_up(100);
  EXPECT_EQ(manual.session->received, "abc");
  EXPECT_EQ(manual.session->shutdowns, 1);
  advance(3s);
  EXPECT_EQ(conn(), nullptr);
  EXPECT_EQ(manual.aborts, 0);
}

TEST_F(Timeouts, SessionThatNeverDrainsIsAbortedNotSilentlyDropped) {
  established();
  manual.session->limit = 0;
  inject(seg(TcpFlags::ACK | TcpFlags::FIN, 1), "abc");
  manual.sink->on_remote_fin();
  inject(seg(TcpFlags::ACK, 5, server_isn + 2));
  advance(30s);
  ASSERT_NE(conn(), nullptr);  // still hoping the session takes the bytes
  advance(40s);
  EXPECT_EQ(conn(), nullptr);
  EXPECT_EQ(manual.aborts, 1);
}

}  // namespace
}  // namespace tunstack::tcp::testing
