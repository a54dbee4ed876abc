#include "dispatch/direct.hpp"

#include <netinet/in.h>

#include <cerrno>
#include <charconv>

#include "tun/loop.hpp"
#include "tun/udp_socket.hpp"

namespace tunstack::dispatch {
namespace {

RemoteError::Kind kind_of(const tun::SockError& e) {
  using K = RemoteError::Kind;
  if (e.origin == tun::ErrorOrigin::Icmp) {
    if (e.type == 3) {
      switch (e.code) {
        case 0: case 6: case 11: return K::NetUnreachable;
        case 1: case 7: case 12: return K::HostUnreachable;
        case 2: case 3: return K::PortUnreachable;
        case 4: return K::PacketTooBig;
        case 9: case 10: case 13: return K::AdminProhibited;
        default: return K::HostUnreachable;
      }
    }
    if (e.type == 11) return K::TimeExceeded;
    return K::Other;
  }
  if (e.origin == tun::ErrorOrigin::Icmp6) {
    switch (e.type) {
      case 1:
        switch (e.code) {
          case 0: return K::NetUnreachable;
          case 1: case 5: case 6: return K::AdminProhibited;
          case 4: return K::PortUnreachable;
          default: return K::HostUnreachable;
        }
      case 2: return K::PacketTooBig;
      case 3: return K::TimeExceeded;
      default: return K::Other;
    }
  }
  return K::Other;
}

class DirectOutbound;

/// One NAT mapping's socket: datagrams (or pings) to any destination, replies from any remote.
class DirectDatagramSession final : public DatagramSession, public tun::UdpHandler {
 public:
  DirectDatagramSession(DatagramSink& sink, DirectStats& stats) : sink_(sink), stats_(stats) {}

  Status<std::string> open(tun::Loop& loop, const DirectConfig& cfg, const FlowInfo& flow) {
    tun::UdpSocket::Config sc;
    const bool v4 = flow.src.addr.is_v4();
    sc.family = v4 ? tun::UdpSocket::Family::V4 : tun::UdpSocket::Family::V6;
    if (flow.proto == Proto::Icmp) sc.protocol = v4 ? int{IPPROTO_ICMP} : int{IPPROTO_ICMPV6};
    if (cfg.mark != 0) sc.mark = cfg.mark;
    sc.bind_device = cfg.bind_interface;
    sc.send_queue_limit = cfg.udp_queue;
    auto s = tun::UdpSocket::open(loop, *this, sc);
    if (!s) return Err{s.error()};
    sock_ = std::move(*s);
    return {};
  }

  Status<SendError> send(const Endpoint& dst, PacketBuf payload) override {
    if (!sock_) return Err{SendError::Closed};
    if (dst.addr.version() != (sock_->family() == tun::UdpSocket::Family::V4 ? IpVersion::V4 : IpVersion::V6))
      return Err{SendError::Unreachable};
    if (!sock_->send_to(std::move(payload), dst)) return Err{SendError::QueueFull};
    return {};
  }

  std::optional<Endpoint> mapped_endpoint() const override {
    if (!sock_) return std::nullopt;
    auto e = sock_->local_endpoint();
    if (!e) return std::nullopt;
    return *e;
  }

  void on_datagram(tun::UdpSocket&, PacketBuf&& payload, const Endpoint& from, Instant) override {
    sink_.on_datagram(from, std::move(payload));
  }

  void on_error(tun::UdpSocket&, const tun::SockError& err, Instant) override {
    if (err.origin != tun::ErrorOrigin::Icmp && err.origin != tun::ErrorOrigin::Icmp6) {
      ++stats_.errors_local;
      return;
    }
    if (!err.original_dst) {
      ++stats_.errors_local;
      return;
    }
    ++stats_.errors_reported;
    RemoteError re;
    re.kind = kind_of(err);
    re.remote = *err.original_dst;
    re.reporter = err.offender.value_or(err.original_dst->addr);
    re.mtu = err.info;
    sink_.on_remote_error(re);
  }

 private:
  DatagramSink& sink_;
  DirectStats& stats_;
  tun::UdpSocket::Ptr sock_;
};

class DirectOutbound final : public Outbound {
 public:
  DirectOutbound(tun::Loop& loop, DirectConfig cfg) : loop_(loop), cfg_(std::move(cfg)) {}
  std::string_view name() const override { return "direct"; }

  std::unique_ptr<DatagramSession> open_datagram(const FlowInfo& flow, DatagramSink& sink) override {
    auto s = std::make_unique<DirectDatagramSession>(sink, stats_);
    auto st = s->open(loop_, cfg_, flow);
    if (!st) {
      ++stats_.socket_open_failed;
      if (flow.proto == Proto::Icmp) ++stats_.ping_socket_denied;
      last_error_ = st.error();
      return nullptr;
    }
    ++stats_.sockets_opened;
    return s;
  }

  std::unique_ptr<StreamSession> open_stream(const FlowInfo&, StreamSink&) override {
    return nullptr;  // TCP relaying arrives with the TCP engine (issue 4)
  }

  const DirectStats& stats() const { return stats_; }
  const std::string& last_error() const { return last_error_; }

 private:
  tun::Loop& loop_;
  DirectConfig cfg_;
  DirectStats stats_;
  std::string last_error_;
};

Result<unsigned, std::string> option_uint(const OutboundContext& ctx, const char* key, unsigned fallback) {
  auto it = ctx.options.find(key);
  if (it == ctx.options.end() || it->second.empty()) return fallback;
  unsigned v = 0;
  auto [end, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
  if (ec != std::errc{} || end != it->second.data() + it->second.size())
    return Err{std::string("direct: option ") + key + " wants a number, got '" + it->second + "'"};
  return v;
}

}  // namespace

std::unique_ptr<Outbound> make_direct_outbound(tun::Loop& loop, DirectConfig cfg) {
  return std::make_unique<DirectOutbound>(loop, std::move(cfg));
}

const DirectStats* direct_stats(const Outbound& out) {
  if (auto* d = dynamic_cast<const DirectOutbound*>(&out)) return &d->stats();
  return nullptr;
}

void register_direct_outbound() {
  OutboundRegistry::instance().add(
      "direct", "kernel sockets in the daemon's namespace (SO_MARK / SO_BINDTODEVICE honoured)",
      [](const OutboundContext& ctx) -> Result<std::unique_ptr<Outbound>, std::string> {
        if (ctx.loop == nullptr) return Err{std::string("direct needs the io_uring loop")};
        DirectConfig cfg;
        auto mark = option_uint(ctx, "mark", 0);
        if (!mark) return Err{mark.error()};
        cfg.mark = *mark;
        if (auto it = ctx.options.find("bind_interface"); it != ctx.options.end()) cfg.bind_interface = it->second;
        auto q = option_uint(ctx, "udp_queue", cfg.udp_queue);
        if (!q) return Err{q.error()};
        cfg.udp_queue = *q;
        return make_direct_outbound(*ctx.loop, cfg);
      });
}

}  // namespace tunstack::dispatch
