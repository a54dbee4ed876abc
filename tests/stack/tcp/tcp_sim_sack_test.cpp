// Scenario tests for the sender's loss recovery, judged by a Linux-like SimClient with SACK and
// timestamps (tests/stack/tcp/sim/): several losses in one window, a lost retransmission, an RTO
// during recovery, a simultaneous close with lost FINs, a sequence wrap on our side, and D-SACK
// for duplicates and spurious retransmissions. Each runs with recovery = rack and = sack, asserts
// byte-exact delivery within a bounded simulated time, and checks the counters whose value a
// correct SACK sender makes certain. Some fail against the NewReno-only sender by design: they
// are the specification the SACK/RACK sender is written against.
#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "tests/stack/tcp/sim/data_segments.hpp"
#include "tests/stack/tcp/sim/sim_net.hpp"

namespace tunstack::tcp::sim {
namespace {

using namespace std::chrono_literals;

/// A 100 Mbit/s, 20 ms path without random impairments, SACK and timestamps on both sides. The
/// queue is deep enough never to drop, so the scripted losses are the only ones and the counters
/// they imply are exact.
SimSetup base_setup(RecoveryMode recovery, std::uint64_t bytes) {
  SimSetup s;
  s.tcp.recovery = recovery;
  s.link.rtt = 20ms;
  s.link.queue_bytes = 64u << 20;
  s.bytes = bytes;
  s.limit = 120s;
  return s;
}

/// Drops the listed originals and, for each, its first `retx_drops` retransmissions.
SimLink::Script drop_segments(std::set<int> originals, int retx_drops = 0) {
  auto segs = std::make_shared<DataSegments>();
  return [segs, originals = std::move(originals), retx_drops](Instant, const LinkPacket& p) {
    SimLink::Verdict v;
    if (auto s = segs->classify(p)) v.drop = originals.contains(s->index) && s->transmission <= retx_drops;
    return v;
  };
}

/// Drops the first transmission of the listed originals and records when each is first resent.
SimLink::Script drop_and_time(std::set<int> lost, std::shared_ptr<std::vector<Instant>> resent_at) {
  auto segs = std::make_shared<DataSegments>();
  return [segs, lost = std::move(lost), resent_at](Instant now, const LinkPacket& p) {
    SimLink::Verdict v;
    if (auto seen = segs->classify(p); seen && lost.contains(seen->index)) {
      v.drop = seen->transmission == 0;
      if (seen->transmission == 1) resent_at->push_back(now);
    }
    return v;
  };
}

class SimSack : public ::testing::TestWithParam<RecoveryMode> {
 protected:
  /// Runs and checks what every scenario needs: completion, every byte once and right, within
  /// `bound` of simulated transfer time.
  SimResult run_checked(SimNet& net, Duration bound) {
    const SimResult r = net.run();
    EXPECT_FALSE(r.stuck) << "the layer's deadline never cleared; " << net.describe();
    EXPECT_EQ(net.link().stats(Dir::ToClient).queue_drops + net.link().stats(Dir::ToServer).queue_drops, 0u);
    EXPECT_TRUE(r.completed) << net.describe();
    EXPECT_TRUE(r.byte_exact) << net.describe();
    EXPECT_EQ(net.client().stats().mismatched_bytes, 0u);
    EXPECT_EQ(net.client().stats().beyond_window, 0u);
    EXPECT_EQ(net.client().stats().oversized, 0u);
    EXPECT_EQ(net.client().stats().rst_in, 0u);
    EXPECT_EQ(net.client().stats().tsecr_bad, 0u);
    EXPECT_TRUE(r.transfer.has_value() && *r.transfer <= bound)
        << "transfer took " << (r.transfer ? std::chrono::duration<double>(*r.transfer).count() : -1.0)
        << " s; " << net.describe();
    return r;
  }
};

std::string recovery_name(const ::testing::TestParamInfo<RecoveryMode>& i) {
  return i.param == RecoveryMode::Rack ? "Rack" : i.param == RecoveryMode::Sack ? "Sack" : "NewReno";
}

// RFC 6675 / RFC 8985: with SACK every hole of a window is known after one round, so four losses
// cost four retransmissions, all sent within one RTT of each other (NewReno: one per RTT), and
// never an RTO.
TEST_P(SimSack, SeveralLossesInOneWindowAreRepairedWithoutAnRto) {
  SimSetup s = base_setup(GetParam(), 1u << 20);
  SimNet net(s);
  auto resent_at = std::make_shared<std::vector<Instant>>();
  net.link().set_script(drop_and_time({100, 103, 106, 109}, resent_at));
  run_checked(net, 1s);
  ASSERT_EQ(net.link().stats(Dir::ToClient).scripted, 4u);
  ASSERT_EQ(resent_at->size(), 4u);
  EXPECT_LT(resent_at->back() - resent_at->front(), s.link.rtt) << "holes repaired one per RTT";
  EXPECT_EQ(net.stats().rto_expired, 0u);
  EXPECT_EQ(net.stats().retransmits, 4u) << "only the four holes are resent";
  EXPECT_GE(net.stats().fast_retransmits, 1u);
  EXPECT_EQ(net.stats().recoveries, 1u) << "one recovery episode for one window";
  EXPECT_GT(net.stats().sack_blocks_in, 0u);
}

// RFC 8985 §6.2: RACK notices a lost retransmission from later deliveries (time order), no RTO.
// RFC 6675 cannot see it and falls back to the RTO; both must still deliver every byte.
TEST_P(SimSack, LostRetransmissionIsRepaired) {
  SimSetup s = base_setup(GetParam(), 1u << 20);
  SimNet net(s);
  net.link().set_script(drop_segments({100}, 1));
  run_checked(net, 3s);
  ASSERT_EQ(net.link().stats(Dir::ToClient).scripted, 2u);
  EXPECT_GE(net.stats().retransmits, 2u);
  if (GetParam() == RecoveryMode::Rack) {
    EXPECT_EQ(net.stats().rto_expired, 0u);
  }
}

// The retransmission is lost and the return path goes silent for 1.5 s: the RTO fires in the
// middle of fast recovery, and the sender must still finish cleanly after the path comes back.
TEST_P(SimSack, RtoDuringRecovery) {
  SimSetup s = base_setup(GetParam(), 1u << 20);
  SimNet net(s);
  auto segs = std::make_shared<DataSegments>();
  auto blackout_from = std::make_shared<std::optional<Instant>>();
  net.link().set_script([segs, blackout_from](Instant now, const LinkPacket& p) {
    SimLink::Verdict v;
    if (auto seen = segs->classify(p); seen && seen->index == 100 && seen->transmission <= 1) {
      v.drop = true;
      if (seen->transmission == 1) *blackout_from = now;
    }
    if (p.dir == Dir::ToServer && *blackout_from && now < **blackout_from + 1500ms) v.drop = true;
    return v;
  });
  run_checked(net, 10s);
  ASSERT_TRUE(blackout_from->has_value()) << "the sender never retransmitted segment 100";
  EXPECT_GE(net.stats().rto_expired, 1u);
  EXPECT_GE(net.stats().fast_retransmits, 1u);
}

// Both ends send their FIN at about the same time and both first FINs are lost: each side must
// retransmit its FIN and get through CLOSING / TIME-WAIT (RFC 9293 §3.6 case 2). The remote's FIN
// is held until the client's (lost) FIN leaves, so the two FINs cross rather than follow.
TEST_P(SimSack, SimultaneousCloseWithLostFins) {
  SimSetup s = base_setup(GetParam(), 200'000);
  s.client.close = ClientClose::OnAllData;
  SimNet net(s);
  net.hold_remote_fin();
  auto segs = std::make_shared<DataSegments>();
  auto client_fins = std::make_shared<int>(0);
  auto server_fins = std::make_shared<int>(0);
  net.link().set_script([&net, segs, client_fins, server_fins](Instant, const LinkPacket& p) {
    SimLink::Verdict v;
    if (p.dir == Dir::ToServer) {
      auto r = parse_segment(p);
      if (r && r->flags.has(wire::TcpFlags::FIN)) {
        v.drop = (*client_fins)++ == 0;
        if (v.drop) net.release_remote_fin();  // posted: the stack's FIN goes out next
      }
    } else if (auto seen = segs->classify(p); seen && seen->fin) {
      v.drop = (*server_fins)++ == 0;
    }
    return v;
  });
  run_checked(net, 5s);
  EXPECT_EQ(*client_fins, 2) << "the client's FIN was sent twice";
  EXPECT_GE(*server_fins, 2) << "the stack's FIN was sent twice";
  EXPECT_TRUE(net.source().client_fin);
  EXPECT_EQ(net.stats().active, 0u);
}

// Our sequence space wraps 64 KiB into a 4 MiB download, with losses right at the wrap; the
// client's wraps too. SACK blocks straddling 2^32 must be understood.
TEST_P(SimSack, SequenceWrapWithLossesAtTheWrap) {
  SimSetup s = base_setup(GetParam(), 4u << 20);
  s.tcp.fixed_iss = 0xffff0000u;
  s.client.iss = 0xfffffff0u;
  SimNet net(s);
  // 1448-byte segments (MSS 1460 less the timestamps): the wrap falls inside original 45.
  auto resent_at = std::make_shared<std::vector<Instant>>();
  net.link().set_script(drop_and_time({43, 45, 47}, resent_at));
  run_checked(net, 2s);
  ASSERT_EQ(net.link().stats(Dir::ToClient).scripted, 3u);
  ASSERT_EQ(resent_at->size(), 3u);
  EXPECT_LT(resent_at->back() - resent_at->front(), s.link.rtt) << "holes repaired one per RTT";
  EXPECT_EQ(net.stats().rto_expired, 0u);
  EXPECT_EQ(net.stats().retransmits, 3u);
}

// A duplicated data segment: the client answers with a D-SACK (RFC 2883 §4.1.1), which the
// sender must count as such, not as reneging and not as a reason to retransmit.
TEST_P(SimSack, DuplicateDeliveryIsDsackedNotRetransmitted) {
  SimSetup s = base_setup(GetParam(), 1u << 20);
  SimNet net(s);
  auto segs = std::make_shared<DataSegments>();
  net.link().set_script([segs](Instant, const LinkPacket& p) {
    SimLink::Verdict v;
    if (auto seen = segs->classify(p)) v.duplicate = seen->index == 60 || seen->index == 300;
    return v;
  });
  run_checked(net, 1s);
  ASSERT_EQ(net.link().stats(Dir::ToClient).scripted, 2u);
  EXPECT_GE(net.client().stats().dsacks_sent, 2u);
  EXPECT_GE(net.stats().dsacks_in, 2u);
  EXPECT_EQ(net.stats().sack_reneging, 0u);
  EXPECT_EQ(net.stats().retransmits, 0u);
  EXPECT_EQ(net.stats().rto_expired, 0u);
}

// One segment is held back 30 ms (1.5 RTT): the sender retransmits it, then the original arrives
// and the client D-SACKs it. RFC 3708 / Linux: the reduction was spurious and is undone.
TEST_P(SimSack, SpuriousRetransmissionIsDsackedAndUndone) {
  SimSetup s = base_setup(GetParam(), 1u << 20);
  SimNet net(s);
  auto segs = std::make_shared<DataSegments>();
  net.link().set_script([segs](Instant, const LinkPacket& p) {
    SimLink::Verdict v;
    if (auto seen = segs->classify(p); seen && seen->index == 100 && seen->transmission == 0)
      v.extra_delay = 30ms;
    return v;
  });
  run_checked(net, 1s);
  ASSERT_EQ(net.link().stats(Dir::ToClient).scripted, 1u);
  EXPECT_EQ(net.stats().retransmits, 1u);
  EXPECT_GE(net.client().stats().dsacks_sent, 1u);
  EXPECT_GE(net.stats().dsacks_in, 1u);
  EXPECT_GE(net.stats().undos, 1u);
  EXPECT_EQ(net.stats().sack_reneging, 0u);
  EXPECT_EQ(net.stats().rto_expired, 0u);
}

INSTANTIATE_TEST_SUITE_P(Recovery, SimSack, ::testing::Values(RecoveryMode::Rack, RecoveryMode::Sack),
                         recovery_name);

// The test bed itself: a clean path with every option switched off still delivers exactly, and
// the SimClient keeps to what it negotiated.
TEST(SimBed, CleanPathWithoutOptions) {
  SimSetup s;
  s.client.sack = false;
  s.client.timestamps = false;
  s.client.window_scale = false;
  s.link.rtt = 10ms;
  SimNet net(s);
  const SimResult r = net.run();
  ASSERT_TRUE(r.completed) << net.describe();
  EXPECT_TRUE(r.byte_exact);
  EXPECT_EQ(net.stats().retransmits, 0u);
  EXPECT_EQ(net.client().stats().sack_acks_sent, 0u);
  // 1 MiB into a 64 KiB send buffer: the source must have been held back and resumed.
  EXPECT_GT(net.source().pauses, 0);
  EXPECT_GT(net.source().resumes, 0);
  EXPECT_EQ(net.source().produced, s.bytes);
  EXPECT_TRUE(net.source().client_fin);
}

TEST(SimBed, OutOfOrderDataIsSackedAndDelivered) {
  SimSetup s;
  s.link.rtt = 10ms;
  s.link.reorder = 0.2;
  s.link.dup = 0.01;
  s.link.loss = 0.01;
  s.seed = 5;
  SimNet net(s);
  const SimResult r = net.run();
  ASSERT_TRUE(r.completed) << net.describe();
  EXPECT_TRUE(r.byte_exact);
  EXPECT_GT(net.client().stats().ooo_segments, 0u);
  EXPECT_GT(net.client().stats().sack_acks_sent, 0u);
  EXPECT_GT(net.client().stats().dsacks_sent, 0u);
  EXPECT_EQ(net.client().stats().mismatched_bytes, 0u);
}

}  // namespace
}  // namespace tunstack::tcp::sim
