#include "dispatch/direct.hpp"

#include <netinet/in.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "tun/loop.hpp"
#include "tun/tcp_socket.hpp"
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

RemoteError::Kind kind_of_errno(int e) {
  using K = RemoteError::Kind;
  switch (e) {
    case ENETUNREACH: case ENETDOWN: return K::NetUnreachable;
    case EACCES: case EPERM: return K::AdminProhibited;
    case ECONNREFUSED: return K::PortUnreachable;
    default: return K::HostUnreachable;  // ETIMEDOUT, EHOSTUNREACH, EHOSTDOWN, ...
  }
}

/// Bytes of the loop-wide read area a stream reads into before handing them to the stack.
constexpr std::size_t kStreamScratch = 64u << 10;
/// Bytes one readiness event may move before yielding to other sockets (fairness).
constexpr std::size_t kStreamReadBudget = 256u << 10;

/// One relayed TCP connection leaving through a kernel socket. The stack's TCP pulls from the
/// socket only as fast as the client's window allows: when StreamSink::on_data takes fewer bytes
/// than were read, the rest waits here (at most one read's worth) and reading stops until
/// resume_reading(); the kernel then closes its window toward the server.
class DirectStreamSession final : public StreamSession, public tun::TcpSocketHandler {
 public:
  DirectStreamSession(StreamSink& sink, DirectStats& stats, std::byte* scratch)
      : sink_(sink), stats_(stats), scratch_(scratch) {
    ++stats_.streams_active;
  }
  ~DirectStreamSession() override { --stats_.streams_active; }
  DirectStreamSession(const DirectStreamSession&) = delete;
  DirectStreamSession& operator=(const DirectStreamSession&) = delete;

  Status<std::string> open(tun::Loop& loop, const DirectConfig& cfg, const FlowInfo& flow) {
    tun::TcpSocket::Config sc;
    if (cfg.mark != 0) sc.mark = cfg.mark;
    sc.bind_device = cfg.bind_interface;
    sc.syn_retries = cfg.tcp_syn_retries;
    sc.sndbuf = cfg.tcp_sndbuf;
    sc.rcvbuf = cfg.tcp_rcvbuf;
    remote_ = flow.dst;
    auto s = tun::TcpSocket::connect(loop, *this, sc, flow.dst);
    if (!s) return Err{s.error()};
    sock_ = std::move(*s);
    return {};
  }

  // StreamSession (stack -> remote).
  std::size_t send(Bytes data) override {
    if (!sock_ || !sock_->connected() || failed_) return 0;
    const long n = sock_->write(data);
    if (n > 0) {
      stats_.stream_bytes_up += static_cast<std::uint64_t>(n);
      return static_cast<std::size_t>(n);
    }
    if (n < 0 && n != -EAGAIN) fail();  // EPIPE / ECONNRESET: reported from the next poll
    return 0;
  }

  void shutdown_write() override {
    if (sock_) sock_->shutdown_write();
  }

  void abort() override {
    if (!sock_) return;
    sock_->set_abortive();  // the remote sees RST, as the client's reset asks
    sock_.reset();
  }

  void resume_reading() override {
    if (!paused_) return;
    paused_ = false;
    if (sock_) sock_->post_read();  // never re-enter the stack from inside its own call
  }

  // tun::TcpSocketHandler (remote -> stack).
  void on_connect(tun::TcpSocket&, int error, Instant) override {
    if (error == 0) {
      ++stats_.streams_connected;
      sink_.on_connected();
      return;
    }
    const bool refused = error == ECONNREFUSED || error == ECONNRESET;
    ++(refused ? stats_.streams_refused : stats_.streams_unreachable);
    RemoteError why;
    why.kind = kind_of_errno(error);
    why.remote = remote_;
    why.reporter = remote_.addr;
    sock_.reset();
    sink_.on_connect_failed(refused, why);
  }

  void on_readable(tun::TcpSocket&, Instant) override {
    if (paused_ || !sock_) return;
    if (failed_) {
      report_reset();
      return;
    }
    if (pending_len_ > 0 && !flush_pending()) return;
    std::size_t moved = 0;
    while (sock_ && !paused_ && !eof_) {
      if (moved >= kStreamReadBudget) {
        sock_->post_read();  // more may be queued: continue after other sockets had a turn
        return;
      }
      const long n = sock_->read(MutBytes{scratch_, kStreamScratch});
      if (n == -EAGAIN) return;
      if (n < 0) {
        report_reset();
        return;
      }
      if (n == 0) {
        eof_ = true;
        sink_.on_remote_fin();
        return;
      }
      moved += static_cast<std::size_t>(n);
      stats_.stream_bytes_down += static_cast<std::uint64_t>(n);
      const std::size_t len = static_cast<std::size_t>(n);
      const std::size_t took = sink_.on_data(Bytes{scratch_, len});
      if (took < len) keep(Bytes{scratch_ + took, len - took});
    }
  }

  void on_writable(tun::TcpSocket&, Instant) override { notify_writable(); }

 private:
  /// Keeps what the stack did not take and stops reading until resume_reading().
  void keep(Bytes rest) {
    if (!pending_ || pending_cap_ < rest.size()) {
      pending_ = std::make_unique<std::byte[]>(kStreamScratch);
      pending_cap_ = kStreamScratch;
    }
    std::memcpy(pending_.get(), rest.data(), rest.size());
    pending_off_ = 0;
    pending_len_ = rest.size();
    paused_ = true;
    ++stats_.stream_stalls;
  }

  /// Offers the kept bytes again; true when all were taken (the buffer is then freed).
  bool flush_pending() {
    const std::size_t took = sink_.on_data(Bytes{pending_.get() + pending_off_, pending_len_});
    pending_off_ += took;
    pending_len_ -= took;
    if (pending_len_ > 0) {
      paused_ = true;
      return false;
    }
    pending_.reset();  // an idle connection holds no relay buffer
    pending_cap_ = 0;
    return true;
  }

  void fail() {
    if (failed_) return;
    failed_ = true;
    if (sock_) sock_->post_read();
  }

  void report_reset() {
    ++stats_.streams_reset;
    sock_.reset();
    sink_.on_reset();
  }

  StreamSink& sink_;
  DirectStats& stats_;
  std::byte* scratch_;  ///< the outbound's read area, shared by all its streams (one thread)
  Endpoint remote_;
  tun::TcpSocket::Ptr sock_;
  std::unique_ptr<std::byte[]> pending_;
  std::size_t pending_cap_ = 0;
  std::size_t pending_off_ = 0;
  std::size_t pending_len_ = 0;
  bool paused_ = false;
  bool eof_ = false;
  bool failed_ = false;
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

  std::unique_ptr<StreamSession> open_stream(const FlowInfo& flow, StreamSink& sink) override {
    if (!scratch_) scratch_ = std::make_unique<std::byte[]>(kStreamScratch);
    auto s = std::make_unique<DirectStreamSession>(sink, stats_, scratch_.get());
    auto st = s->open(loop_, cfg_, flow);
    if (!st) {
      ++stats_.streams_open_failed;
      last_error_ = st.error();
      return nullptr;
    }
    ++stats_.streams_opened;
    return s;
  }

  const DirectStats& stats() const { return stats_; }
  const std::string& last_error() const { return last_error_; }

 private:
  tun::Loop& loop_;
  DirectConfig cfg_;
  DirectStats stats_;
  std::string last_error_;
  std::unique_ptr<std::byte[]> scratch_;  ///< streams' read area (allocated with the first stream)
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
