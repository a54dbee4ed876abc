// Fuzzes the whole sans-IO input path: arbitrary bytes go into Host::on_packet as TUN packets,
// UDP flows through the full-cone NAT to the echo outbound and back through the return path,
// pings are forwarded the same way, and time moves on so reassembly and NAT expiry run.
// Invariants checked: nothing crashes or leaks; every emitted packet is at most the MTU and
// parses as IPv4/IPv6; the pool and tables stay within their caps.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "dispatch/builtin.hpp"
#include "nat/return_path.hpp"
#include "nat/udp_nat.hpp"
#include "stack/host.hpp"
#include "stack/wire/ipv4.hpp"
#include "stack/wire/ipv6.hpp"

namespace {

using namespace tunstack;

constexpr std::size_t kMtu = 1280;

class CheckingOutput final : public PacketOutput {
 public:
  void emit(PacketBuf p) override {
    if (p.size() > kMtu) std::abort();
    const auto v = p.size() > 0 ? load_u8(p.data()) >> 4 : 0;
    if (v == 4 && !wire::Ipv4View::check(p.view()).ok()) std::abort();
    if (v == 6 && !wire::Ipv6View::check(p.view()).ok()) std::abort();
    if (v != 4 && v != 6) std::abort();
  }
};

class ToNat final : public UdpHandler, public EchoHandler {
 public:
  ToNat(nat::UdpNat& udp, nat::UdpNat& ping) : udp_(udp), ping_(ping) {}
  void on_udp(Instant now, const Endpoint& s, const Endpoint& d, PacketBuf p) override {
    udp_.on_datagram(now, s, d, std::move(p));
  }
  void on_echo_request(Instant now, const Endpoint& c, const IpAddr& d, PacketBuf m) override {
    ping_.on_datagram(now, c, Endpoint{d, Port{0}}, std::move(m));
  }
  nat::UdpNat& udp_;
  nat::UdpNat& ping_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  BufPool::Config pc;
  pc.max_bytes = 8u << 20;
  BufPool pool(pc);
  {
    CheckingOutput out;
    dispatch::TaskQueue tasks;
    dispatch::SingleDispatcher d(dispatch::make_echo_outbound(tasks, dispatch::EchoConfig{8}));
    HostConfig hc;
    hc.mtu = kMtu;
    hc.reassembly.max_bytes = 1u << 20;
    Host host(hc, pool, out);
    nat::ReturnPath rp(nat::ReturnPathConfig{kMtu, 64}, pool, out, host.icmp_errors());
    nat::UdpNatConfig uc;
    uc.max_mappings = 16;
    uc.idle_timeout = std::chrono::seconds(120);
    nat::UdpNat udp(uc, d, rp, instant_from_ns(0));
    uc.proto = dispatch::Proto::Icmp;
    nat::UdpNat ping(uc, d, rp, instant_from_ns(0));
    ToNat to_nat(udp, ping);
    host.set_udp_handler(&to_nat);
    host.set_echo_handler(&to_nat);

    // Input: a sequence of [u16 length][u8 time step][bytes] records.
    Instant now = instant_from_ns(1'000'000'000);
    std::size_t i = 0;
    while (i + 3 <= size) {
      const std::size_t len = (std::size_t{data[i]} << 8 | data[i + 1]) % 2048;
      now += std::chrono::seconds(data[i + 2] % 64);
      i += 3;
      const std::size_t n = len < size - i ? len : size - i;
      host.on_packet(now, pool.copy_of(as_bytes(data + i, n)));
      tasks.run_all();
      host.poll(now);
      udp.poll(now);
      ping.poll(now);
      i += n;
      if (udp.size() > 16 || ping.size() > 16) std::abort();
    }
  }
  if (pool.stats().blocks_out != 0) std::abort();  // every buffer came back
  return 0;
}
