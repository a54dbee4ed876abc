#include "tun/tcp_socket.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tunstack::tun {

TcpSocket::TcpSocket(Loop& loop, TcpSocketHandler& handler) : loop_(loop), handler_(handler) {}

TcpSocket::~TcpSocket() {
  loop_.cancel_retry(&poll_retry_);
  loop_.cancel_retry(&read_hook_);
  if (fd_ >= 0) ::close(fd_);
}

Result<TcpSocket::Ptr, std::string> TcpSocket::connect(Loop& loop, TcpSocketHandler& handler,
                                                       const Config& cfg, const Endpoint& dst) {
  Ptr sock(new TcpSocket(loop, handler));
  if (auto st = sock->setup(cfg, dst); !st) return Err{st.error()};
  sock->arm_poll();
  return sock;
}

Status<std::string> TcpSocket::setup(const Config& cfg, const Endpoint& dst) {
  const SockFamily fam = dst.addr.is_v4() ? SockFamily::V4 : SockFamily::V6;
  fd_ = ::socket(fam == SockFamily::V4 ? AF_INET : AF_INET6,
                 SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd_ < 0) return Err{"socket(TCP): " + errno_text(errno)};
  if (cfg.nodelay) {
    if (auto st = set_int(fd_, IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY"); !st) return st;
  }
  if (auto st = apply_outbound_options(fd_, {cfg.mark, cfg.bind_device, cfg.sndbuf, cfg.rcvbuf}); !st)
    return st;
  if (cfg.syn_retries > 0) {
    if (auto st = set_int(fd_, IPPROTO_TCP, TCP_SYNCNT, cfg.syn_retries, "TCP_SYNCNT"); !st) return st;
  }
  sockaddr_storage ss;
  socklen_t len = 0;
  if (!to_sockaddr(dst, fam, ss, len)) return Err{"connect: bad address " + dst.to_string()};
  // A non-blocking connect: EINPROGRESS, and the multishot poll reports POLLOUT (or POLLERR)
  // when the handshake ends. The sockets API takes a sockaddr*.
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&ss), len) < 0 && errno != EINPROGRESS) {
    // Immediate failures (ENETUNREACH for no route, EACCES...) are reported like late ones:
    // through on_connect, from the loop, never from inside this call.
    const int e = errno;
    if (e == EAGAIN || e == EADDRNOTAVAIL) return Err{"connect " + dst.to_string() + ": " + errno_text(e)};
    early_error_ = e;
  }
  return {};
}

Result<Endpoint, std::string> TcpSocket::local_endpoint() const {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) < 0)
    return Err{"getsockname: " + errno_text(errno)};
  auto ep = from_sockaddr(&ss, len);
  if (!ep) return Err{std::string("getsockname: unexpected address family")};
  return *ep;
}

long TcpSocket::read(MutBytes out) {
  if (fd_ < 0 || closing_) return -EBADF;
  const ssize_t n = ::recv(fd_, out.data(), out.size(), MSG_DONTWAIT);
  if (n < 0) return errno == EWOULDBLOCK ? -EAGAIN : -errno;
  return n;
}

long TcpSocket::write(Bytes data) {
  if (fd_ < 0 || closing_) return -EBADF;
  if (data.empty()) return 0;
  const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n < 0) {
    const int e = errno == EWOULDBLOCK ? EAGAIN : errno;
    if (e == EAGAIN) want_write_ = true;
    return -e;
  }
  if (static_cast<std::size_t>(n) < data.size()) want_write_ = true;
  return n;
}

void TcpSocket::shutdown_write() {
  if (fd_ >= 0 && !closing_) (void)::shutdown(fd_, SHUT_WR);
}

void TcpSocket::set_abortive() {
  if (fd_ < 0) return;
  linger l{};
  l.l_onoff = 1;
  l.l_linger = 0;
  (void)::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

void TcpSocket::post_read() {
  if (!closing_) loop_.post(&read_hook_);
}

void TcpSocket::run_posted() {
  if (closing_ || !connected_) return;
  ++callback_depth_;
  handler_.on_readable(*this, Loop::now());
  --callback_depth_;
  finish_if_closed();
}

void TcpSocket::arm_poll() {
  if (closing_ || poll_armed_) return;
  // One multishot poll for the socket's whole life: a CQE on each wake-up of the socket (data,
  // FIN, error, or room to write after a short write). Wake-ups are edges, so the handler reads
  // until EAGAIN or asks for the rest with post_read().
  if (!loop_.arm_poll_multishot(fd_, POLLIN | POLLOUT | POLLRDHUP | POLLERR | POLLHUP, &poll_op_)) {
    loop_.retry_later(&poll_retry_);  // stopping, or no SQE: picked up on a later iteration
    return;
  }
  poll_armed_ = true;
  ++inflight_;
}

void TcpSocket::finish_connect(unsigned events, Instant now) {
  int err = early_error_;
  socklen_t len = sizeof err;
  if (err == 0 && ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
  if (err == 0 && (events & POLLHUP) != 0) {
    // Hung up without a recorded error: only a peer address proves the handshake completed.
    sockaddr_storage ss{};
    socklen_t sl = sizeof ss;
    if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&ss), &sl) < 0) err = ECONNRESET;
  }
  connect_reported_ = true;
  connected_ = err == 0;
  handler_.on_connect(*this, err, now);
}

void TcpSocket::on_poll(int res, std::uint32_t flags) {
  if ((flags & IORING_CQE_F_MORE) == 0) {
    poll_armed_ = false;
    --inflight_;
  }
  if (finish_if_closed()) return;
  if (res == -ECANCELED) {
    loop_.retry_later(&poll_retry_);  // the loop is stopping; re-armed if it runs again
    return;
  }
  if (res < 0) {
    loop_.retry_later(&poll_retry_);  // unexpected: retry after a pause, never spin
    return;
  }
  const auto ev = static_cast<unsigned>(res);
  const Instant now = Loop::now();
  ++callback_depth_;
  if (!connect_reported_) {
    // The handshake ended one way or the other (POLLOUT alone while SYN_SENT cannot happen).
    if ((ev & (POLLOUT | POLLERR | POLLHUP)) != 0) finish_connect(ev, now);
  } else if (connected_) {
    if ((ev & (POLLIN | POLLRDHUP | POLLERR | POLLHUP)) != 0 && !closing_) handler_.on_readable(*this, now);
    if ((ev & POLLOUT) != 0 && want_write_ && !closing_) {
      want_write_ = false;
      handler_.on_writable(*this, now);
    }
  }
  --callback_depth_;
  if (finish_if_closed()) return;
  if (!poll_armed_ && !((ev & (POLLERR | POLLHUP)) != 0)) arm_poll();  // a multishot can end early
}

void TcpSocket::close() {
  if (closing_) return;
  closing_ = true;
  loop_.cancel_retry(&poll_retry_);
  loop_.cancel_retry(&read_hook_);
  if (poll_armed_ && loop_.cancel(&poll_op_, &cancel_op_)) ++inflight_;
  finish_if_closed();
}

void TcpSocket::on_cancel(int /*res*/, std::uint32_t flags) {
  if ((flags & IORING_CQE_F_MORE) == 0) --inflight_;
  finish_if_closed();
}

bool TcpSocket::finish_if_closed() {
  if (!closing_) return false;
  if (inflight_ == 0 && callback_depth_ == 0) delete this;
  return true;
}

}  // namespace tunstack::tun
