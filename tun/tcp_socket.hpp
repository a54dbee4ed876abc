#pragma once
// A kernel TCP client socket driven by the io_uring Loop: the outbound side of a relayed stream.
// Readiness-driven like UdpSocket: the socket is non-blocking, one multishot poll stays armed in
// the kernel (POLLIN|POLLOUT|POLLRDHUP|POLLERR) and the handler reads and writes with plain
// non-blocking calls when told it can. So the socket owns no buffer at all: the kernel's socket
// buffers are the relay's queue, and back-pressure is simply "not reading" (the kernel then
// closes its receive window toward the server) or "write accepted fewer bytes" (our own TCP then
// keeps the client's bytes and its advertised window shrinks).
//
// Callbacks never run inside a call the handler made (read, write, post_read...): a handler may
// call anything from a callback, including closing the socket, which is deferred until the
// callback returns and every io_uring operation of the socket has completed.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "stack/core/addr.hpp"
#include "stack/core/bytes.hpp"
#include "stack/core/result.hpp"
#include "stack/core/time.hpp"
#include "tun/loop.hpp"
#include "tun/sock_util.hpp"

namespace tunstack::tun {

class TcpSocket;

/// What a TcpSocket reports to its owner.
class TcpSocketHandler {
 public:
  virtual ~TcpSocketHandler() = default;
  /// The connect finished: `error` is 0 on success, else the errno (ECONNREFUSED, ETIMEDOUT,
  /// EHOSTUNREACH, ENETUNREACH, EACCES...).
  virtual void on_connect(TcpSocket& sock, int error, Instant now) = 0;
  /// Data, end of stream or an error may be read (also after post_read()).
  virtual void on_readable(TcpSocket& sock, Instant now) = 0;
  /// A write that fell short (or returned -EAGAIN) can now make progress.
  virtual void on_writable(TcpSocket& sock, Instant now) = 0;
};

/// One outbound TCP connection; see the file comment.
class TcpSocket {
 public:
  /// Socket options; every field has a safe default.
  struct Config {
    std::optional<std::uint32_t> mark;  ///< SO_MARK (policy routing; needs CAP_NET_ADMIN)
    std::string bind_device;            ///< SO_BINDTODEVICE
    bool nodelay = true;  ///< TCP_NODELAY: the client's TCP already coalesced; a relay adds no delay
    int sndbuf = 0;       ///< SO_SNDBUF when non-zero (else the kernel auto-tunes)
    int rcvbuf = 0;       ///< SO_RCVBUF when non-zero (else the kernel auto-tunes)
    /// TCP_SYNCNT: SYN retransmissions before connect fails (0: the kernel's tcp_syn_retries).
    int syn_retries = 0;
  };

  /// Closes on destruction (deferred while operations are in flight).
  struct Closer {
    void operator()(TcpSocket* s) const { s->close(); }
  };
  using Ptr = std::unique_ptr<TcpSocket, Closer>;

  /// Starts a non-blocking connect to `dst`; the result arrives through handler.on_connect().
  /// Errors here are local (socket(), an option, an address the family cannot carry).
  [[nodiscard]] static Result<Ptr, std::string> connect(Loop& loop, TcpSocketHandler& handler,
                                                        const Config& cfg, const Endpoint& dst);

  /// Reads into `out`: bytes read (> 0), 0 at end of stream, or -errno (-EAGAIN: nothing now).
  long read(MutBytes out);
  /// Writes `data`: bytes taken (maybe fewer; then on_writable() follows when there is room),
  /// or -errno (-EAGAIN: none taken, on_writable() follows; -EPIPE/-ECONNRESET: the stream is gone).
  long write(Bytes data);
  /// Sends FIN after the bytes already written (shutdown(SHUT_WR)).
  void shutdown_write();
  /// Makes the coming close send RST instead of FIN (SO_LINGER 0): for aborts.
  void set_abortive();
  /// Calls handler.on_readable() on the next loop iteration (after the handler stopped reading
  /// for back-pressure, or stopped at its fairness budget with data left).
  void post_read();

  int fd() const { return fd_; }
  bool connected() const { return connected_; }
  /// Our local endpoint (for logs).
  [[nodiscard]] Result<Endpoint, std::string> local_endpoint() const;

  TcpSocket(const TcpSocket&) = delete;
  TcpSocket& operator=(const TcpSocket&) = delete;

 private:
  TcpSocket(Loop& loop, TcpSocketHandler& handler);
  ~TcpSocket();
  Status<std::string> setup(const Config& cfg, const Endpoint& dst);
  void close();
  void arm_poll();
  void on_poll(int res, std::uint32_t flags);
  void on_cancel(int res, std::uint32_t flags);
  void run_posted();
  void finish_connect(unsigned events, Instant now);
  bool finish_if_closed();

  Loop& loop_;
  TcpSocketHandler& handler_;
  int fd_ = -1;
  int early_error_ = 0;  ///< connect() failed at once; reported from the loop like a late failure
  std::uint32_t inflight_ = 0;
  int callback_depth_ = 0;
  bool connected_ = false;
  bool connect_reported_ = false;
  bool want_write_ = false;
  bool closing_ = false;
  bool poll_armed_ = false;
  MemberOp<TcpSocket, &TcpSocket::on_poll> poll_op_{this};
  MemberOp<TcpSocket, &TcpSocket::on_cancel> cancel_op_{this};
  MemberRetry<TcpSocket, &TcpSocket::arm_poll> poll_retry_{this};
  MemberRetry<TcpSocket, &TcpSocket::run_posted> read_hook_{this};
};

}  // namespace tunstack::tun
