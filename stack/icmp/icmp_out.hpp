#pragma once
// ICMP messages the stack originates toward the client: errors (unreachable, packet too big,
// time exceeded, parameter problem), rate limited and checked against RFC 1122 §3.2.2 / RFC 4443
// §2.4(e), and echo replies. One place builds them for the Host and the NAT alike.
#include <cstdint>
#include <optional>

#include "stack/core/addr.hpp"
#include "stack/core/counters.hpp"
#include "stack/core/packet_buf.hpp"
#include "stack/core/packet_output.hpp"
#include "stack/icmp/rate_limiter.hpp"

namespace tunstack::icmp {

/// The ICMP errors the stack sends, independent of family (mapped to v4 or v6 type/code).
enum class ErrorKind : std::uint8_t {
  NetUnreachable,        ///< v4 3/0, v6 1/0
  HostUnreachable,       ///< v4 3/1, v6 1/3 (address unreachable)
  ProtocolUnreachable,   ///< v4 3/2, v6 4/1 (unrecognised next header; pointer required)
  PortUnreachable,       ///< v4 3/3, v6 1/4
  AdminProhibited,       ///< v4 3/13, v6 1/1
  PacketTooBig,          ///< v4 3/4 (fragmentation needed, RFC 1191), v6 2/0; `mtu` required
  TimeExceeded,          ///< v4 11/0, v6 3/0 (hop limit)
  ReassemblyTimeout,     ///< v4 11/1, v6 3/1
  ParamProblem,          ///< v4 12/0, v6 4/`code`; `pointer` required
};

/// One error to send: what, and about which packet.
struct ErrorSpec {
  ErrorKind kind = ErrorKind::PortUnreachable;
  std::uint32_t mtu = 0;      ///< PacketTooBig
  std::uint32_t pointer = 0;  ///< ParamProblem / ProtocolUnreachable (v6)
  std::uint8_t v6_code = 0;   ///< ParamProblem code for IPv6 (0, 1, 2, 3)
  IpAddr reporter;            ///< the error's source address (the unreachable host, or us)
  IpAddr client;              ///< the error's destination: the source of the offending packet
  /// The ICMP type of the offending packet when it was ICMP (errors are never sent about errors).
  std::optional<std::uint8_t> offending_icmp_type;
  bool offending_non_initial_fragment = false;
};

/// Sends ICMP errors toward the client through a PacketOutput, with a token-bucket limit.
class ErrorSender {
 public:
  struct Config {
    std::uint32_t rate_per_sec = 200;  ///< sustained errors per second
    std::uint32_t burst = 50;
    std::uint8_t hop_limit = 64;
  };
  struct Stats {
    Counter sent = 0;
    Counter rate_limited = 0;
    Counter not_allowed = 0;  ///< RFC 1122 / RFC 4443 forbid an error about that packet
    Counter no_buffer = 0;

    template <class F>
    void visit(F&& f) const {
      f("icmp_errors_sent", sent);
      f("icmp_errors_rate_limited", rate_limited);
      f("icmp_errors_not_allowed", not_allowed);
      f("icmp_errors_no_buffer", no_buffer);
    }
  };

  ErrorSender(Config cfg, BufPool& pool, PacketOutput& out)
      : cfg_(cfg), pool_(pool), out_(out), bucket_(cfg.rate_per_sec, cfg.burst) {}

  /// Sends `spec` quoting `offending` (the offending IP packet from its header; it may be cut
  /// short). True when a packet was emitted; every other outcome is counted.
  bool send(Instant now, const ErrorSpec& spec, Bytes offending);

  const Stats& stats() const { return stats_; }

 private:
  bool allowed(const ErrorSpec& spec, Bytes offending) const;

  Config cfg_;
  BufPool& pool_;
  PacketOutput& out_;
  TokenBucket bucket_;
  Stats stats_;
  std::uint16_t next_ident_ = 1;
};

/// Builds an echo reply packet (IP header included) from `from` to `to` with the given id, seq and
/// data. Invalid buffer when the pool is exhausted or the data does not fit.
[[nodiscard]] PacketBuf build_echo_reply(BufPool& pool, const IpAddr& from, const IpAddr& to,
                                         std::uint16_t id, std::uint16_t seq, Bytes data,
                                         std::uint8_t hop_limit);

}  // namespace tunstack::icmp
