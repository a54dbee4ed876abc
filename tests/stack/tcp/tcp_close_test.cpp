// Closing in every direction, RST handling (RFC 5961 challenge ACKs), PAWS, out-of-window
// segments, TIME-WAIT expiry and reuse.
#include "tests/stack/tcp/tcp_harness.hpp"

namespace tunstack::tcp::testing {
namespace {

using Close = TcpHarness;

TEST_F(Close, ClientClosesFirst) {
  established();
  inject(seg(TcpFlags::ACK | TcpFlags::FIN, 1), "bye");
  EXPECT_EQ(manual.session->received, "bye");
  EXPECT_EQ(manual.session->shutdowns, 1);
  EXPECT_EQ(conn()->state(), State::CloseWait);
  EXPECT_EQ(*sent_one().r.ack, client_isn + 5);
  // The remote still talks (half-close), then closes: data, then our FIN.
  manual.sink->on_data(text("late"));
  manual.sink->on_remote_fin();
  auto v = sent();
  ASSERT_FALSE(v.empty());
  std::string got;
  for (auto& s : v) got += s.payload;
  EXPECT_EQ(got, "late");
  EXPECT_TRUE(v.back().r.flags.has(TcpFlags::FIN));
  EXPECT_EQ(conn()->state(), State::LastAck);
  inject(seg(TcpFlags::ACK, 5, server_isn + 6));
  EXPECT_EQ(layer->connection_count(), 0u);  // LAST-ACK -> CLOSED, no TIME-WAIT
  EXPECT_EQ(layer->stats().closed, 1u);
}

TEST_F(Close, WeCloseFirstAndWaitInTimeWait) {
  established();
  manual.sink->on_remote_fin();
  Seg fin = sent_one();
  EXPECT_EQ(fin.r.flags, TcpFlags::ACK | TcpFlags::FIN);
  EXPECT_EQ(conn()->state(), State::FinWait1);
  inject(seg(TcpFlags::ACK, 1, server_isn + 2));
  EXPECT_EQ(conn()->state(), State::FinWait2);
  // Data still flows from the client in FIN-WAIT-2.
  inject(seg(TcpFlags::ACK, 1, server_isn + 2), "more");
  EXPECT_EQ(manual.session->received, "more");
  inject(seg(TcpFlags::ACK | TcpFlags::FIN, 5, server_isn + 2));
  EXPECT_EQ(conn()->state(), State::TimeWait);
  EXPECT_EQ(manual.session->shutdowns, 1);
  (void)sent();
  // A retransmitted FIN in TIME-WAIT is ACKed again.
  inject(seg(TcpFlags::ACK | TcpFlags::FIN, 5, server_isn + 2));
  EXPECT_EQ(*sent_one().r.ack, client_isn + 6);
  advance(std::chrono::milliseconds(1999));
  EXPECT_EQ(layer->connection_count(), 1u);
  advance(std::chrono::milliseconds(10));
  EXPECT_EQ(layer->connection_count(), 0u);
}

TEST_F(Close, SimultaneousClose) {
  established();
  manual.sink->on_remote_fin();
  (void)sent();
  // The client's FIN crosses ours (it does not ack our FIN).
  inject(seg(TcpFlags::ACK | TcpFlags::FIN, 1, server_isn + 1));
  EXPECT_EQ(conn()->state(), State::Closing);
  EXPECT_EQ(*sent_one().r.ack, client_isn + 2);
  inject(seg(TcpFlags::ACK, 2, server_isn + 2));
  EXPECT_EQ(conn()->state(), State::TimeWait);
}

TEST_F(Close, FinAndAckTogetherFromFinWait1) {
  established();
  manual.sink->on_remote_fin();
  (void)sent();
  inject(seg(TcpFlags::ACK | TcpFlags::FIN, 1, server_isn + 2));
  EXPECT_EQ(conn()->state(), State::TimeWait);
}

TEST_F(Close, OutOfOrderFinWaitsForTheData) {
  established();
  inject(seg(TcpFlags::ACK | TcpFlags::FIN, 4), "def");
  EXPECT_EQ(conn()->state(), State::Established);
  EXPECT_EQ(manual.session->shutdowns, 0);
  inject(seg(TcpFlags::ACK, 1), "abc");
  EXPECT_EQ(manual.session->received, "abcdef");
  EXPECT_EQ(manual.session->shutdowns, 1);
  EXPECT_EQ(conn()->state(), State::CloseWait);
}

TEST_F(Close, ByteInTheFinsSequenceSlotIsNotData) {
  established();
  inject(seg(TcpFlags::ACK | TcpFlags::FIN, 1), "abc");
  EXPECT_EQ(manual.session->shutdowns, 1);
  (void)sent();
  // A bogus segment whose byte sits where the FIN was: outside the window (below rcv_nxt, which
  // counts the FIN), so it must be neither stored nor delivered after shutdown_write.
  inject(seg(TcpFlags::ACK | TcpFlags::PSH, 4), "X");
  EXPECT_EQ(manual.session->received, "abc");
  EXPECT_EQ(conn()->recv_buffered(), 0u);
  EXPECT_EQ(*sent_one().r.ack, client_isn + 5);
}

TEST_F(Close, ShutdownWaitsUntilTheSessionTookEverything) {
  established();
  manual.session->limit = 2;
  inject(seg(TcpFlags::ACK | TcpFlags::FIN, 1), "abcd");
  EXPECT_EQ(manual.session->shutdowns, 0);
  manual.session->open_up(100);
  EXPECT_EQ(manual.session->received, "abcd");
  EXPECT_EQ(manual.session->shutdowns, 1);
}

TEST_F(Close, ExactRstResetsAndAbortsTheSession) {
  established();
  inject(seg(TcpFlags::RST, 1));
  EXPECT_EQ(manual.aborts, 1);
  EXPECT_EQ(layer->connection_count(), 0u);
  EXPECT_EQ(layer->stats().rst_in, 1u);
  EXPECT_TRUE(sent().empty());
}

TEST_F(Close, InWindowRstGetsChallengeAck) {
  established();
  inject(seg(TcpFlags::RST, 100));
  Seg a = sent_one();
  EXPECT_EQ(a.r.flags, TcpFlags::ACK);
  EXPECT_EQ(*a.r.ack, client_isn + 1);
  EXPECT_EQ(conn()->state(), State::Established);
  EXPECT_EQ(layer->stats().challenge_acks, 1u);
  inject(seg(TcpFlags::RST, 0x40000000));  // far outside the window: dropped silently
  EXPECT_TRUE(sent().empty());
  EXPECT_EQ(conn()->state(), State::Established);
}

TEST_F(Close, SynInEstablishedGetsChallengeAck) {
  established();
  wire::TcpRepr s = syn();
  s.seq = client_isn + 50;
  inject(s);
  Seg a = sent_one();
  EXPECT_EQ(a.r.flags, TcpFlags::ACK);
  EXPECT_EQ(conn()->state(), State::Established);
}

TEST_F(Close, RstInSynPendingClosesQuietly) {
  inject(syn());
  inject(seg(TcpFlags::RST, 1));
  EXPECT_EQ(layer->connection_count(), 0u);
  EXPECT_EQ(layer->stats().rst_in, 1u);
}

TEST_F(Close, RemoteResetSendsRst) {
  established();
  manual.sink->on_reset();
  Seg r = sent_one();
  EXPECT_TRUE(r.r.flags.has(TcpFlags::RST));
  EXPECT_EQ(r.r.seq, server_isn + 1);
  advance(std::chrono::milliseconds(1));
  EXPECT_EQ(layer->connection_count(), 0u);
}

TEST_F(Close, PawsDropsOldTimestamps) {
  established();
  tsval = 50;  // older than ts_recent (100)
  inject(seg(TcpFlags::ACK, 1), "stale");
  EXPECT_EQ(manual.session->received, "");
  EXPECT_EQ(layer->stats().drops[static_cast<int>(DropReason::Paws)], 1u);
  EXPECT_EQ(sent_one().r.flags, TcpFlags::ACK);
  tsval = 200;
  inject(seg(TcpFlags::ACK, 1), "fresh");
  EXPECT_EQ(manual.session->received, "fresh");
}

TEST_F(Close, ReorderedDuplicateAckIsNotAPawsDrop) {
  established();
  const std::string data(3000, 'r');
  manual.sink->on_data({reinterpret_cast<const std::byte*>(data.data()), data.size()});
  (void)sent();
  const SeqNum una = conn()->snd_una();
  tsval = 200;
  inject(seg(TcpFlags::ACK, 1, una));  // a duplicate ACK: updates ts_recent to 200
  tsval = 190;                          // ... overtaken by it on the path: older timestamp
  inject(seg(TcpFlags::ACK, 1, una));
  EXPECT_EQ(layer->stats().drops[static_cast<int>(DropReason::Paws)], 0u);
  EXPECT_EQ(layer->stats().dup_acks_in, 2u);
  // Old timestamps on anything else are still PAWS drops.
  inject(seg(TcpFlags::ACK, 1, una + 1000));  // acknowledges new data
  EXPECT_EQ(layer->stats().drops[static_cast<int>(DropReason::Paws)], 1u);
}

TEST_F(Close, OutOfWindowDataIsAckedNotDelivered) {
  established();
  inject(seg(TcpFlags::ACK, 0x20000000), "far");
  EXPECT_EQ(manual.session->received, "");
  EXPECT_EQ(*sent_one().r.ack, client_isn + 1);
  EXPECT_EQ(layer->stats().drops[static_cast<int>(DropReason::OutOfWindow)], 1u);
}

TEST_F(Close, AckForUnsentDataIsRefused) {
  established();
  inject(seg(TcpFlags::ACK, 1, server_isn + 1000), "x");
  EXPECT_EQ(manual.session->received, "");
  EXPECT_EQ(sent_one().r.flags, TcpFlags::ACK);
  EXPECT_EQ(layer->stats().drops[static_cast<int>(DropReason::BadAck)], 1u);
}

TEST_F(Close, NewSynReusesTimeWait) {
  established();
  manual.sink->on_remote_fin();
  inject(seg(TcpFlags::ACK | TcpFlags::FIN, 1, server_isn + 2));
  ASSERT_EQ(conn()->state(), State::TimeWait);
  (void)sent();
  // An old-incarnation SYN (same timestamp) is not a new connection: challenge ACK.
  inject(syn());
  EXPECT_EQ(conn()->state(), State::TimeWait);
  (void)sent();
  tsval = 5000;
  client_isn = client_isn + 100000;
  inject(syn());
  EXPECT_EQ(layer->stats().time_wait_reused, 1u);
  ASSERT_NE(conn(), nullptr);
  EXPECT_EQ(conn()->state(), State::SynPending);
  manual.sink->on_connected();
  EXPECT_EQ(sent_one().r.flags, TcpFlags::SYN | TcpFlags::ACK);
}

TEST_F(Close, KeepaliveProbesThenGivesUp) {
  TcpConfig c;
  c.keepalive_idle = std::chrono::seconds(10);
  c.keepalive_interval = std::chrono::seconds(1);
  c.keepalive_probes = 2;
  reset(c);
  established();
  advance(std::chrono::seconds(10));
  Seg k = sent_one();
  EXPECT_EQ(k.r.seq, server_isn);  // SND.NXT - 1
  advance(std::chrono::seconds(1));
  EXPECT_EQ(sent().size(), 1u);
  advance(std::chrono::seconds(1));
  EXPECT_TRUE(sent_one().r.flags.has(TcpFlags::RST));
  EXPECT_EQ(layer->connection_count(), 0u);
}

}  // namespace
}  // namespace tunstack::tcp::testing
