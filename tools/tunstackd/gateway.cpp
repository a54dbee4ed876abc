#include "tools/tunstackd/gateway.hpp"

#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/random.h>

#include <cstdio>
#include <fstream>

#include "dispatch/direct.hpp"
#include "dispatch/guard.hpp"

namespace tunstack::daemon {
namespace {

constexpr Duration kTraceFlushInterval = std::chrono::milliseconds(200);
/// How often the guard re-reads the namespace's addresses (an address added later is covered
/// within this time; netlink would be immediate, but a poll keeps the daemon simple).
constexpr Duration kOwnAddressRefresh = std::chrono::seconds(5);

/// Every address on every interface of the daemon's network namespace.
std::vector<IpAddr> own_addresses() {
  std::vector<IpAddr> out;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return out;
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr) continue;
    if (i->ifa_addr->sa_family == AF_INET) {
      const auto* sin = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);  // NOLINT
      out.emplace_back(Ip4Addr::load(reinterpret_cast<const std::byte*>(&sin->sin_addr)));  // NOLINT
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(i->ifa_addr);  // NOLINT
      out.emplace_back(Ip6Addr::load(reinterpret_cast<const std::byte*>(&sin6->sin6_addr)));  // NOLINT
    }
  }
  ::freeifaddrs(list);
  return out;
}

dispatch::DestinationPolicy guard_policy(const Settings& s) {
  dispatch::DestinationPolicy p;
  p.set_enabled(s.block_own_host);
  if (auto rules = dispatch::parse_allow_list(s.allow)) p.set_allow(*rules);  // checked in validate()
  p.set_own_addresses(own_addresses());
  return p;
}

HostConfig host_config(const Settings& s) {
  HostConfig c;
  c.mtu = s.mtu;
  c.ping_local = s.ping_local;
  return c;
}

nat::UdpNatConfig ping_config(const Settings& s) {
  nat::UdpNatConfig c = s.nat;
  c.proto = dispatch::Proto::Icmp;
  c.idle_timeout = std::chrono::seconds(30);  // ping sessions are short-lived
  c.max_mappings = std::max<std::size_t>(64, s.nat.max_mappings / 16);
  return c;
}

tcp::TcpConfig tcp_config(const Settings& s) {
  tcp::TcpConfig c = s.tcp;
  // RFC 6528: the ISN (and timestamp offset) key must be secret and differ per run.
  std::uint64_t key = 0;
  if (::getrandom(&key, sizeof key, 0) == static_cast<ssize_t>(sizeof key)) c.secret = key;
  return c;
}

}  // namespace

Gateway::Gateway(const Settings& s, tun::Loop& loop, BufPool& pool, dispatch::TaskQueue& tasks,
                 std::unique_ptr<dispatch::Outbound> outbound)
    : settings_(s),
      loop_(loop),
      pool_(pool),
      tasks_(tasks),
      out_(loop),
      tx_(s.impair_tx, pool, out_),
      host_(host_config(s), pool, tx_),
      host_in_(host_),
      rx_(s.impair_rx, pool, host_in_, /*stream=*/0),
      return_path_(nat::ReturnPathConfig{s.mtu, 64}, pool, tx_, host_.icmp_errors()),
      outbound_(outbound.get()),
      dispatcher_(std::move(outbound)),
      policy_(guard_policy(s)),
      guard_(dispatcher_, policy_, tasks),
      udp_nat_(s.nat, guard_, return_path_, tun::Loop::now()),
      ping_nat_(ping_config(s), guard_, return_path_, tun::Loop::now()),
      tcp_(tcp_config(s), tun::Loop::now(), pool, tx_, guard_, &host_.icmp_errors()),
      udp_handler_(udp_nat_),
      echo_handler_(ping_nat_) {
  host_.set_udp_handler(&udp_handler_);
  if (!s.ping_local) host_.set_echo_handler(&echo_handler_);
  host_.set_tcp_handler(&tcp_);
  next_stats_ = tun::Loop::now();
  next_address_refresh_ = tun::Loop::now() + kOwnAddressRefresh;
  after_work(tun::Loop::now());
}

Gateway::~Gateway() = default;

void Gateway::on_tun_packets(std::span<PacketBuf> batch, Instant now) {
  host_in_.now = now;
  tcp_.begin_batch();
  for (PacketBuf& p : batch) rx_.submit(now, std::move(p));
  tcp_.end_batch();
  after_work(now);
}

