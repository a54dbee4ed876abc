// SYN cookies (RFC 4987 §3.6) when the half-open table is full: the stateless SYN-ACK, the
// options it can carry (timestamps bits), the connection rebuilt from the client's ACK, data
// before the outbound connects, refusal after the fact, and cookies that must not validate.
// Also the SipHash-2-4 known answer the cookie MAC rests on.
#include "dispatch/builtin.hpp"
#include "stack/tcp/syncookie.hpp"
#include "tests/stack/tcp/tcp_harness.hpp"

namespace tunstack::tcp::testing {
namespace {

TEST(SipHash, ReferenceVectors) {
  // The SipHash paper's vectors: key 00..0f, message 00..(n-1).
  std::array<std::byte, 64> msg{};
  for (std::size_t i = 0; i < msg.size(); ++i) msg[i] = static_cast<std::byte>(i);
  const SipKey key{0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
  EXPECT_EQ(siphash24(key, Bytes{msg.data(), 0}), 0x726fdb47dd0e0e31ULL);
  EXPECT_EQ(siphash24(key, Bytes{msg.data(), 1}), 0x74f839c593dc67fdULL);
  EXPECT_EQ(siphash24(key, Bytes{msg.data(), 15}), 0xa129ca6149be45e5ULL);
}

TEST(SynCookieCodec, RoundTripsAndRejects) {
  SynCookies c(42);
  const Endpoint a = ep("10.0.0.2:40000"), b = ep("192.0.2.1:80");
  const Instant t0 = instant_from_ns(7'000'000'000);
  for (std::uint8_t i = 0; i < 4; ++i) {
    const SeqNum cookie = c.make(a, b, SeqNum{1234}, i, t0);
    EXPECT_EQ(c.check(a, b, SeqNum{1234}, cookie, t0), std::optional<std::uint8_t>(i));
    EXPECT_EQ(c.check(a, b, SeqNum{1234}, cookie, t0 + 64s), std::optional<std::uint8_t>(i));  // previous slot
    EXPECT_FALSE(c.check(a, b, SeqNum{1234}, cookie, t0 + 128s));                            // too old
    EXPECT_FALSE(c.check(a, b, SeqNum{1235}, cookie, t0));      // another client ISN
    EXPECT_FALSE(c.check(a, ep("192.0.2.1:81"), SeqNum{1234}, cookie, t0));  // another 4-tuple
    EXPECT_FALSE(c.check(a, b, SeqNum{1234}, cookie + 1, t0));
    EXPECT_FALSE(SynCookies(43).check(a, b, SeqNum{1234}, cookie, t0));  // another secret
  }
  EXPECT_EQ(SynCookies::mss_index(IpVersion::V4, 1460), 3);
  EXPECT_EQ(SynCookies::mss_index(IpVersion::V4, 1400), 1);
  EXPECT_EQ(SynCookies::mss_index(IpVersion::V4, 100), 0);
  EXPECT_EQ(SynCookies::mss_of(IpVersion::V6, SynCookies::mss_index(IpVersion::V6, 9000)), 8940);
  // TSval: never ahead of the clock, the low 6 bits carry the options.
  SynCookies::TsBits bits;
  bits.wscale = 9;
  bits.sack = true;
  const std::uint32_t ts = SynCookies::encode_ts(100000, bits);
  EXPECT_LE(ts, 100000u);
  EXPECT_GT(ts, 100000u - 64);
  EXPECT_EQ(SynCookies::decode_ts(ts).wscale, std::optional<std::uint8_t>(9));
  EXPECT_TRUE(SynCookies::decode_ts(ts).sack);
  const SynCookies::TsBits none = SynCookies::decode_ts(SynCookies::encode_ts(5, {}));
  EXPECT_FALSE(none.wscale.has_value());
  EXPECT_FALSE(none.sack);
}

class SynCookie : public TcpHarness {
 protected:
  SynCookie() {
    TcpConfig c;
    c.max_half_open = 1;
    reset(c);
  }
  /// Fills the one half-open slot with a SYN from another port.
  void fill_syn_queue() {
    wire::TcpRepr s = syn();
    s.src_port = Port{1};
    inject(s, {}, Endpoint{client.addr, Port{1}});
    ASSERT_EQ(layer->stats().half_open, 1u);
  }
  /// The cookie SYN-ACK for our client.
  Seg cookie_synack() {
    inject(syn());
    Seg sa = sent_one();
    EXPECT_EQ(sa.r.flags, TcpFlags::SYN | TcpFlags::ACK);
    EXPECT_EQ(*sa.r.ack, client_isn + 1);
    return sa;
  }
};

TEST_F(SynCookie, FullQueueAnswersStatelesslyAndTheAckBuildsTheConnection) {
  fill_syn_queue();
  const Seg sa = cookie_synack();
  EXPECT_EQ(layer->stats().syncookies_sent, 1u);
  EXPECT_EQ(layer->connection_count(), 1u);  // no state for the cookie
  EXPECT_EQ(conn(), nullptr);
  EXPECT_EQ(layer->stats().drops[static_cast<int>(DropReason::HalfOpenFull)], 0u);
  // The options survive through the timestamp: window scale and SACK-permitted are offered.
  EXPECT_EQ(sa.r.options.mss, std::optional<std::uint16_t>(1460));
  ASSERT_TRUE(sa.r.options.wscale.has_value());
  EXPECT_EQ(*sa.r.options.wscale, rcv_window_shift(TcpConfig{}));
  EXPECT_TRUE(sa.r.options.sack_permitted);
  ASSERT_TRUE(sa.r.options.timestamps.has_value());
  EXPECT_EQ(sa.r.options.timestamps->tsecr, tsval);
  EXPECT_EQ(SynCookies::decode_ts(sa.r.options.timestamps->tsval).wscale, std::optional<std::uint8_t>(7));
  EXPECT_EQ(sa.r.window, 0xffff);

  // The client's ACK carries data: the connection exists at once, the outbound is asked for,
  // and the bytes wait for it in the receive buffer.
  inject(seg(TcpFlags::ACK | TcpFlags::PSH, 1), "early");
  EXPECT_EQ(layer->stats().syncookies_ok, 1u);
  ASSERT_NE(conn(), nullptr);
  EXPECT_EQ(conn()->state(), State::Established);
  EXPECT_EQ(conn()->iss(), sa.r.seq);
  EXPECT_EQ(conn()->snd_wscale(), 7);
  EXPECT_EQ(conn()->rcv_wscale(), *sa.r.options.wscale);
  EXPECT_TRUE(conn()->sack_ok());
  EXPECT_TRUE(conn()->ts_ok());
  EXPECT_EQ(conn()->peer_mss(), 1460);
  EXPECT_EQ(layer->stats().half_open, 1u);  // only the first SYN; the cookie never counted
  EXPECT_EQ(layer->stats().established, 1u);
  ASSERT_EQ(manual.flows.size(), 2u);
  EXPECT_EQ(manual.flows[1].src, client);
  EXPECT_EQ(manual.session->received, "");
  EXPECT_EQ(conn()->recv_buffered(), 5u);
  Seg ack = sent_one();
  EXPECT_EQ(*ack.r.ack, client_isn + 6);
  // The window shrinks by what is held (scaled by our shift, rounded down).
  EXPECT_EQ(std::uint32_t{ack.r.window} << conn()->rcv_wscale(),
            ((64u << 10) - 5) & ~((1u << conn()->rcv_wscale()) - 1));
  // More data before the outbound is up: kept, nothing lost.
  inject(seg(TcpFlags::ACK | TcpFlags::PSH, 6), " bytes");
  EXPECT_EQ(conn()->recv_buffered(), 11u);
  manual.sink->on_connected();
  EXPECT_EQ(manual.session->received, "early bytes");
  EXPECT_EQ(conn()->recv_buffered(), 0u);
  // And the other way.
  manual.sink->on_data(text("reply"));
  auto v = sent();
  ASSERT_FALSE(v.empty());
  EXPECT_EQ(v.back().payload, "reply");
  EXPECT_EQ(v.back().r.seq, sa.r.seq + 1);
}

TEST_F(SynCookie, WithoutTimestampsNoScalingNoSackAndMssFromTheTable) {
  use_ts = false;
  fill_syn_queue();
  wire::TcpRepr s = syn();
  s.options.mss = 1400;  // cookie MSS table: 1300
  inject(s);
  const Seg sa = sent_one();
  EXPECT_FALSE(sa.r.options.wscale.has_value());
  EXPECT_FALSE(sa.r.options.sack_permitted);
  EXPECT_FALSE(sa.r.options.timestamps.has_value());
  inject(seg(TcpFlags::ACK, 1));
  ASSERT_NE(conn(), nullptr);
  EXPECT_EQ(conn()->state(), State::Established);
  EXPECT_EQ(conn()->snd_wscale(), 0);
  EXPECT_EQ(conn()->rcv_wscale(), 0);
  EXPECT_FALSE(conn()->sack_ok());
  EXPECT_FALSE(conn()->ts_ok());
  EXPECT_EQ(conn()->peer_mss(), 1300);
  EXPECT_EQ(conn()->snd_wnd(), 0xffffu);  // the ACK's window, unscaled
}

TEST_F(SynCookie, RetransmittedSynGetsTheSameCookie) {
  fill_syn_queue();
  const Seg a = cookie_synack();
  const Seg b = cookie_synack();
  EXPECT_EQ(a.r.seq, b.r.seq);
  EXPECT_EQ(layer->stats().syncookies_sent, 2u);
}

TEST_F(SynCookie, ForgedOrStaleAcksAreResetAndCounted) {
  fill_syn_queue();
  const Seg sa = cookie_synack();
  inject(seg(TcpFlags::ACK, 1, sa.r.seq + 2));  // not the cookie + 1
  Seg rst = sent_one();
  EXPECT_EQ(rst.r.flags, TcpFlags::RST);
  EXPECT_EQ(layer->stats().syncookies_failed, 1u);
  inject(seg(TcpFlags::ACK, 2, sa.r.seq + 1));  // another client ISN
  EXPECT_EQ(sent_one().r.flags, TcpFlags::RST);
  EXPECT_EQ(layer->stats().syncookies_failed, 2u);
  EXPECT_EQ(conn(), nullptr);
  // Two slots later (~128 s) the cookie has expired; another cookie keeps checking on.
  advance(100s);
  fill_syn_queue();  // the first queued SYN timed out meanwhile
  wire::TcpRepr other = syn();
  other.src_port = Port{2};
  inject(other, {}, Endpoint{client.addr, Port{2}});
  (void)sent();
  advance(30s);
  (void)sent();  // ICMP unreachable for the queued SYNs whose outbound never answered
  inject(seg(TcpFlags::ACK, 1, sa.r.seq + 1));
  EXPECT_EQ(sent_one().r.flags, TcpFlags::RST);
  EXPECT_EQ(layer->stats().syncookies_failed, 3u);
  EXPECT_EQ(layer->stats().syncookies_ok, 0u);
  EXPECT_EQ(conn(), nullptr);
}

TEST_F(SynCookie, CookieFromThePreviousSlotIsAccepted) {
  fill_syn_queue();
  const Seg sa = cookie_synack();
  advance(65s);  // the harness clock starts at 5 s: now in the next 64 s slot
  inject(seg(TcpFlags::ACK, 1, sa.r.seq + 1));
  EXPECT_EQ(layer->stats().syncookies_ok, 1u);
  ASSERT_NE(conn(), nullptr);
}

TEST_F(SynCookie, StrayAckWithoutRecentCookiesIsNotChecked) {
  inject(seg(TcpFlags::ACK, 1, SeqNum{12345}));
  EXPECT_EQ(sent_one().r.flags, TcpFlags::RST);
  EXPECT_EQ(layer->stats().syncookies_failed, 0u);
}

TEST_F(SynCookie, RefusedOutboundAfterTheCookieResetsTheClient) {
  fill_syn_queue();
  const Seg sa = cookie_synack();
  auto reject = dispatch::make_reject_outbound(tasks);
  dispatcher.target = reject.get();
  inject(seg(TcpFlags::ACK | TcpFlags::PSH, 1), "lost");  // the reject fires from the task queue
  auto v = sent();
  ASSERT_FALSE(v.empty());
  EXPECT_TRUE(v.back().r.flags.has(TcpFlags::RST));
  EXPECT_EQ(v.back().r.seq, sa.r.seq + 1);
  advance(1ms);
  EXPECT_EQ(conn(), nullptr);
  EXPECT_EQ(layer->stats().rst_out[static_cast<int>(RstReason::Refused)], 1u);
}

TEST_F(SynCookie, OutboundThatNeverConnectsTimesOut) {
  fill_syn_queue();
  (void)cookie_synack();
  inject(seg(TcpFlags::ACK, 1));
  ASSERT_NE(conn(), nullptr);
  (void)sent();
  advance(29s);
  ASSERT_NE(conn(), nullptr);
  advance(2s);  // connect_timeout (30 s)
  EXPECT_EQ(conn(), nullptr);
  EXPECT_EQ(manual.aborts, 2);  // both sessions: the queued SYN's and the cookie connection's
}

TEST_F(SynCookie, DisabledCookiesDrop) {
  TcpConfig c;
  c.max_half_open = 1;
  c.syn_cookies = false;
  reset(c);
  fill_syn_queue();
  inject(syn());
  EXPECT_TRUE(sent().empty());
  EXPECT_EQ(layer->stats().syncookies_sent, 0u);
  EXPECT_EQ(layer->stats().drops[static_cast<int>(DropReason::HalfOpenFull)], 1u);
}

}  // namespace
}  // namespace tunstack::tcp::testing
