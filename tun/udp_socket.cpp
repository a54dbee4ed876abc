#include "tun/udp_socket.hpp"

#include "tun/sock_util.hpp"

#include <linux/errqueue.h>
#include <netinet/in.h>
#include <poll.h>
#include <unistd.h>

#include <array>
#include <vector>
#include <cerrno>
#include <cstring>

namespace tunstack::tun {

namespace {

// Errors the kernel reports on a UDP socket because an ICMP error (or a local PMTU check)
// arrived for it; their details wait in the error queue.
bool is_queued_error(int e) {
  switch (e) {
    case ECONNREFUSED:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case EHOSTDOWN:
    case ENETDOWN:
    case EMSGSIZE:
    case EPROTO:
    case ENOPROTOOPT:
    case EACCES:
    case ETIMEDOUT:
      return true;
    default:
      return false;
  }
}

ErrorOrigin origin_of(std::uint8_t o) {
  switch (o) {
    case SO_EE_ORIGIN_NONE: return ErrorOrigin::None;
    case SO_EE_ORIGIN_LOCAL: return ErrorOrigin::Local;
    case SO_EE_ORIGIN_ICMP: return ErrorOrigin::Icmp;
    case SO_EE_ORIGIN_ICMP6: return ErrorOrigin::Icmp6;
    default: return ErrorOrigin::Other;
  }
}


}  // namespace

/// A send in flight: the buffer and destination stay here until the completion. Slots belong to
/// the loop (Shared) and serve whichever socket sends, so an idle socket holds none.
struct UdpSocket::SendSlot : Op {
  UdpSocket* sock = nullptr;
  PacketBuf buf;
  msghdr msg{};
  iovec iov{};
  sockaddr_storage addr{};
  static void complete(Op* op, int res, std::uint32_t flags) {
    auto* s = static_cast<SendSlot*>(op);
    s->sock->on_send(*s, res, flags);
  }
};

/// What the sockets of one loop share: the receive scratch and the pool of send slots.
struct UdpSocket::Shared final : Loop::Attachment {
  /// Datagrams per recvmmsg call.
  static constexpr unsigned kBatch = 16;
  /// Scratch per datagram: more than 65507, the largest UDP payload over IPv4 (RFC 768's 16-bit
  /// length less the headers), and 65535 - 8 over IPv6 without jumbograms (RFC 8200 §5).
  static constexpr std::size_t kSlotBytes = 65536;
  /// Send slots are made in chunks as the loop-wide number in flight grows (never shrinks).
  static constexpr std::size_t kChunk = 64;
  /// Bound on send slots per loop (~17 MB): beyond it sends are dropped as queue-full.
  static constexpr std::size_t kMaxSendSlots = 65536;

  // The scratch is uninitialised heap memory (new[] without "()"), so its pages are only
  // faulted in when a datagram is that large: 1 MiB of address space, not of RSS, when idle.
  std::unique_ptr<std::byte[]> scratch;
  std::array<mmsghdr, kBatch> msgs{};
  std::array<iovec, kBatch> iovs{};
  std::array<sockaddr_storage, kBatch> addrs{};
  bool in_use = false;  ///< a drain is running (a nested one would overwrite the scratch)

  std::vector<std::unique_ptr<SendSlot[]>> chunks;
  std::vector<SendSlot*> free_slots;
  std::size_t slot_count = 0;

