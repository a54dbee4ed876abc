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
};

/// Counters of the direct outbound (all sessions together).
struct DirectStats {
  Counter sockets_opened = 0;
  Counter socket_open_failed = 0;
  Counter ping_socket_denied = 0;  ///< ping sockets refused (net.ipv4.ping_group_range)
  Counter errors_reported = 0;     ///< ICMP errors from the error queue passed to the stack
  Counter errors_local = 0;        ///< local errors (e.g. EMSGSIZE) not passed on

  template <class F>
  void visit(F&& f) const {
    f("direct_sockets_opened", sockets_opened);
    f("direct_socket_open_failed", socket_open_failed);
    f("direct_ping_socket_denied", ping_socket_denied);
    f("direct_errors_reported", errors_reported);
    f("direct_errors_local", errors_local);
  }
};

/// Builds the direct outbound on `loop`.
std::unique_ptr<Outbound> make_direct_outbound(tun::Loop& loop, DirectConfig cfg);
/// The counters of a direct outbound made by make_direct_outbound (nullptr for other outbounds).
const DirectStats* direct_stats(const Outbound& out);

}  // namespace tunstack::dispatch