void Gateway::on_timer(Instant now) {
  host_in_.now = now;
  tcp_.begin_batch();
  rx_.poll(now);
  tcp_.end_batch();
  host_.poll(now);
  udp_nat_.poll(now);
  ping_nat_.poll(now);
  tcp_.poll(now);
  tx_.imp_.poll(now);
  if (!settings_.stats_file.empty() && now >= next_stats_) {
    write_stats(settings_.stats_file);
    next_stats_ = now + settings_.stats_interval;
  }
  if (settings_.block_own_host && now >= next_address_refresh_) {
    policy_.set_own_addresses(own_addresses());
    next_address_refresh_ = now + kOwnAddressRefresh;
  }
  if (trace_ != nullptr && now >= next_trace_flush_) {
    trace_->flush();
    next_trace_flush_ = now + kTraceFlushInterval;
  }
  after_work(now);
}

void Gateway::before_wait(Instant now) {
  // Socket callbacks (a stream connected, bytes from a server) ran since the last hand-off and
  // may have armed TCP timers: fold them into the loop's deadline. TUN writes completed since
  // the last iteration freed TX slots: the fault injector's held packets (already "on the
  // network") go first, then connections that stopped at a full queue carry on.
  if (tx_.imp_.output_blocked()) tx_.imp_.poll(now);
  tcp_.on_output_room(now);
  tcp_.poll(now);
  after_work(now);
}

void Gateway::after_work(Instant now) {
  tasks_.run_all();
  // The loop wakes at the earliest deadline any component has.
  std::optional<Instant> next;
  auto consider = [&](std::optional<Instant> t) {
    if (t && (!next || *t < *next)) next = t;
  };
  consider(host_.next_deadline());
  consider(udp_nat_.next_deadline());
  consider(ping_nat_.next_deadline());
  consider(tcp_.next_deadline());
  consider(rx_.next_deadline());
  consider(tx_.imp_.next_deadline());
  if (!settings_.stats_file.empty()) consider(next_stats_);
  if (trace_ != nullptr) consider(next_trace_flush_);
  if (settings_.block_own_host) consider(next_address_refresh_);
  // Bound the sleep so that state changed from socket callbacks (closed sessions) is reaped.
  consider(now + std::chrono::seconds(1));
  loop_.set_deadline(*next);
}

void Gateway::set_trace_writer(TraceWriter* w) {
  trace_ = w;
  tcp_.set_trace_sink(w);
  next_trace_flush_ = tun::Loop::now() + kTraceFlushInterval;
}

void Gateway::visit_counters(const CounterVisitor& f) const {
  loop_.stats().visit(f);
  host_.stats().visit(f);
  host_.reassembly_stats().visit([&](std::string_view n, std::uint64_t v) {
    f("reassembly_" + std::string(n), v);
  });
  host_.icmp_errors().stats().visit(f);
  return_path_.stats().visit(f);
  udp_nat_.stats().visit(f);
  ping_nat_.stats().visit([&](std::string_view n, std::uint64_t v) {
    f("ping_" + std::string(n), v);
  });
  f("nat_mappings", udp_nat_.size());
  f("ping_nat_mappings", ping_nat_.size());
  tcp_.stats().visit(f);
  rx_.stats().visit([&](std::string_view n, std::uint64_t v) { f("impair_rx_" + std::string(n), v); });
  tx_.imp_.stats().visit([&](std::string_view n, std::uint64_t v) { f("impair_tx_" + std::string(n), v); });
  f("tun_write_refused", out_.dropped);
  if (trace_ != nullptr) trace_->stats().visit(f);
  guard_.stats().visit(f);
  const auto& ps = pool_.stats();
  f("pool_allocs", ps.allocs);
  f("pool_exhausted", ps.exhausted);
  f("pool_oversize", ps.oversize);
  f("pool_bytes_out", ps.bytes_out);
  f("pool_blocks_out", ps.blocks_out);
  if (const auto* d = dispatch::direct_stats(*outbound_)) d->visit(f);
}

bool Gateway::write_stats(const std::string& path) const {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream o(tmp, std::ios::trunc);
    if (!o) return false;
    visit_counters([&](std::string_view n, std::uint64_t v) { o << "tunstack_" << n << ' ' << v << '\n'; });
    if (!o) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

}  // namespace tunstack::daemon
