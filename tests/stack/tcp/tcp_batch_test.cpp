// Batched delivery (TcpLayer::begin_batch / end_batch): in-order bytes of a batch reach the
// session in one write and are acknowledged once; out-of-order arrivals are still answered at
// once; a connection that dies inside the batch is skipped safely. And the driver's clock
// (TcpLayer::advance_clock) is what outbound callbacks run at.
#include "tests/stack/tcp/tcp_harness.hpp"

namespace tunstack::tcp::testing {
namespace {

using Batch = TcpHarness;

std::string chunk(char c) { return std::string(1000, c); }

TEST_F(Batch, InOrderSegmentsAreDeliveredAndAckedOncePerBatch) {
  established();
  const int sends_before = manual.session->sends;
  layer->begin_batch();
  for (std::uint32_t i = 0; i < 8; ++i)
    inject(seg(TcpFlags::ACK, 1 + i * 1000), chunk(static_cast<char>('a' + i)));
  EXPECT_EQ(manual.session->received, "");  // nothing before the batch ends
  EXPECT_TRUE(sent().empty());
  layer->end_batch();
  std::string want;
  for (int i = 0; i < 8; ++i) want += chunk(static_cast<char>('a' + i));
  EXPECT_EQ(manual.session->received, want);
  EXPECT_EQ(manual.session->sends - sends_before, 1);  // one write for the whole batch
  Seg ack = sent_one();                                // one ACK covering all of it
  EXPECT_EQ(*ack.r.ack, client_isn + 1 + 8000);
}

TEST_F(Batch, OutOfOrderIsAnsweredAtOnceInsideABatch) {
  established();
  layer->begin_batch();
  inject(seg(TcpFlags::ACK, 1 + 1000), chunk('b'));  // the first 1000 bytes are missing
  Seg dup = sent_one();                               // immediate duplicate ACK with SACK
  EXPECT_EQ(*dup.r.ack, client_isn + 1);
  EXPECT_FALSE(dup.r.options.sack_blocks().empty());
  inject(seg(TcpFlags::ACK, 1), chunk('a'));  // fills the hole
  layer->end_batch();
  EXPECT_EQ(manual.session->received, chunk('a') + chunk('b'));
  Seg ack = sent().back();
  EXPECT_EQ(*ack.r.ack, client_isn + 1 + 2000);
}

TEST_F(Batch, ConnectionResetInsideTheBatchIsSkipped) {
  established();
  layer->begin_batch();
  inject(seg(TcpFlags::ACK, 1), chunk('a'));
  inject(seg(TcpFlags::RST, 1 + 1000));  // exact-sequence RST: the connection closes
  layer->end_batch();                     // must not touch the closed connection
  advance(std::chrono::milliseconds(1));
  EXPECT_EQ(layer->connection_count(), 0u);
  EXPECT_EQ(manual.aborts, 1);
}

TEST_F(Batch, OutboundCallbacksRunAtTheDriversClock) {
  established();
  const std::string data(100, 'd');
  manual.sink->on_data({reinterpret_cast<const std::byte*>(data.data()), data.size()});
  const std::uint32_t t0 = sent_one().r.options.timestamps->tsval;
  inject(seg(TcpFlags::ACK, 1));
  (void)sent();
  now += std::chrono::seconds(5);
  layer->advance_clock(now);  // the loop woke up for a socket; no segment, no poll
  manual.sink->on_data({reinterpret_cast<const std::byte*>(data.data()), data.size()});
  const std::uint32_t t1 = sent_one().r.options.timestamps->tsval;
  EXPECT_GE(t1 - t0, 4900u);  // timestamps in ms: the send happened 5 s later, not at t0
  EXPECT_LE(t1 - t0, 5100u);
}

}  // namespace
}  // namespace tunstack::tcp::testing

namespace tunstack::tcp::testing {
namespace {

using Reassembly = TcpHarness;

TEST_F(Reassembly, FullIslandTableDropsTheNewSegmentNotASackedIsland) {
  established();
  // The island table grows with the window; only a client sending one-byte islands fills it.
  const std::uint32_t islands = conn()->recv_capacity() / Receiver::kBytesPerRange + Receiver::kMaxRanges + 1;
  auto byte = [](std::uint32_t i) { return std::string(1, static_cast<char>('A' + i % 26)); };
  // Islands at odd offsets, holes at even ones: the last island does not fit the table.
  for (std::uint32_t i = 0; i < islands; ++i) inject(seg(TcpFlags::ACK, 1 + 2 * i + 1), byte(2 * i + 1));
  EXPECT_EQ(layer->stats().drops[static_cast<int>(DropReason::ReassemblyFull)], 1u);
  (void)sent();
  // The client retransmits the holes and the one refused island; every SACKed island must still
  // be here (a receiver that forgot one would stall the stream at that gap).
  for (std::uint32_t i = 0; i < islands; ++i) inject(seg(TcpFlags::ACK, 1 + 2 * i), byte(2 * i));
  inject(seg(TcpFlags::ACK, 1 + 2 * islands - 1), byte(2 * islands - 1));
  std::string want;
  for (std::uint32_t i = 0; i < 2 * islands; ++i) want += byte(i);
  EXPECT_EQ(manual.session->received.size(), want.size());
  EXPECT_EQ(manual.session->received, want);
}

TEST_F(Reassembly, TwoHundredFullSizedIslandsAreAllKept) {
  established();
  // 200 islands of one full segment behind holes of one segment: far more than the 16 the
  // receiver once kept, far fewer than its limit; none may be dropped.
  constexpr std::uint32_t kIslands = 200;
  constexpr std::uint32_t kSeg = 100;
  auto block = [](std::uint32_t i) { return std::string(kSeg, static_cast<char>('a' + i % 26)); };
  for (std::uint32_t i = 0; i < kIslands; ++i) inject(seg(TcpFlags::ACK, 1 + (2 * i + 1) * kSeg), block(2 * i + 1));
  EXPECT_EQ(layer->stats().drops[static_cast<int>(DropReason::ReassemblyFull)], 0u);
  (void)sent();
  for (std::uint32_t i = 0; i < kIslands; ++i) inject(seg(TcpFlags::ACK, 1 + 2 * i * kSeg), block(2 * i));
  std::string want;
  for (std::uint32_t i = 0; i < 2 * kIslands; ++i) want += block(i);
  EXPECT_EQ(manual.session->received, want);
}

}  // namespace
}  // namespace tunstack::tcp::testing