  void prepare_scratch() {
    if (scratch) return;
    scratch.reset(new std::byte[kBatch * kSlotBytes]);
    for (unsigned i = 0; i < kBatch; ++i) {
      iovs[i] = {scratch.get() + i * kSlotBytes, kSlotBytes};
      msgs[i].msg_hdr.msg_iov = &iovs[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &addrs[i];
    }
  }

  SendSlot* take_slot() {
    if (free_slots.empty()) {
      if (slot_count + kChunk > kMaxSendSlots) return nullptr;
      chunks.push_back(std::make_unique<SendSlot[]>(kChunk));
      slot_count += kChunk;
      free_slots.reserve(slot_count);  // give_slot() then never allocates
      SendSlot* c = chunks.back().get();
      for (std::size_t i = 0; i < kChunk; ++i) {
        c[i].on_complete = &SendSlot::complete;
        free_slots.push_back(&c[i]);
      }
    }
    SendSlot* s = free_slots.back();
    free_slots.pop_back();
    return s;
  }
  void give_slot(SendSlot* s) {
    s->sock = nullptr;
    free_slots.push_back(s);
  }
};

UdpSocket::UdpSocket(Loop& loop, UdpHandler& handler, const Config& cfg)
    : loop_(loop), handler_(handler), cfg_(cfg) {}

UdpSocket::~UdpSocket() {
  loop_.cancel_retry(&poll_retry_);
  loop_.cancel_retry(&drain_hook_);
  if (fd_ >= 0) ::close(fd_);
}

Result<UdpSocket::Ptr, std::string> UdpSocket::open(Loop& loop, UdpHandler& handler,
                                                    const Config& cfg) {
  Ptr sock(new UdpSocket(loop, handler, cfg));
  if (auto st = sock->setup(); !st) return Err{st.error()};
  sock->arm_poll();
  return sock;
}

Status<std::string> UdpSocket::setup() {
  if (cfg_.recv_budget == 0 || cfg_.send_queue_limit == 0)
    return Err{std::string("UdpSocket config: recv_budget and send_queue_limit must be positive")};
  const BufPool::Config& pc = loop_.pool().config();
  max_datagram_ = cfg_.recv_buffer_size != 0 ? cfg_.recv_buffer_size : 65535;
  if (max_datagram_ > Shared::kSlotBytes) max_datagram_ = Shared::kSlotBytes;
  if (max_datagram_ + pc.headroom > pc.large_size)
    return Err{"largest datagram " + std::to_string(max_datagram_) +
               " does not fit the pool's large class"};
  std::unique_ptr<Loop::Attachment>& state = loop_.udp_state();
  if (!state) state = std::make_unique<Shared>();
  shared_ = static_cast<Shared*>(state.get());  // only this file sets udp_state

  const int af = cfg_.family == Family::V4 ? AF_INET : AF_INET6;
  const bool ping = cfg_.protocol == IPPROTO_ICMP || cfg_.protocol == IPPROTO_ICMPV6;
  if (cfg_.protocol != IPPROTO_UDP && !ping)
    return Err{"UdpSocket: unsupported protocol " + std::to_string(cfg_.protocol)};
  if ((cfg_.protocol == IPPROTO_ICMP && cfg_.family != Family::V4) ||
      (cfg_.protocol == IPPROTO_ICMPV6 && cfg_.family != Family::V6))
    return Err{std::string("UdpSocket: a ping socket needs family V4 (ICMP) or V6 (ICMPv6)")};
  fd_ = ::socket(af, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, cfg_.protocol);
  if (fd_ < 0) {
    const int e = errno;
    std::string msg = std::string(ping ? "socket(ICMP ping): " : "socket(UDP): ") + errno_text(e);
    if (ping && (e == EACCES || e == EPERM))
      msg += " (ping sockets need the group in sysctl net.ipv4.ping_group_range)";
    return Err{msg};
  }
  if (af == AF_INET6) {
    const int v6only = cfg_.family == Family::V6 ? 1 : 0;
    if (auto st = set_int(fd_, IPPROTO_IPV6, IPV6_V6ONLY, v6only, "IPV6_V6ONLY"); !st) return st;
    if (auto st = set_int(fd_, IPPROTO_IPV6, IPV6_RECVERR, 1, "IPV6_RECVERR"); !st) return st;
  }
  if (cfg_.family != Family::V6) {
    // On a dual-stack socket IPv4 ICMP errors are queued only with the IPv4-level option too.
    if (auto st = set_int(fd_, IPPROTO_IP, IP_RECVERR, 1, "IP_RECVERR"); !st) return st;
  }
  if (auto st = apply_outbound_options(fd_, {cfg_.mark, cfg_.bind_device, cfg_.sndbuf, cfg_.rcvbuf}); !st)
    return st;
  // Bound now, so that the local port is known before the first send (the NAT publishes it).
  Endpoint local = cfg_.bind.value_or(
      Endpoint{cfg_.family == Family::V4 ? IpAddr(Ip4Addr{}) : IpAddr(Ip6Addr{}), Port{0}});
  sockaddr_storage ss;
  socklen_t len = 0;
  if (!to_sockaddr(local, cfg_.family, ss, len))
    return Err{"bind address " + local.to_string() + " does not fit the socket family"};
  if (::bind(fd_, reinterpret_cast<const sockaddr*>(&ss), len) < 0)  // sockets API needs sockaddr*
    return Err{"bind " + local.to_string() + ": " + errno_text(errno)};

  return {};
}

Result<Endpoint, std::string> UdpSocket::local_endpoint() const {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) < 0)
    return Err{"getsockname: " + errno_text(errno)};
  auto ep = from_sockaddr(&ss, len);
  if (!ep) return Err{std::string("getsockname: unexpected address family")};
  return *ep;
}

// ---- receiving ---------------------------------------------------------------------------

