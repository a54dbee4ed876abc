// Data both ways: in-order and out-of-order client data with SACK/D-SACK, delayed and quick ACKs,
// back-pressure on both sides, segmentation by MSS and window, zero window and persist probes,
// RTO with backoff and fast retransmit.
#include "tests/stack/tcp/tcp_harness.hpp"

namespace tunstack::tcp::testing {
namespace {

using Data = TcpHarness;

TEST_F(Data, InOrderDataReachesTheSessionAndIsAcked) {
  established();
  inject(seg(TcpFlags::ACK | TcpFlags::PSH, 1), "hello ");
  inject(seg(TcpFlags::ACK | TcpFlags::PSH, 7), "world");
  EXPECT_EQ(manual.session->received, "hello world");
  auto v = sent();
  ASSERT_FALSE(v.empty());  // quick-ACK mode at the start of the connection
  EXPECT_EQ(*v.back().r.ack, client_isn + 12);
  EXPECT_EQ(layer->stats().bytes_in, 11u);
}

TEST_F(Data, DelayedAckAfterQuickAckPhase) {
  TcpConfig c;
  c.quickack_segments = 0;
  reset(c);
  established();
  inject(seg(TcpFlags::ACK, 1), "a");
  EXPECT_TRUE(sent().empty());
  advance(std::chrono::milliseconds(39));
  EXPECT_TRUE(sent().empty());
  advance(std::chrono::milliseconds(2));
  EXPECT_EQ(*sent_one().r.ack, client_isn + 2);
  // Two segments: ACK at once (RFC 5681 §4.2).
  inject(seg(TcpFlags::ACK, 2), "b");
  inject(seg(TcpFlags::ACK, 3), "c");
  EXPECT_EQ(*sent_one().r.ack, client_isn + 4);
}

TEST_F(Data, OutOfOrderDataIsSackedAndReassembled) {
  established();
  inject(seg(TcpFlags::ACK, 11), "KLMNO");  // bytes 10..14; 0..9 missing
  Seg a1 = sent_one();
  EXPECT_EQ(*a1.r.ack, client_isn + 1);
  ASSERT_EQ(a1.r.options.sack_count, 1);
  EXPECT_EQ(a1.r.options.sack[0], (wire::SackBlock{client_isn + 11, client_isn + 16}));
  inject(seg(TcpFlags::ACK, 21), "UV");  // second island, most recent first
  Seg a2 = sent_one();
  ASSERT_EQ(a2.r.options.sack_count, 2);
  EXPECT_EQ(a2.r.options.sack[0], (wire::SackBlock{client_isn + 21, client_isn + 23}));
  EXPECT_EQ(a2.r.options.sack[1], (wire::SackBlock{client_isn + 11, client_isn + 16}));
  EXPECT_EQ(manual.session->received, "");
  inject(seg(TcpFlags::ACK, 1), "ABCDEFGHIJ");  // fills the first hole
  Seg a3 = sent_one();
  EXPECT_EQ(*a3.r.ack, client_isn + 16);
  ASSERT_EQ(a3.r.options.sack_count, 1);
  EXPECT_EQ(a3.r.options.sack[0], (wire::SackBlock{client_isn + 21, client_isn + 23}));
  EXPECT_EQ(manual.session->received, "ABCDEFGHIJKLMNO");
  inject(seg(TcpFlags::ACK, 16), "PQRST");
  EXPECT_EQ(*sent_one().r.ack, client_isn + 23);
  EXPECT_EQ(manual.session->received, "ABCDEFGHIJKLMNOPQRSTUV");
}

TEST_F(Data, DuplicateSegmentGetsDsack) {
  established();
  inject(seg(TcpFlags::ACK, 1), "0123456789");
  (void)sent();
  inject(seg(TcpFlags::ACK, 1), "0123456789");  // a spurious retransmission
  Seg a = sent_one();
  EXPECT_EQ(*a.r.ack, client_isn + 11);
  ASSERT_GE(a.r.options.sack_count, 1);
  EXPECT_EQ(a.r.options.sack[0], (wire::SackBlock{client_isn + 1, client_isn + 11}));  // RFC 2883
  EXPECT_EQ(manual.session->received, "0123456789");
}

TEST_F(Data, OverlappingRetransmissionDeliversOnlyNewBytes) {
  established();
  inject(seg(TcpFlags::ACK, 1), "abcd");
  inject(seg(TcpFlags::ACK, 3), "cdef");
  EXPECT_EQ(manual.session->received, "abcdef");
}

TEST_F(Data, SessionBackPressureShrinksTheWindowAndResumes) {
  TcpConfig c;
  c.rcv_buf = 8192;
  c.min_buf = 4096;
  reset(c);
  use_ws = false;
  established();
  manual.session->limit = 0;  // the remote stops reading
  const std::string chunk(1000, 'x');
  for (std::uint32_t i = 0; i < 4; ++i) inject(seg(TcpFlags::ACK, 1 + i * 1000), chunk);
  auto v = sent();
  ASSERT_FALSE(v.empty());
  EXPECT_EQ(v.back().r.window, 8192 - 4000);
  EXPECT_EQ(conn()->recv_buffered(), 4000u);
  // Fill the rest: the window closes.
  for (std::uint32_t i = 4; i < 8; ++i) inject(seg(TcpFlags::ACK, 1 + i * 1000), chunk);
  inject(seg(TcpFlags::ACK, 8001), std::string(192, 'y'));
  v = sent();
  ASSERT_FALSE(v.empty());
  EXPECT_EQ(v.back().r.window, 0);
  // Beyond the window: not accepted, just ACKed.
  inject(seg(TcpFlags::ACK, 8193), "z");
  EXPECT_EQ(sent_one().r.window, 0);
  // The session drains: a window update goes out.
  manual.session->open_up(~std::size_t{0});
  EXPECT_EQ(manual.session->received.size(), 8192u);
  Seg upd = sent_one();
  EXPECT_EQ(upd.r.window, 8192);
  EXPECT_EQ(*upd.r.ack, client_isn + 8193);
}

TEST_F(Data, RemoteDataIsSegmentedByMssAndWindow) {
  use_ws = false;
  established();
  // Client window 0xffff; MSS 1460 minus 12 bytes of timestamps.
  const std::string blob(5000, 'r');
  EXPECT_EQ(manual.sink->on_data(text(blob)), 5000u);
  auto v = sent();
  ASSERT_EQ(v.size(), 4u);
  std::string got;
  for (auto& s : v) {
    EXPECT_LE(s.payload.size(), 1448u);
    got += s.payload;
  }
  EXPECT_EQ(got, blob);
  EXPECT_EQ(v[0].r.seq, server_isn + 1);
  EXPECT_TRUE(v.back().r.flags.has(TcpFlags::PSH));
  inject(seg(TcpFlags::ACK, 1, server_isn + 5001));
  EXPECT_EQ(conn()->send_buffered(), 0u);
  EXPECT_EQ(conn()->snd_una(), server_isn + 5001);
}

TEST_F(Data, SendBufferIsBoundedAndReadingResumes) {
  TcpConfig c;
  c.snd_buf = 8192;
  c.min_buf = 4096;
  reset(c);
  established();
  const std::string blob(10000, 'q');
  EXPECT_EQ(manual.sink->on_data(text(blob)), 8192u);
  (void)sent();
  EXPECT_EQ(manual.session->resumes, 0);
  inject(seg(TcpFlags::ACK, 1, server_isn + 1 + 4000));
  EXPECT_EQ(manual.session->resumes, 1);
}

TEST_F(Data, ZeroWindowThenPersistProbe) {
  use_ws = false;
  established();
  inject(seg(TcpFlags::ACK, 1, server_isn + 1, 0));  // the client closes its window
  EXPECT_EQ(conn()->snd_wnd(), 0u);
  EXPECT_EQ(manual.sink->on_data(text("blocked")), 7u);
  EXPECT_TRUE(sent().empty());
  const Duration rto = conn()->rto();
  advance(rto - std::chrono::milliseconds(2));
  EXPECT_TRUE(sent().empty());
  advance(std::chrono::milliseconds(4));
  Seg probe = sent_one();
  EXPECT_EQ(probe.payload, "b");
  EXPECT_EQ(probe.r.seq, server_isn + 1);
  EXPECT_EQ(layer->stats().persist_probes, 1u);
  // Still closed: the next probe backs off (twice the interval).
  inject(seg(TcpFlags::ACK, 1, server_isn + 1, 0));
  advance(2 * rto - std::chrono::milliseconds(10));
  EXPECT_TRUE(sent().empty());
  advance(std::chrono::milliseconds(20));
  EXPECT_EQ(sent().size(), 1u);
  EXPECT_EQ(layer->stats().persist_probes, 2u);
  // The window opens: everything flows.
  inject(seg(TcpFlags::ACK, 1, server_isn + 1, 1000));
  Seg data = sent_one();
  EXPECT_EQ(data.payload, "blocked");
  EXPECT_EQ(data.r.seq, server_isn + 1);
}

TEST_F(Data, RtoRetransmitsWithExponentialBackoff) {
  established();
  manual.sink->on_data(text("lost"));
  Seg first = sent_one();
  const Duration rto = conn()->rto();
  EXPECT_GE(rto, std::chrono::milliseconds(200));
  advance(rto - std::chrono::milliseconds(1));
  EXPECT_TRUE(sent().empty());
  // One segment in flight: the tail loss probe (PTO = 2 SRTT + the worst delayed ACK) would
  // come after the RTO, so it takes the RTO's place (RFC 8985 §7.2, as Linux) and re-arms it.
  advance(std::chrono::milliseconds(2));
  Seg probe = sent_one();
  EXPECT_EQ(probe.r.seq, first.r.seq);
  EXPECT_EQ(probe.payload, "lost");
  EXPECT_EQ(layer->stats().tlp_probes, 1u);
  EXPECT_EQ(layer->stats().rto_expired, 0u);
  // Then the RTO proper, one RTO after the probe, and its backoff.
  advance(rto - std::chrono::milliseconds(5));
  EXPECT_TRUE(sent().empty());
  advance(std::chrono::milliseconds(10));
  Seg r1 = sent_one();
  EXPECT_EQ(r1.r.seq, first.r.seq);
  EXPECT_EQ(r1.payload, "lost");
  EXPECT_EQ(layer->stats().rto_expired, 1u);
  advance(2 * rto - std::chrono::milliseconds(10));
  EXPECT_TRUE(sent().empty());
  advance(std::chrono::milliseconds(20));
  EXPECT_EQ(sent().size(), 1u);
  EXPECT_EQ(layer->stats().rto_expired, 2u);
  EXPECT_EQ(conn()->cwnd(), 1448u);  // one segment after a timeout (RFC 5681 §3.1)
  inject(seg(TcpFlags::ACK, 1, server_isn + 5));
  EXPECT_EQ(conn()->send_buffered(), 0u);
}

TEST_F(Data, GivesUpAfterMaxRetries) {
  TcpConfig c;
  c.max_retries = 2;
  reset(c);
  established();
  manual.sink->on_data(text("void"));
  ManualSession* s = manual.session;
  (void)sent();
  const Duration rto = conn()->rto();
  // The probe at one RTO (in the RTO's place), then RTOs at 2 and 4 RTOs: two retries.
  advance(rto + rto + 2 * rto + std::chrono::milliseconds(5));
  EXPECT_EQ(sent().size(), 3u);
  EXPECT_EQ(layer->stats().tlp_probes, 1u);
  EXPECT_EQ(s->aborts, 0);
  EXPECT_EQ(layer->connection_count(), 1u);
  advance(4 * rto);  // the third expiry gives up: RST and abort
  Seg rst = sent_one();
  EXPECT_TRUE(rst.r.flags.has(TcpFlags::RST));
  EXPECT_EQ(layer->connection_count(), 0u);
  EXPECT_EQ(layer->stats().rst_out[static_cast<int>(RstReason::Timeout)], 1u);
}

TEST_F(Data, ThreeDupAcksTriggerFastRetransmit) {
  use_ws = false;
  established();
  const std::string blob(5 * 1448, 'f');
  manual.sink->on_data(text(blob));
  auto v = sent();
  ASSERT_EQ(v.size(), 5u);
  // Segment 0 is lost; the client ACKs snd_una three times (with SACK blocks it would add).
  for (int i = 0; i < 2; ++i) inject(seg(TcpFlags::ACK, 1, server_isn + 1));
  EXPECT_TRUE(sent().empty());
  inject(seg(TcpFlags::ACK, 1, server_isn + 1));
  Seg rexmit = sent_one();
  EXPECT_EQ(rexmit.r.seq, server_isn + 1);
  EXPECT_EQ(rexmit.payload.size(), 1448u);
  EXPECT_EQ(layer->stats().fast_retransmits, 1u);
  EXPECT_LT(conn()->cwnd(), 10u * 1448u);
  // Full ACK ends recovery: cwnd = ssthresh.
  inject(seg(TcpFlags::ACK, 1, server_isn + 1 + 5 * 1448));
  EXPECT_EQ(conn()->cwnd(), conn()->ssthresh());
}

TEST_F(Data, PartialAckRetransmitsTheNextHole) {
  use_ws = false;
  established();
  manual.sink->on_data(text(std::string(5 * 1448, 'p')));
  (void)sent();
  for (int i = 0; i < 3; ++i) inject(seg(TcpFlags::ACK, 1, server_isn + 1));
  (void)sent();
  inject(seg(TcpFlags::ACK, 1, server_isn + 1 + 2 * 1448));  // partial ACK (RFC 6582)
  auto v = sent();
  ASSERT_FALSE(v.empty());
  EXPECT_EQ(v[0].r.seq, server_isn + 1 + 2 * 1448);
}

}  // namespace
}  // namespace tunstack::tcp::testing
