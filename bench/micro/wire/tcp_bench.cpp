// TCP wire-format cost per packet: the receive path (IP view check + repr parse with header
// checksum, TCP view check + repr parse with the timestamps option and the pseudo-header checksum
// over the whole segment) for IPv4 and IPv6, and the send path (TCP header + options + checksum
// written in front of a payload already in place). Payload sizes 0 (a pure ACK) and 1448 (a full
// segment at MTU 1500 with timestamps on IPv4) show the fixed cost and the checksum's share.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "stack/checksum/checksum.hpp"
#include "stack/wire/ipv4.hpp"
#include "stack/wire/ipv6.hpp"
#include "stack/wire/tcp.hpp"

namespace {

using namespace tunstack;
using namespace tunstack::wire;

const Ip4Addr kSrc4 = Ip4Addr::from_host(0x0a000001);
const Ip4Addr kDst4 = Ip4Addr::from_host(0x0a000002);
const Ip6Addr kSrc6 = *Ip6Addr::parse("fd00::1");
const Ip6Addr kDst6 = *Ip6Addr::parse("fd00::2");

/// An established-connection data segment as Linux sends it: ACK|PSH, NOP,NOP,TS.
TcpRepr data_segment(std::uint32_t payload_len) {
  TcpRepr r;
  r.src_port = Port{443};
  r.dst_port = Port{51234};
  r.seq = SeqNum{0x89abcdef};
  r.ack = SeqNum{0x01234567};
  r.flags = TcpFlags::ACK | TcpFlags::PSH;
  r.window = 501;
  r.options.timestamps = TcpTimestamps{0x11223344, 0x55667788};
  r.payload_len = payload_len;
  return r;
}

std::vector<std::byte> random_payload(std::size_t n) {
  std::vector<std::byte> p(n);
  std::mt19937 rng(9293);
  for (auto& b : p) b = static_cast<std::byte>(rng());
  return p;
}

/// A whole IPv4 or IPv6 packet carrying data_segment(n), built with the emitters under test.
std::vector<std::byte> build_packet(bool v6, std::size_t n) {
  const TcpRepr tcp = data_segment(static_cast<std::uint32_t>(n));
  const std::size_t ip_len = v6 ? kIpv6HeaderLen : kIpv4MinHeaderLen;
  std::vector<std::byte> pkt(ip_len + tcp.size() + n);
  const auto payload = random_payload(n);
  std::copy(payload.begin(), payload.end(), pkt.begin() + static_cast<std::ptrdiff_t>(ip_len + tcp.size()));
  const MutBytes seg{pkt.data() + ip_len, tcp.size() + n};
  if (v6) {
    tcp.emit(seg.first(tcp.size()), seg.subspan(tcp.size()), kSrc6, kDst6);
    Ipv6Repr ip;
    ip.src = kSrc6;
    ip.dst = kDst6;
    ip.next_header = IpProto::Tcp;
    ip.payload_len = static_cast<std::uint16_t>(seg.size());
    ip.emit(MutBytes{pkt.data(), ip_len});
  } else {
    tcp.emit(seg.first(tcp.size()), seg.subspan(tcp.size()), kSrc4, kDst4);
    Ipv4Repr ip;
    ip.src = kSrc4;
    ip.dst = kDst4;
    ip.protocol = IpProto::Tcp;
    ip.dont_frag = true;
    ip.payload_len = static_cast<std::uint16_t>(seg.size());
    ip.emit(MutBytes{pkt.data(), ip_len});
  }
  return pkt;
}

void BM_ParseTcpIpv4(benchmark::State& state) {
  const auto pkt = build_packet(false, static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    Bytes in = pkt;
    benchmark::DoNotOptimize(in);
    auto ipv = Ipv4View::check(in);
    auto ip = Ipv4Repr::parse(*ipv);  // verifies the header checksum
    auto tv = TcpView::check(ipv->payload());
    auto tcp = TcpRepr::parse(*tv, ip->src, ip->dst);  // verifies the segment checksum
    if (!ip || !tcp || !tcp->options.timestamps) state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(tcp);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseTcpIpv4)->Arg(0)->Arg(1448);

void BM_ParseTcpIpv6(benchmark::State& state) {
  const auto pkt = build_packet(true, static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    Bytes in = pkt;
    benchmark::DoNotOptimize(in);
    auto ipv = Ipv6View::check(in);
    auto ip = Ipv6Repr::parse(*ipv);
    auto chain = walk_ext_headers(*ipv);  // what the stack does to find the upper layer
    auto tv = TcpView::check(ipv->bytes().subspan(chain->upper_offset));
    auto tcp = TcpRepr::parse(*tv, ip->src, ip->dst);
    if (!ip || !chain || !tcp || !tcp->options.timestamps) state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(tcp);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseTcpIpv6)->Arg(0)->Arg(1448);

/// Emits the TCP header (with checksum over pseudo-header, header and payload) in front of a
/// payload already in the buffer, as the engine does into PacketBuf headroom.
template <bool V6>
void BM_EmitTcp(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  TcpRepr r = data_segment(static_cast<std::uint32_t>(n));
  const IpAddr src = V6 ? IpAddr{kSrc6} : IpAddr{kSrc4};
  const IpAddr dst = V6 ? IpAddr{kDst6} : IpAddr{kDst4};
  std::vector<std::byte> buf(r.size() + n);
  const auto payload = random_payload(n);
  std::copy(payload.begin(), payload.end(), buf.begin() + static_cast<std::ptrdiff_t>(r.size()));
  const MutBytes header{buf.data(), r.size()};
  const Bytes body{buf.data() + r.size(), n};
  for (auto _ : state) {
    r.seq += 1;  // a fresh segment each time, as on the wire
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(r.emit(header, body, src, dst));
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EmitTcp<false>)->Name("BM_EmitTcpIpv4")->Arg(0)->Arg(1448);
BENCHMARK(BM_EmitTcp<true>)->Name("BM_EmitTcpIpv6")->Arg(0)->Arg(1448);

/// The SYN with every option (MSS, SACK-permitted, TS, WS): the longest option layout.
void BM_EmitTcpSynIpv4(benchmark::State& state) {
  TcpRepr r = data_segment(0);
  r.ack.reset();
  r.flags = TcpFlags::SYN;
  r.options.mss = 1460;
  r.options.sack_permitted = true;
  r.options.wscale = 7;
  std::vector<std::byte> buf(r.size());
  const IpAddr src{kSrc4};
  const IpAddr dst{kDst4};
  for (auto _ : state) {
    r.seq += 1;
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(r.emit(buf, {}, src, dst));
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EmitTcpSynIpv4);

/// The header-only cost when the payload's checksum was taken while copying it in.
void BM_EmitTcpWithPayloadSumIpv4(benchmark::State& state) {
  TcpRepr r = data_segment(1448);
  const auto payload = random_payload(1448);
  const std::uint64_t payload_sum = checksum::add(payload);
  std::vector<std::byte> buf(r.size());
  const IpAddr src{kSrc4};
  const IpAddr dst{kDst4};
  for (auto _ : state) {
    r.seq += 1;
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(r.emit_with_payload_sum(buf, payload_sum, payload.size(), src, dst));
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EmitTcpWithPayloadSumIpv4);

}  // namespace