void UdpSocket::arm_poll() {
  if (closing_ || poll_armed_) return;
  // Multishot: a CQE each time the socket is woken (a datagram arrived, or an error was queued),
  // edge-like, so a drain runs until EAGAIN or hands the rest to the next iteration. An armed
  // poll checks the socket at once: datagrams already queued are not missed.
  if (!loop_.arm_poll_multishot(fd_, POLLIN | POLLERR, &poll_op_)) {
    loop_.retry_later(&poll_retry_);  // stopping, or no SQE: picked up on a later iteration
    return;
  }
  poll_armed_ = true;
  ++inflight_;
}

void UdpSocket::on_poll(int res, std::uint32_t flags) {
  if ((flags & IORING_CQE_F_MORE) == 0) poll_armed_ = false;
  op_done(flags);
  if (closing_) {
    finish_if_closed();
    return;
  }
  if (res == -ECANCELED) {
    loop_.retry_later(&poll_retry_);  // the loop is stopping; re-armed if it runs again
    return;
  }
  if (res < 0) {
    ++stats_.rx_errors;
    loop_.retry_later(&poll_retry_);  // unexpected: retry after a pause, never spin
    return;
  }
  if ((res & POLLERR) != 0) {
    drain_errqueue();
    if (finish_if_closed()) return;
  }
  if ((res & POLLIN) != 0) {
    ++stats_.rx_wakeups;
    drain_recv();
    if (finish_if_closed()) return;
  }
  // A multishot poll can end (e.g. CQ overflow) while the socket lives: poll again.
  if (!poll_armed_) arm_poll();
}

void UdpSocket::resume_recv() {
  if (closing_) return;
  drain_recv();
  finish_if_closed();
}

void UdpSocket::drain_recv() {
  Shared& sh = *shared_;
  if (sh.in_use) {
    loop_.post(&drain_hook_);  // a callback of another drain got here: read on the next pass
    return;
  }
  sh.prepare_scratch();
  unsigned budget = cfg_.recv_budget;
  while (budget > 0 && !closing_) {
    const unsigned want = budget < Shared::kBatch ? budget : Shared::kBatch;
    for (unsigned i = 0; i < want; ++i) sh.msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
    const int got = ::recvmmsg(fd_, sh.msgs.data(), want, MSG_DONTWAIT, nullptr);
    if (got < 0) {
      const int e = errno;
      if (e == EAGAIN || e == EWOULDBLOCK) return;  // drained: the next arrival wakes the poll
      --budget;
      if (e == EINTR) continue;
      if (is_queued_error(e)) {
        // An ICMP error was reported through the receive: read its details, keep reading.
        drain_errqueue();
        continue;
      }
      ++stats_.rx_errors;
      return;
    }
    sh.in_use = true;
    for (unsigned i = 0; i < static_cast<unsigned>(got) && !closing_; ++i) deliver(i);
    sh.in_use = false;
    budget -= static_cast<unsigned>(got);
    // Fewer than asked: the queue is empty now (an error would have been returned next).
    if (static_cast<unsigned>(got) < want) return;
  }
  // Budget spent with datagrams possibly left: continue after the other sockets' events.
  if (!closing_) loop_.post(&drain_hook_);
}

void UdpSocket::deliver(unsigned i) {
  Shared& sh = *shared_;
  const mmsghdr& m = sh.msgs[i];
  const std::size_t len = m.msg_len;
  if ((m.msg_hdr.msg_flags & MSG_TRUNC) != 0 || len > max_datagram_) {
    ++stats_.rx_truncated;  // a datagram cut short must not be forwarded as if whole
    return;
  }
  auto from = from_sockaddr(&sh.addrs[i], m.msg_hdr.msg_namelen);
  if (!from) {
    ++stats_.rx_errors;
    return;
  }
  // The one copy: into the smallest pool class that holds it, after the pool's headroom.
  PacketBuf b = loop_.pool().copy_of(Bytes(sh.scratch.get() + i * Shared::kSlotBytes, len));
  if (!b.valid()) {
    ++stats_.rx_pool_exhausted;
    return;
  }
  ++stats_.rx_datagrams;
  stats_.rx_bytes += len;
  ++callback_depth_;
  handler_.on_datagram(*this, std::move(b), *from, Loop::now());
  --callback_depth_;
}

