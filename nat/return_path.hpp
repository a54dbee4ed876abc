#pragma once
// Builds what goes back into the TUN toward a NAT client: UDP datagrams from remotes (headers
// prepended in the payload's headroom, fragmented to the TUN MTU), echo replies for forwarded
// pings, and ICMP errors that tell the client's kernel a destination is unreachable.
#include <cstdint>

#include "dispatch/dispatcher.hpp"
#include "stack/core/counters.hpp"
#include "stack/core/packet_buf.hpp"
#include "stack/core/packet_output.hpp"
#include "stack/icmp/icmp_out.hpp"

namespace tunstack::nat {

/// Settings of the return path.
struct ReturnPathConfig {
  std::size_t mtu = 1500;       ///< the TUN MTU: nothing larger is ever emitted
  std::uint8_t hop_limit = 64;  ///< TTL / hop limit of generated packets
};

/// What the return path did, including every packet it could not build.
struct ReturnPathStats {
  Counter udp_packets = 0;       ///< IP packets emitted for UDP (fragments count one each)
  Counter udp_fragmented = 0;    ///< datagrams that needed fragmentation
  Counter echo_replies = 0;      ///< forwarded pings answered
  Counter drop_no_buffer = 0;    ///< the pool was exhausted
  Counter drop_too_large = 0;    ///< larger than IP can carry
  Counter drop_no_headroom = 0;  ///< the payload buffer lacked room for the headers
  Counter drop_bad_echo = 0;     ///< an outbound handed back something that is not an echo reply

  template <class F>
  void visit(F&& f) const {
    f("return_udp_packets", udp_packets);
    f("return_udp_fragmented", udp_fragmented);
    f("return_echo_replies", echo_replies);
    f("return_drop_no_buffer", drop_no_buffer);
    f("return_drop_too_large", drop_too_large);
    f("return_drop_no_headroom", drop_no_headroom);
    f("return_drop_bad_echo", drop_bad_echo);
  }
};

/// Packet builder toward NAT clients.
class ReturnPath {
 public:
  ReturnPath(ReturnPathConfig cfg, BufPool& pool, PacketOutput& out, icmp::ErrorSender& errors)
      : cfg_(cfg), pool_(pool), out_(out), errors_(errors) {}

  /// Emits a UDP datagram from `from` to `to` carrying `payload`; false (and counted) on failure.
  bool udp(const Endpoint& from, const Endpoint& to, PacketBuf payload);
  /// Emits an echo reply from `from` to the pinging client; `client.port` holds the client's echo
  /// identifier, `message` the reply as the outbound received it (ICMP header included).
  bool echo_reply(const IpAddr& from, const Endpoint& client, Bytes message);
  /// Emits the ICMP error `err` describes about a datagram `client` sent to err.remote with
  /// `sent_len` payload bytes; the quoted packet is rebuilt from those facts.
  bool icmp_error(Instant now, const dispatch::RemoteError& err, const Endpoint& client,
                  std::size_t sent_len, dispatch::Proto proto);

  const ReturnPathStats& stats() const { return stats_; }
  const ReturnPathConfig& config() const { return cfg_; }

 private:
  ReturnPathConfig cfg_;
  BufPool& pool_;
  PacketOutput& out_;
  icmp::ErrorSender& errors_;
  ReturnPathStats stats_;
  std::uint32_t next_ident_ = 1;
};

}  // namespace tunstack::nat
