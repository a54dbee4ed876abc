// The judge must be right before it judges: SimClient's receiver against crafted server
// segments (no TcpLayer): SACK block order and count (RFC 2018 §4), D-SACK (RFC 2883 §4),
// immediate and delayed ACKs, TS.Recent (RFC 7323 §4.3), the scaled window and byte checks.
#include <gtest/gtest.h>

#include <vector>

#include "tests/stack/tcp/sim/sim_client.hpp"
#include "tests/stack/tcp/sim/sim_net.hpp"
#include "tests/stack/tcp/sim/source_outbound.hpp"

namespace tunstack::tcp::sim {
namespace {

using namespace std::chrono_literals;
using wire::TcpFlags;

constexpr std::uint32_t kSeg = 1000;

class SimClientTest : public ::testing::Test {
 protected:
  void open(bool ts = true, bool sack = true, std::uint32_t rcv_buf = 1u << 20) {
    cfg_ = SimSetup::default_client();
    cfg_.timestamps = ts;
    cfg_.sack = sack;
    cfg_.rcv_buf = rcv_buf;
    cfg_.expect = 100 * kSeg;
    seed_ = flow_seed(cfg_.self.port, cfg_.server.port);
    client_ = std::make_unique<SimClient>(cfg_, seed_,
                                          [this](Instant, std::string s) { out_.push_back(std::move(s)); });
    client_->start(now_);
    const wire::TcpRepr syn = take();
    wire::TcpRepr sa = server_seg(TcpFlags::SYN | TcpFlags::ACK, irs_);
    sa.ack = syn.seq + 1;
    sa.options.mss = 1460;
    sa.options.wscale = 7;
    sa.options.sack_permitted = true;
    deliver(sa, {});
    out_.clear();  // the handshake ACK and the request
  }
  wire::TcpRepr server_seg(TcpFlags f, SeqNum seq) {
    wire::TcpRepr r;
    r.src_port = cfg_.server.port;
    r.dst_port = cfg_.self.port;
    r.seq = seq;
    r.flags = f;
    if (f.has(TcpFlags::ACK) && !r.ack) r.ack = SeqNum{cfg_.iss + 1};
    r.window = 0xffff;
    if (cfg_.timestamps) r.options.timestamps = wire::TcpTimestamps{tsval_, 1000};
    return r;
  }
  void deliver(const wire::TcpRepr& r, const std::string& payload) {
    std::string buf(r.size() + payload.size(), '\0');
    std::memcpy(buf.data() + r.size(), payload.data(), payload.size());
    r.emit(as_mut_bytes(buf.data(), r.size()), as_bytes(buf.data() + r.size(), payload.size()),
           cfg_.server.addr, cfg_.self.addr);
    client_->on_segment(now_, tunstack::testing::text(buf));
  }
  /// Server data segment number `n` (kSeg bytes each), right or `corrupt`ed.
  void data(std::uint32_t n, bool corrupt = false) {
    std::string p(kSeg, '\0');
    fill_source(seed_, std::uint64_t{n} * kSeg, std::as_writable_bytes(std::span(p.data(), p.size())));
    if (corrupt) p[7] = static_cast<char>(p[7] ^ 1);
    wire::TcpRepr r = server_seg(TcpFlags::ACK | TcpFlags::PSH, irs_ + 1 + n * kSeg);
    r.ack = SeqNum{cfg_.iss + 1 + static_cast<std::uint32_t>(cfg_.request.size())};
    deliver(r, p);
  }
  wire::TcpRepr take() {
    EXPECT_FALSE(out_.empty());
    if (out_.empty()) return {};
    auto v = wire::TcpView::check(tunstack::testing::text(out_.front()));
    auto r = wire::TcpRepr::parse(*v);
    out_.erase(out_.begin());
    return *r;
  }
  wire::TcpRepr last() {
    EXPECT_FALSE(out_.empty());
    while (out_.size() > 1) out_.erase(out_.begin());
    return take();
  }
  /// The SACK blocks of `r` as segment numbers [left, right).
  std::vector<std::pair<std::uint32_t, std::uint32_t>> blocks(const wire::TcpRepr& r) {
    std::vector<std::pair<std::uint32_t, std::uint32_t>> v;
    for (const wire::SackBlock& b : r.options.sack_blocks())
      v.emplace_back(static_cast<std::uint32_t>(b.left - (irs_ + 1)) / kSeg,
                     static_cast<std::uint32_t>(b.right - (irs_ + 1)) / kSeg);
    return v;
  }
  SeqNum ack_of(std::uint32_t segs) const { return irs_ + 1 + segs * kSeg; }