void UdpSocket::drain_errqueue() {
  // A plain non-blocking recvmsg: this path is rare (one call per ICMP error), never blocks,
  // and keeping it synchronous avoids a second receive state machine for MSG_ERRQUEUE.
  std::array<std::byte, 512> payload;
  alignas(cmsghdr) std::array<std::byte, 512> control;
  for (int budget = 64; budget > 0 && !closing_; --budget) {
    sockaddr_storage dst{};
    iovec iov{payload.data(), payload.size()};
    msghdr m{};
    m.msg_name = &dst;
    m.msg_namelen = sizeof dst;
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = control.data();
    m.msg_controllen = control.size();
    const ssize_t n = ::recvmsg(fd_, &m, MSG_ERRQUEUE | MSG_DONTWAIT);
    if (n < 0) break;  // EAGAIN: the queue is empty
    ++stats_.errqueue_messages;
    for (cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr; c = CMSG_NXTHDR(&m, c)) {
      const bool v4 = c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR;
      const bool v6 = c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR;
      if ((!v4 && !v6) || c->cmsg_len < CMSG_LEN(sizeof(sock_extended_err))) continue;
      sock_extended_err ee;
      const unsigned char* data = CMSG_DATA(c);
      std::memcpy(&ee, data, sizeof ee);
      SockError err;
      err.error = static_cast<int>(ee.ee_errno);
      err.origin = origin_of(ee.ee_origin);
      err.type = ee.ee_type;
      err.code = ee.ee_code;
      err.info = ee.ee_info;
      // SO_EE_OFFENDER: a socket address right after the struct, AF_UNSPEC when unknown.
      const std::size_t off_len = c->cmsg_len - CMSG_LEN(sizeof ee);
      if (auto off = from_sockaddr(data + sizeof ee, off_len)) err.offender = off->addr;
      err.original_dst = from_sockaddr(&dst, m.msg_namelen);
      err.payload = Bytes(payload.data(), static_cast<std::size_t>(n));
      ++callback_depth_;
      handler_.on_error(*this, err, Loop::now());
      --callback_depth_;
      if (closing_) break;
    }
  }
}

// ---- sending -----------------------------------------------------------------------------

bool UdpSocket::send_to(PacketBuf&& payload, const Endpoint& dst) {
  PacketBuf p = std::move(payload);  // sent, or dropped and counted
  if (closing_ || !p.valid()) {
    ++stats_.tx_dropped_invalid;
    return false;
  }
  if (sends_inflight_ >= cfg_.send_queue_limit) {
    ++stats_.tx_dropped_queue_full;
    return false;
  }
  sockaddr_storage addr;
  socklen_t len = 0;
  if (!to_sockaddr(dst, cfg_.family, addr, len)) {
    ++stats_.tx_dropped_invalid;
    return false;
  }
  SendSlot* s = shared_->take_slot();
  if (s == nullptr) {
    ++stats_.tx_dropped_queue_full;
    return false;
  }
  io_uring_sqe* q = loop_.sqe();
  if (q == nullptr) {
    shared_->give_slot(s);
    ++stats_.tx_dropped_queue_full;
    return false;
  }
  s->sock = this;
  s->buf = std::move(p);
  std::memcpy(&s->addr, &addr, len);
  s->iov = {s->buf.data(), s->buf.size()};
  s->msg = {};
  s->msg.msg_name = &s->addr;
  s->msg.msg_namelen = len;
  s->msg.msg_iov = &s->iov;
  s->msg.msg_iovlen = 1;
  io_uring_prep_sendmsg(q, fd_, &s->msg, 0);
  loop_.arm(q, s);
  ++sends_inflight_;
  ++inflight_;
  return true;
}

void UdpSocket::on_send(SendSlot& s, int res, std::uint32_t flags) {
  op_done(flags);
  --sends_inflight_;
  if (res >= 0) {
    ++stats_.tx_datagrams;
    stats_.tx_bytes += static_cast<std::uint64_t>(res);
  } else {
    ++stats_.tx_errors;
  }
  s.buf = PacketBuf{};
  shared_->give_slot(&s);
  if (finish_if_closed()) return;
  // A send can fail with the error an earlier ICMP left pending; its details are queued.
  if (res < 0 && is_queued_error(-res)) {
    drain_errqueue();
    finish_if_closed();
  }
}

// ---- closing -----------------------------------------------------------------------------

void UdpSocket::op_done(std::uint32_t flags) {
  if ((flags & IORING_CQE_F_MORE) == 0) --inflight_;
}

void UdpSocket::close() {
  if (closing_) return;
  closing_ = true;
  loop_.cancel_retry(&poll_retry_);
  loop_.cancel_retry(&drain_hook_);
  // Only the poll needs cancelling: sends complete on their own (a UDP send waits at most for
  // send-buffer space).
  if (poll_armed_ && loop_.cancel(&poll_op_, &cancel_op_)) ++inflight_;
  finish_if_closed();
}

void UdpSocket::on_cancel(int /*res*/, std::uint32_t flags) {
  op_done(flags);
  finish_if_closed();
}

bool UdpSocket::finish_if_closed() {
  if (!closing_) return false;
  if (inflight_ == 0 && callback_depth_ == 0) delete this;
  return true;
}

}  // namespace tunstack::tun
