// tun_echo: opens a TUN, and answers every IP packet by sending it back with source and
// destination swapped (ports too for UDP/TCP; ICMP and ICMPv6 echo requests become replies).
// Used by tun_loop_test.sh to drive the Device and Loop with real kernel traffic, and as the
// packets-per-second harness for the loop. Prints "ready ..." once the device is open, and its
// counters ("name value" lines) when SIGINT/SIGTERM stops the loop.
//
// usage: tun_echo --name NAME [--mtu N] [--up] [--rx-depth N] [--ring N] [--tx-queue N]
//                 [--mode auto|reads|multishot] [--pool-kb N] [--tick-ms N] [--vnet-hdr]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "stack/checksum/checksum.hpp"
#include "stack/core/bytes.hpp"
#include "stack/core/packet_buf.hpp"
#include "tun/device.hpp"
#include "tun/loop.hpp"

using namespace tunstack;

namespace {

void swap_bytes(std::byte* a, std::byte* b, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) std::swap(a[i], b[i]);
}

// Turns an ICMP/ICMPv6 echo request at `l4` into a reply: the type changes, so does the checksum.
// Swapping the addresses leaves the ICMPv6 pseudo-header sum unchanged.
bool echo_to_reply(std::byte* l4, std::size_t len, std::uint8_t request, std::uint8_t reply) {
  if (len < 4 || load_u8(l4) != request) return false;
  const std::uint16_t old_word = load_be16(l4);
  store_u8(l4, reply);
  // RFC 1624 incremental update: only the type byte of the first word changed.
  store_be16(l4 + 2, checksum::update16(load_be16(l4 + 2), old_word, load_be16(l4)));
  return true;
}

/// Counters of the echo handler itself.
struct EchoStats {
  std::uint64_t echoed = 0;        ///< handed to write_tun and accepted
  std::uint64_t rejected = 0;      ///< write_tun refused (queue full): counted by the loop too
  std::uint64_t not_ip = 0;        ///< too short or not IPv4/IPv6: dropped
  std::uint64_t icmp_replies = 0;  ///< echo requests turned into replies (v4 + v6)
  std::uint64_t timer_ticks = 0;
};

class Echo final : public tun::TunHandler {
 public:
  Echo(tun::Loop& loop, Duration tick) : loop_(loop), tick_(tick) {}
  EchoStats stats;

  void on_tun_packets(std::span<PacketBuf> batch, Instant /*now*/) override {
    for (PacketBuf& p : batch) {
      if (!reflect(p)) {
        ++stats.not_ip;
        continue;
      }
      if (loop_.write_tun(std::move(p))) {
        ++stats.echoed;
      } else {
        ++stats.rejected;
      }
    }
  }
  void on_timer(Instant now) override {
    ++stats.timer_ticks;
    loop_.set_deadline(now + tick_);
  }

 private:
  bool reflect(PacketBuf& p) {
    std::byte* d = p.data();
    const std::size_t n = p.size();
    if (n < 1) return false;
    const unsigned version = load_u8(d) >> 4;
    if (version == 4) {
      if (n < 20) return false;
      const std::size_t ihl = (load_u8(d) & 0x0fu) * 4u;
      if (ihl < 20 || ihl > n) return false;
      swap_bytes(d + 12, d + 16, 4);
      const std::uint8_t proto = load_u8(d + 9);
      const bool first_fragment = (load_be16(d + 6) & 0x1fff) == 0;
      std::byte* l4 = d + ihl;
      if (first_fragment && proto == 1 && echo_to_reply(l4, n - ihl, 8, 0)) ++stats.icmp_replies;
      if (first_fragment && (proto == 6 || proto == 17) && n - ihl >= 4) swap_bytes(l4, l4 + 2, 2);
      return true;
    }
    if (version == 6) {
      if (n < 40) return false;
      swap_bytes(d + 8, d + 24, 16);
      const std::uint8_t next = load_u8(d + 6);  // extension headers are left alone
      std::byte* l4 = d + 40;
      if (next == 58 && echo_to_reply(l4, n - 40, 128, 129)) ++stats.icmp_replies;
      if ((next == 6 || next == 17) && n - 40 >= 4) swap_bytes(l4, l4 + 2, 2);
      return true;
    }
    return false;
  }

  tun::Loop& loop_;
  Duration tick_;
};

