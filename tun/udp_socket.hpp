#pragma once
// A kernel UDP (or ICMP ping) socket driven by the io_uring Loop: the NAT's and dispatchers' way out.
// One exists per NAT mapping, so an idle socket must cost little: it keeps one multishot poll
// (POLLIN|POLLERR) in the kernel and no buffers. On readiness it drains the socket with
// non-blocking recvmmsg into a loop-wide scratch area sized for the largest datagram, and copies
// each datagram once into a right-sized pooled PacketBuf (with the pool's headroom in front, so
// that the NAT can prepend IP and UDP headers without copying). Sends go out as io_uring
// SENDMSGs from slots of a loop-wide pool; each keeps its PacketBuf alive until the completion.
// ICMP errors that the kernel matches to the socket (IP_RECVERR/IPV6_RECVERR) are read from the
// error queue and reported with their origin, type, code and offender, so that the NAT can turn
// them into ICMP errors toward the client (RFC 4787 §9, RFC 5508 §3.2).
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "stack/core/addr.hpp"
#include "stack/core/bytes.hpp"
#include "stack/core/packet_buf.hpp"
#include "stack/core/result.hpp"
#include "stack/core/time.hpp"
#include "tun/loop.hpp"
#include "tun/sock_util.hpp"

namespace tunstack::tun {

/// Who produced a socket error report (the kernel's SO_EE_ORIGIN_*).
enum class ErrorOrigin : std::uint8_t { None = 0, Local = 1, Icmp = 2, Icmp6 = 3, Other = 255 };

/// One error-queue entry: an ICMP error (or a local one such as EMSGSIZE) about a datagram we sent.
struct SockError {
  int error = 0;                      ///< ee_errno: ECONNREFUSED, EHOSTUNREACH, EMSGSIZE, ...
  ErrorOrigin origin = ErrorOrigin::None;
  std::uint8_t type = 0;              ///< ICMP or ICMPv6 type (origin Icmp/Icmp6)
  std::uint8_t code = 0;              ///< ICMP or ICMPv6 code
  std::uint32_t info = 0;             ///< ee_info: next-hop MTU for "fragmentation needed" / PTB
  std::optional<IpAddr> offender;     ///< the node that sent the ICMP (SO_EE_OFFENDER)
  std::optional<Endpoint> original_dst;  ///< where the offending datagram was going
  Bytes payload;  ///< the start of the offending datagram's payload; valid during the callback only
};

class UdpSocket;

/// Receives a UdpSocket's datagrams and error reports (called on the loop's thread).
class UdpHandler {
 public:
  virtual ~UdpHandler() = default;
  /// A datagram arrived; `payload` starts after the pool's headroom. The socket may be closed
  /// from here.
  virtual void on_datagram(UdpSocket& sock, PacketBuf&& payload, const Endpoint& from,
                           Instant now) = 0;
  /// An error-queue entry arrived (see SockError).
  virtual void on_error(UdpSocket& sock, const SockError& err, Instant now) = 0;
};

/// A non-blocking UDP socket whose receives and sends run on a Loop; see the file comment.
class UdpSocket {
 public:
  /// Address family: IPv4 only, IPv6 only, or an IPv6 socket that also carries IPv4 (mapped).
  using Family = SockFamily;

  /// How to open the socket; every field has a safe default.
  struct Config {
    Family family = Family::Dual;
    /// IPPROTO_UDP; or IPPROTO_ICMP (V4) / IPPROTO_ICMPV6 (V6) for an unprivileged ping socket,
    /// where datagrams are ICMP echo messages and the kernel owns the identifier (the "port").
    int protocol = IPPROTO_UDP;
    std::optional<Endpoint> bind;    ///< local address/port; default: any address, ephemeral port
    std::optional<std::uint32_t> mark;  ///< SO_MARK (policy routing; needs CAP_NET_ADMIN)
    std::string bind_device;         ///< SO_BINDTODEVICE (e.g. the uplink interface)
    /// Unused since receives became readiness-driven (no receive is kept outstanding); kept so
    /// that existing configurations compile.
    unsigned recv_depth = 4;
    /// Datagrams read per readiness wakeup before other sockets get their turn; the rest are
    /// read on the loop's next iteration.
    unsigned recv_budget = 64;
    /// Largest datagram delivered; larger ones are dropped (rx_truncated). 0: any (65535).
    std::size_t recv_buffer_size = 0;
    /// Sends in flight on this socket (their slots come from a loop-wide pool); more are
    /// dropped and counted.
    unsigned send_queue_limit = 64;
    int rcvbuf = 0;                  ///< SO_RCVBUF when non-zero
    int sndbuf = 0;                  ///< SO_SNDBUF when non-zero
  };

