// IP layer costs: header parse per packet (IPv4 view + repr with checksum and options; IPv6 view +
// extension-header walk), and reassembly of a 64 KiB datagram from its fragments (IPv4 at MTU
// 1500, IPv6 at MTU 1280; in order and shuffled). Reassembly is timed manually around the
// input calls only: putting each fragment into a PacketBuf (what the TUN read does) is outside.
// The manual timer reads this thread's CPU clock, not the wall clock, so that time spent
// descheduled on a busy machine does not count (on an idle machine the two agree).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <ctime>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "stack/ip/fragment.hpp"
#include "stack/ip/reassembly.hpp"
#include "stack/wire/ipv4.hpp"
#include "stack/wire/ipv6.hpp"

namespace {

using namespace tunstack;
using namespace tunstack::wire;
using Buf = std::vector<std::byte>;

constexpr std::size_t kDatagramPayload = 65000;

Buf v4_datagram(std::size_t payload, bool with_options) {
  Ipv4Repr r;
  r.src = Ip4Addr::from_host(0x0a000001);
  r.dst = Ip4Addr::from_host(0x0a000002);
  r.protocol = IpProto::Udp;
  r.ident = 0x4242;
  if (with_options) {
    const std::byte ra[] = {std::byte{0x94}, std::byte{4}, std::byte{0}, std::byte{0}};
    (void)r.options.assign(Bytes{ra});
  }
  r.payload_len = static_cast<std::uint16_t>(payload);
  Buf b(r.total_len());
  r.emit(b);
  for (std::size_t i = r.header_len(); i < b.size(); ++i) b[i] = static_cast<std::byte>(i);
  return b;
}

/// IPv6 + (optionally) Hop-by-Hop, Destination Options and an idle Routing header, then UDP.
Buf v6_packet(std::size_t payload, bool with_ext) {
  Ipv6Repr r;
  r.src = *Ip6Addr::parse("fd00::1");
  r.dst = *Ip6Addr::parse("fd00::2");
  const Buf ext = {std::byte{60}, std::byte{0}, std::byte{1}, std::byte{4}, std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0},
                   std::byte{43}, std::byte{0}, std::byte{1}, std::byte{4}, std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0},
                   std::byte{17}, std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0}};
  r.next_header = with_ext ? IpProto::HopByHop : IpProto::Udp;
  r.payload_len = static_cast<std::uint16_t>(payload + (with_ext ? ext.size() : 0));
  Buf b(40);
  r.emit(b);
  if (with_ext) b.insert(b.end(), ext.begin(), ext.end());
  for (std::size_t i = 0; i < payload; ++i) b.push_back(static_cast<std::byte>(i));
  return b;
}

void BM_Ipv4Parse(benchmark::State& state) {
  const Buf pkt = v4_datagram(1480, state.range(0) != 0);
  for (auto _ : state) {
    auto v = Ipv4View::check(pkt);
    auto r = Ipv4Repr::parse(*v);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Ipv4Parse)->ArgName("options")->Arg(0)->Arg(1);

void BM_Ipv6Parse(benchmark::State& state) {
  const Buf pkt = v6_packet(1400, state.range(0) != 0);
  auto check = walk_ext_headers(*Ipv6View::check(pkt));
  if (!check || check->upper_offset != (state.range(0) != 0 ? 64u : 40u) || check->upper_protocol != 17)
    state.SkipWithError("unexpected chain");
  for (auto _ : state) {
    auto v = Ipv6View::check(pkt);
    auto c = walk_ext_headers(*v);
    benchmark::DoNotOptimize(c);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Ipv6Parse)->ArgName("ext_headers")->Arg(0)->Arg(1);

/// Fragments `whole` along `mtu` and returns the fragments' bytes, optionally shuffled.
std::vector<Buf> fragments(const Buf& whole, bool v6, std::size_t mtu, bool shuffled) {
  BufPool pool;
  std::vector<PacketBuf> out(256);
  auto n = v6 ? ip::fragment_v6(whole, mtu, 0x5151, pool, out) : ip::fragment_v4(whole, mtu, pool, out);
  std::vector<Buf> f;
  for (std::size_t i = 0; i < (n ? *n : 0); ++i) f.emplace_back(out[i].view().begin(), out[i].view().end());
  if (shuffled) std::shuffle(f.begin(), f.end(), std::mt19937(7));
  return f;
}

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void reassemble(benchmark::State& state, bool v6) {
  const bool shuffled = state.range(0) != 0;
  const Buf whole = v6 ? v6_packet(kDatagramPayload, false) : v4_datagram(kDatagramPayload, false);
  const std::vector<Buf> frags = fragments(whole, v6, v6 ? 1280 : 1500, shuffled);
  BufPool pool;
  ip::Reassembler r(pool);
  std::vector<PacketBuf> bufs(frags.size());
  const Instant now = instant_from_ns(0);
  for (auto _ : state) {
    for (std::size_t i = 0; i < frags.size(); ++i) bufs[i] = pool.copy_of(frags[i]);  // the TUN read
    std::size_t got = 0;
    const double t0 = thread_cpu_seconds();
    for (PacketBuf& b : bufs) {
      auto o = v6 ? r.input_v6(std::move(b), now) : r.input_v4(std::move(b), now);
      if (o.datagram) got = o.datagram->size();
    }
    const double t1 = thread_cpu_seconds();
    if (got != whole.size()) state.SkipWithError("did not reassemble");
    state.SetIterationTime(t1 - t0);
  }
  state.counters["fragments"] = static_cast<double>(frags.size());
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * whole.size()));
}

void BM_Reassemble64KiB_v4(benchmark::State& state) { reassemble(state, false); }
void BM_Reassemble64KiB_v6(benchmark::State& state) { reassemble(state, true); }
BENCHMARK(BM_Reassemble64KiB_v4)->ArgName("shuffled")->Arg(0)->Arg(1)->UseManualTime();
BENCHMARK(BM_Reassemble64KiB_v6)->ArgName("shuffled")->Arg(0)->Arg(1)->UseManualTime();

}  // namespace