struct Args {
  tun::DeviceConfig dev;
  tun::Loop::Config loop;
  std::size_t pool_kb = 64 * 1024;
  long tick_ms = 100;
};

bool parse_args(int argc, char** argv, Args& a) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view k = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (k == "--up") { a.dev.up = true; continue; }
    if (k == "--vnet-hdr") { a.dev.vnet_hdr = true; continue; }
    const char* v = next();
    if (v == nullptr) return false;
    if (k == "--name") a.dev.name = v;
    else if (k == "--mtu") a.dev.mtu = static_cast<unsigned>(std::strtoul(v, nullptr, 10));
    else if (k == "--rx-depth") a.loop.rx_depth = static_cast<unsigned>(std::strtoul(v, nullptr, 10));
    else if (k == "--ring") a.loop.rx_ring_entries = static_cast<unsigned>(std::strtoul(v, nullptr, 10));
    else if (k == "--tx-queue") a.loop.tx_queue_limit = std::strtoul(v, nullptr, 10);
    else if (k == "--pool-kb") a.pool_kb = std::strtoul(v, nullptr, 10);
    else if (k == "--tick-ms") a.tick_ms = std::strtol(v, nullptr, 10);
    else if (k == "--mode") {
      const std::string_view m = v;
      if (m == "auto") a.loop.rx_mode = tun::Loop::RxMode::Auto;
      else if (m == "reads") a.loop.rx_mode = tun::Loop::RxMode::Reads;
      else if (m == "multishot") a.loop.rx_mode = tun::Loop::RxMode::MultishotRing;
      else return false;
    } else {
      return false;
    }
  }
  return true;
}

const char* mode_name(tun::Loop::RxMode m) {
  return m == tun::Loop::RxMode::MultishotRing ? "multishot" : "reads";
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!parse_args(argc, argv, args)) {
    std::fprintf(stderr, "usage: %s --name NAME [--mtu N] [--up] [--rx-depth N] [--ring N] [--tx-queue N] "
                 "[--mode auto|reads|multishot] [--pool-kb N] [--tick-ms N] [--vnet-hdr]\n", argv[0]);
    return 2;
  }
  auto dev = tun::Device::open(args.dev);
  if (!dev) {
    std::fprintf(stderr, "tun_echo: %s\n", dev.error().c_str());
    return 1;
  }
  const std::string name = dev->name();
  BufPool::Config pc;
  pc.max_bytes = args.pool_kb << 10;
  BufPool pool(pc);
  // Scoped so that the loop (and every buffer it holds) is gone before the pool.
  {
    auto loop = tun::Loop::create(pool, std::move(*dev), args.loop);
    if (!loop) {
      std::fprintf(stderr, "tun_echo: %s\n", loop.error().c_str());
      return 1;
    }
    Echo echo(**loop, std::chrono::milliseconds(args.tick_ms));
    (*loop)->set_deadline(tun::Loop::now() + std::chrono::milliseconds(args.tick_ms));
    std::printf("ready name=%s mode=%s setup_flags=0x%x\n", name.c_str(), mode_name((*loop)->rx_mode()),
                (*loop)->setup_flags());
    std::fflush(stdout);
    auto st = (*loop)->run(echo);
    if (!st) {
      std::fprintf(stderr, "tun_echo: %s\n", st.error().c_str());
      return 1;
    }
    (*loop)->stats().visit([](std::string_view k, std::uint64_t v) {
      std::printf("%.*s %llu\n", static_cast<int>(k.size()), k.data(), static_cast<unsigned long long>(v));
    });
    std::printf("echo_echoed %llu\necho_rejected %llu\necho_not_ip %llu\necho_icmp_replies %llu\n"
                "echo_timer_ticks %llu\n",
                static_cast<unsigned long long>(echo.stats.echoed),
                static_cast<unsigned long long>(echo.stats.rejected),
                static_cast<unsigned long long>(echo.stats.not_ip),
                static_cast<unsigned long long>(echo.stats.icmp_replies),
                static_cast<unsigned long long>(echo.stats.timer_ticks));
    std::printf("loop_in_flight_after_run %zu\n", (*loop)->in_flight());
  }
  std::printf("pool_blocks_out %zu\npool_exhausted %llu\n", pool.stats().blocks_out,
              static_cast<unsigned long long>(pool.stats().exhausted));
  std::fflush(stdout);
  return 0;
}
