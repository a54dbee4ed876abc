#pragma once
// The `direct` outbound: every flow leaves through a kernel socket of the daemon's own network
// namespace, driven by the io_uring loop. UDP mappings get one UDP socket each (so the remote sees
// one stable public endpoint per client source: the full-cone mapping); pings get one ping socket
// each. SO_MARK and SO_BINDTODEVICE keep the daemon's own traffic out of the TUN in single-
// namespace deployments.
#include <cstdint>
#include <memory>
#include <string>

#include "dispatch/dispatcher.hpp"
#include "dispatch/registry.hpp"
#include "stack/core/counters.hpp"

namespace tunstack::tun {
class Loop;
}

namespace tunstack::dispatch {

/// Settings of the direct outbound.
struct DirectConfig {
  std::uint32_t mark = 0;       ///< SO_MARK on every socket (0: none)
  std::string bind_interface;   ///< SO_BINDTODEVICE on every socket (empty: none)
  unsigned udp_queue = 256;     ///< datagrams in flight per mapping toward the remote
  int tcp_syn_retries = 0;      ///< TCP_SYNCNT of outbound streams (0: the kernel's default)
  int tcp_sndbuf = 0;           ///< SO_SNDBUF of outbound streams (0: kernel auto-tuning)
  int tcp_rcvbuf = 0;           ///< SO_RCVBUF of outbound streams (0: kernel auto-tuning)
};

/// Counters of the direct outbound (all sessions together).
struct DirectStats {
  Counter sockets_opened = 0;
  Counter socket_open_failed = 0;
  Counter ping_socket_denied = 0;  ///< ping sockets refused (net.ipv4.ping_group_range)
  Counter errors_reported = 0;     ///< ICMP errors from the error queue passed to the stack
  Counter errors_local = 0;        ///< local errors (e.g. EMSGSIZE) not passed on
  Counter streams_opened = 0;      ///< outbound TCP connects started
  Counter streams_connected = 0;
  Counter streams_refused = 0;     ///< connect answered with RST (ECONNREFUSED)
  Counter streams_unreachable = 0; ///< connect failed otherwise (timeout, ICMP unreachable)
  Counter streams_open_failed = 0; ///< local failure (socket(), fd limit, option)
  Counter streams_reset = 0;       ///< established streams that ended in an error or RST
  Counter stream_bytes_up = 0;     ///< client -> remote
  Counter stream_bytes_down = 0;   ///< remote -> client
  Counter stream_stalls = 0;       ///< reads held back because the client's side was full
  std::uint64_t streams_active = 0;  ///< gauge

  template <class F>
  void visit(F&& f) const {
    f("direct_sockets_opened", sockets_opened);
    f("direct_socket_open_failed", socket_open_failed);
    f("direct_ping_socket_denied", ping_socket_denied);
    f("direct_errors_reported", errors_reported);
    f("direct_errors_local", errors_local);
    f("direct_streams_opened", streams_opened);
    f("direct_streams_connected", streams_connected);
    f("direct_streams_refused", streams_refused);
    f("direct_streams_unreachable", streams_unreachable);
    f("direct_streams_open_failed", streams_open_failed);
    f("direct_streams_reset", streams_reset);
    f("direct_stream_bytes_up", stream_bytes_up);
    f("direct_stream_bytes_down", stream_bytes_down);
    f("direct_stream_stalls", stream_stalls);
    f("direct_streams_active", streams_active);
  }
};

/// Builds the direct outbound on `loop`.
std::unique_ptr<Outbound> make_direct_outbound(tun::Loop& loop, DirectConfig cfg);
/// The counters of a direct outbound made by make_direct_outbound (nullptr for other outbounds).
const DirectStats* direct_stats(const Outbound& out);

}  // namespace tunstack::dispatch