  /// Per-socket counters (stack/core/counters.hpp convention).
  struct Stats {
    std::uint64_t rx_datagrams = 0;
    std::uint64_t rx_bytes = 0;
    std::uint64_t rx_truncated = 0;       ///< larger than recv_buffer_size: dropped
    std::uint64_t rx_errors = 0;
    std::uint64_t rx_pool_exhausted = 0;  ///< no pooled buffer for a datagram read: dropped
    std::uint64_t rx_wakeups = 0;         ///< readiness events that led to reads
    std::uint64_t tx_datagrams = 0;
    std::uint64_t tx_bytes = 0;
    std::uint64_t tx_dropped_queue_full = 0;
    std::uint64_t tx_dropped_invalid = 0;  ///< wrong address family, closing, empty buffer
    std::uint64_t tx_errors = 0;
    std::uint64_t errqueue_messages = 0;

    template <class F>
    void visit(F&& f) const {
      f("udp_rx_datagrams", rx_datagrams);
      f("udp_rx_bytes", rx_bytes);
      f("udp_rx_truncated", rx_truncated);
      f("udp_rx_errors", rx_errors);
      f("udp_rx_pool_exhausted", rx_pool_exhausted);
      f("udp_rx_wakeups", rx_wakeups);
      f("udp_tx_datagrams", tx_datagrams);
      f("udp_tx_bytes", tx_bytes);
      f("udp_tx_dropped_queue_full", tx_dropped_queue_full);
      f("udp_tx_dropped_invalid", tx_dropped_invalid);
      f("udp_tx_errors", tx_errors);
      f("udp_errqueue_messages", errqueue_messages);
    }
  };

  /// Closes the socket when its owner lets go (see Ptr).
  struct Closer {
    void operator()(UdpSocket* s) const { s->close(); }
  };
  /// The owning handle. Releasing it cancels the socket's operations; the object frees itself
  /// once their completions have arrived, and no callback runs after release.
  using Ptr = std::unique_ptr<UdpSocket, Closer>;

  /// Opens, configures and binds a socket and starts polling it (the poll goes out with the
  /// loop's next submission). The loop and handler must outlive the socket.
  [[nodiscard]] static Result<Ptr, std::string> open(Loop& loop, UdpHandler& handler,
                                                     const Config& cfg);

  /// Queues one datagram to `dst`; the buffer is kept until the kernel is done with it. False
  /// (and counted) when the send queue is full, the address family does not fit, or closing.
  bool send_to(PacketBuf&& payload, const Endpoint& dst);
  /// The bound local address and port (getsockname; IPv4-mapped addresses come back as IPv4).
  [[nodiscard]] Result<Endpoint, std::string> local_endpoint() const;

  int fd() const { return fd_; }
  Family family() const { return cfg_.family; }
  const Stats& stats() const { return stats_; }
  /// Free for the owner: e.g. the NAT mapping this socket belongs to.
  std::uint64_t user_data = 0;

  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;

 private:
  struct SendSlot;
  struct Shared;

  UdpSocket(Loop& loop, UdpHandler& handler, const Config& cfg);
  ~UdpSocket();
  Status<std::string> setup();
  void close();
  void arm_poll();
  void on_poll(int res, std::uint32_t flags);
  void drain_recv();
  void resume_recv();
  void deliver(unsigned index);
  void on_send(SendSlot& slot, int res, std::uint32_t flags);
  void on_cancel(int res, std::uint32_t flags);
  void drain_errqueue();
  void op_done(std::uint32_t flags);
  bool finish_if_closed();

  Loop& loop_;
  UdpHandler& handler_;
  Shared* shared_ = nullptr;  ///< owned by the loop (Loop::udp_state)
  Config cfg_;
  Stats stats_;
  int fd_ = -1;
  std::size_t max_datagram_ = 0;
  std::uint32_t sends_inflight_ = 0;
  std::uint32_t inflight_ = 0;
  int callback_depth_ = 0;
  bool closing_ = false;
  bool poll_armed_ = false;
  MemberOp<UdpSocket, &UdpSocket::on_poll> poll_op_{this};
  MemberOp<UdpSocket, &UdpSocket::on_cancel> cancel_op_{this};
  MemberRetry<UdpSocket, &UdpSocket::arm_poll> poll_retry_{this};
  MemberRetry<UdpSocket, &UdpSocket::resume_recv> drain_hook_{this};
};

}  // namespace tunstack::tun