  ClientConfig cfg_;
  std::uint64_t seed_ = 0;
  std::unique_ptr<SimClient> client_;
  std::vector<std::string> out_;
  Instant now_ = instant_from_ns(1'000'000'000);
  SeqNum irs_{0xfffffc00u};  // wraps inside the first segments
  std::uint32_t tsval_ = 500;
};

using Blocks = std::vector<std::pair<std::uint32_t, std::uint32_t>>;

TEST_F(SimClientTest, SackBlocksNewestFirstThreeBesideTimestamps) {
  open();
  for (std::uint32_t n : {0u, 2u, 4u, 6u, 8u}) data(n);
  const wire::TcpRepr a = last();
  EXPECT_EQ(*a.ack, ack_of(1));
  EXPECT_EQ(blocks(a), (Blocks{{8, 9}, {6, 7}, {4, 5}}));
}

TEST_F(SimClientTest, FourSackBlocksWithoutTimestamps) {
  open(false);
  for (std::uint32_t n : {0u, 2u, 4u, 6u, 8u}) data(n);
  EXPECT_EQ(blocks(last()), (Blocks{{8, 9}, {6, 7}, {4, 5}, {2, 3}}));
}

TEST_F(SimClientTest, BlockThatGrewMovesToTheFront) {
  open();
  for (std::uint32_t n : {0u, 2u, 5u, 3u}) data(n);
  EXPECT_EQ(blocks(last()), (Blocks{{2, 4}, {5, 6}}));
}

TEST_F(SimClientTest, DsackFirstForADuplicateBelowTheAck) {
  open();
  data(0);
  data(1);
  out_.clear();
  data(0);
  const wire::TcpRepr a = last();
  EXPECT_EQ(*a.ack, ack_of(2));
  EXPECT_EQ(blocks(a), (Blocks{{0, 1}}));
  EXPECT_EQ(client_->stats().dsacks_sent, 1u);
}

TEST_F(SimClientTest, DsackThenContainingBlockForADuplicateOfSackedData) {
  open();
  for (std::uint32_t n : {0u, 3u, 4u, 7u}) data(n);
  data(3);
  EXPECT_EQ(blocks(last()), (Blocks{{3, 4}, {3, 5}, {7, 8}}));
}

TEST_F(SimClientTest, DelayedAckEverySecondSegmentOr40ms) {
  open();
  data(0);
  EXPECT_TRUE(out_.empty());
  ASSERT_TRUE(client_->next_deadline().has_value());
  EXPECT_EQ(*client_->next_deadline(), now_ + 40ms);
  data(1);
  EXPECT_EQ(*last().ack, ack_of(2));
  data(2);
  EXPECT_TRUE(out_.empty());
  now_ += 40ms;
  client_->poll(now_);
  EXPECT_EQ(*last().ack, ack_of(3));
}

TEST_F(SimClientTest, OutOfOrderAndHoleFillAreAckedAtOnce) {
  open();
  data(0);
  EXPECT_TRUE(out_.empty());
  data(2);
  EXPECT_EQ(*last().ack, ack_of(1));
  data(1);
  const wire::TcpRepr a = last();
  EXPECT_EQ(*a.ack, ack_of(3));
  EXPECT_TRUE(blocks(a).empty());
}

TEST_F(SimClientTest, TsecrEchoesTsRecentNotTheNewestOutOfOrderSegment) {
  open();
  tsval_ = 600;
  data(0);
  data(1);
  EXPECT_EQ(last().options.timestamps->tsecr, 600u);
  tsval_ = 700;
  data(3);  // above Last.ACK.sent: RFC 7323 §4.3 keeps TS.Recent
  EXPECT_EQ(last().options.timestamps->tsecr, 600u);
  tsval_ = 710;
  data(2);  // fills the hole at Last.ACK.sent: TS.Recent follows it
  EXPECT_EQ(last().options.timestamps->tsecr, 710u);
}

TEST_F(SimClientTest, ScaledWindowOverTheReceiveBuffer) {
  open(true, true, 1u << 20);
  data(0);
  data(1);
  EXPECT_EQ(last().window, (1u << 20) >> 5);  // shift 5: 0xffff << 4 falls short of 1 MiB
}

TEST_F(SimClientTest, DataOutsideTheWindowIsCountedAndNotSacked) {
  open(true, true, 8 * kSeg);
  data(0);
  data(20);
  const wire::TcpRepr a = last();
  EXPECT_EQ(*a.ack, ack_of(1));
  EXPECT_TRUE(blocks(a).empty());
  EXPECT_EQ(client_->stats().beyond_window, 1u);
}

TEST_F(SimClientTest, EveryByteIsChecked) {
  open();
  data(0);
  data(1, true);
  EXPECT_EQ(client_->stats().mismatched_bytes, 1u);
  EXPECT_EQ(client_->stats().first_mismatch, std::optional<std::uint64_t>(kSeg + 7));
}

}  // namespace
}  // namespace tunstack::tcp::sim
