#pragma once
// The gateway: wires the io_uring loop (tun/) to the sans-IO stack (Host), the full-cone NATs
// for UDP and pings (nat/), the TCP engine (stack/tcp/) and the chosen outbound (dispatch/). It is the loop's TunHandler: it
// feeds every packet batch to the Host, runs deferred outbound callbacks, and keeps the loop's
// deadline at the earliest of the components' deadlines.
#include <functional>
#include <memory>
#include <string>

#include "dispatch/dispatcher.hpp"
#include "dispatch/guard.hpp"
#include "dispatch/task_queue.hpp"
#include "nat/return_path.hpp"
#include "nat/udp_nat.hpp"
#include "stack/host.hpp"
#include "stack/impair/impairer.hpp"
#include "stack/tcp/layer.hpp"
#include "tools/tunstackd/settings.hpp"
#include "tools/tunstackd/trace_writer.hpp"
#include "tun/loop.hpp"

namespace tunstack::daemon {

/// The running gateway: see the file comment.
class Gateway final : public tun::TunHandler {
 public:
  /// Every counter, as (name, value), for the stats file and the exit summary.
  using CounterVisitor = std::function<void(std::string_view, std::uint64_t)>;

  Gateway(const Settings& s, tun::Loop& loop, BufPool& pool, dispatch::TaskQueue& tasks,
          std::unique_ptr<dispatch::Outbound> outbound);
  ~Gateway() override;

  void on_tun_packets(std::span<PacketBuf> batch, Instant now) override;
  void on_timer(Instant now) override;
  void before_wait(Instant now) override;
  void after_wake(Instant now) override { tcp_.advance_clock(now); }

  /// Traces TCP senders into `w` (owned by the caller, outlives the gateway); it is flushed
  /// every 200 ms and its counters join the others.
  void set_trace_writer(TraceWriter* w);

  void visit_counters(const CounterVisitor& f) const;
  /// Writes all counters in Prometheus text format to `path` (atomically, via rename).
  bool write_stats(const std::string& path) const;

 private:
  /// Packets toward the client go to the TUN through the loop's batched writes.
  class TunOutput final : public PacketOutput {
   public:
    explicit TunOutput(tun::Loop& loop) : loop_(loop) {}
    void emit(PacketBuf p) override {
      if (!loop_.write_tun(std::move(p))) ++dropped;
    }
    /// The loop's free TX slots: TCP stops at 0 instead of losing its own segments here.
    std::size_t room() const override { return loop_.tx_room(); }
    tun::Loop& loop_;
    Counter dropped = 0;
  };
  /// The fault injector toward the client (between the stack and the TUN writer). The stack also
  /// emits from socket callbacks, between the loop's hand-offs, so the time each packet enters
  /// the injector is read here rather than remembered from the last hand-off (only when it is on).
  class TxImpair final : public PacketOutput {
   public:
    TxImpair(const impair::ImpairConfig& c, BufPool& pool, PacketOutput& next)
        : imp_(c, pool, next, /*stream=*/1), next_(next) {}
    void emit(PacketBuf p) override { imp_.submit(imp_.enabled() ? tun::Loop::now() : Instant{}, std::move(p)); }
    /// The TUN's room when the injector is off. When it is on, it emulates the network (its
    /// own rate queue is the bottleneck under test), so it takes everything.
    std::size_t room() const override { return imp_.enabled() ? PacketOutput::room() : next_.room(); }
    impair::Impairer imp_;
    PacketOutput& next_;
  };
  /// The fault injector from the client: TUN packets pass it on their way into the Host.
  class HostInput final : public PacketOutput {
   public:
    explicit HostInput(Host& h) : host_(h) {}
    void emit(PacketBuf p) override { host_.on_packet(now, std::move(p)); }
    Host& host_;
    Instant now{};
  };
  /// Adapts the NAT to the Host's handler interfaces.
  class UdpToNat final : public UdpHandler {
   public:
    explicit UdpToNat(nat::UdpNat& n) : nat_(n) {}
    void on_udp(Instant now, const Endpoint& s, const Endpoint& d, PacketBuf p) override {
      nat_.on_datagram(now, s, d, std::move(p));
    }
    nat::UdpNat& nat_;
  };
  class EchoToNat final : public EchoHandler {
   public:
    explicit EchoToNat(nat::UdpNat& n) : nat_(n) {}
    void on_echo_request(Instant now, const Endpoint& c, const IpAddr& d, PacketBuf m) override {
      nat_.on_datagram(now, c, Endpoint{d, Port{0}}, std::move(m));
    }
    nat::UdpNat& nat_;
  };

  void after_work(Instant now);

  const Settings& settings_;
  tun::Loop& loop_;
  BufPool& pool_;
  dispatch::TaskQueue& tasks_;
  TunOutput out_;
  TxImpair tx_;
  Host host_;
  HostInput host_in_;
  impair::Impairer rx_;
  nat::ReturnPath return_path_;
  const dispatch::Outbound* outbound_;  // owned by dispatcher_
  dispatch::SingleDispatcher dispatcher_;
  dispatch::DestinationPolicy policy_;  ///< the gateway's own host and reserved ranges are off limits
  dispatch::GuardDispatcher guard_;     ///< every flow passes it before an outbound sees it
  nat::UdpNat udp_nat_;
  nat::UdpNat ping_nat_;
  tcp::TcpLayer tcp_;
  UdpToNat udp_handler_;
  EchoToNat echo_handler_;
  Instant next_stats_{};
  TraceWriter* trace_ = nullptr;
  Instant next_trace_flush_{};
  Instant next_address_refresh_{};
};

}  // namespace tunstack::daemon
