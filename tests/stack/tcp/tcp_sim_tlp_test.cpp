// RFC 8985 §7 tail loss probe, timed: the last data segment of a transfer is lost; no later
// segment can reveal it, so RACK alone cannot. The probe must leave one PTO after the last
// transmission or ACK (PTO = max(2 * SRTT, 10 ms), plus the worst delayed ACK when one segment is
// in flight; at the RTO's time instead when that comes first), repair the tail without an RTO,
// and be counted as a loss repaired by the probe.
#include <gtest/gtest.h>

#include <optional>
#include <vector>

#include "tests/stack/tcp/sim/sim_net.hpp"

namespace tunstack::tcp::sim {
namespace {

using namespace std::chrono_literals;

class Recorder final : public TraceSink {
 public:
  bool select(std::uint64_t, const Endpoint&, const Endpoint&) override { return true; }
  void record(const TraceSample& s) override { samples.push_back(s); }
  std::vector<TraceSample> samples;
};

TEST(SimTlp, TailLossIsProbedOnePtoAfterTheLastActivity) {
  constexpr std::uint64_t kBytes = 200'000;
  Recorder rec;
  SimSetup s;
  s.link.rtt = 20ms;
  s.link.queue_bytes = 16u << 20;
  s.bytes = kBytes;
  s.limit = 30s;
  s.trace = &rec;
  SimNet net(s);
  // Drop the first transmission of the segment that carries the last data byte.
  auto base = std::make_shared<std::optional<SeqNum>>();
  auto dropped = std::make_shared<bool>(false);
  net.link().set_script([base, dropped](Instant, const LinkPacket& p) {
    SimLink::Verdict v;
    auto r = parse_segment(p);
    if (p.dir != Dir::ToClient || !r || r->flags.has(wire::TcpFlags::SYN) || r->payload_len == 0) return v;
    if (!*base) *base = r->seq;
    const auto end = static_cast<std::uint64_t>(static_cast<std::uint32_t>(r->seq - **base)) + r->payload_len;
    if (end == kBytes && !*dropped) v.drop = *dropped = true;
    return v;
  });
  const SimResult r = net.run();
  ASSERT_TRUE(r.completed && r.byte_exact) << net.describe();
  ASSERT_TRUE(*dropped);
  EXPECT_EQ(net.stats().rto_expired, 0u);
  EXPECT_EQ(net.stats().tlp_probes, 1u);
  EXPECT_EQ(net.stats().tlp_recoveries, 1u) << "the probe alone repaired the loss";

  // The probe's time: one PTO after the last send or ACK before it, or the RTO's time when that
  // is earlier (the probe then takes the RTO's place; the RTO was last armed by the last ACK).
  std::optional<std::size_t> tlp;
  for (std::size_t i = 0; i < rec.samples.size() && !tlp; ++i)
    if (rec.samples[i].event == TraceEvent::Tlp) tlp = i;
  ASSERT_TRUE(tlp);
  const TraceSample& probe = rec.samples[*tlp];
  std::optional<Instant> last, last_ack;
  std::uint32_t in_flight_then = 0;
  for (std::size_t i = *tlp; i-- > 0;) {
    const TraceSample& p = rec.samples[i];
    if (!last && (p.event == TraceEvent::Send || p.event == TraceEvent::Ack)) {
      last = p.at;
      in_flight_then = p.in_flight;
    }
    if (p.event == TraceEvent::Ack) {
      last_ack = p.at;
      break;
    }
  }
  ASSERT_TRUE(last && last_ack);
  Duration pto = std::max<Duration>(2 * probe.srtt, 10ms);
  if (in_flight_then <= 1448) pto += 200ms;  // one segment out: the receiver may delay its ACK
  const Instant expected = std::min(*last + pto, *last_ack + probe.rto);
  const auto off = std::chrono::duration_cast<std::chrono::microseconds>(probe.at - expected).count();
  EXPECT_GE(off, -1000) << "probe " << off << " us before its time";
  EXPECT_LE(off, 2000) << "probe " << off << " us after its time";
  // The probe resends the tail segment (whose sequence space includes the FIN when it rode along).
  EXPECT_GE(probe.seg_seq + probe.seg_len, kBytes);
  EXPECT_LE(probe.seg_seq + probe.seg_len, kBytes + 1);
}

}  // namespace
}  // namespace tunstack::tcp::sim
