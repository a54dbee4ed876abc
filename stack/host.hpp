#pragma once
// The sans-IO entry point of the stack: the driver hands it every raw IP packet read from the TUN
// (on_packet) and calls poll() at next_deadline(). It validates and reassembles, then gives each
// datagram to the handler for its protocol (the NAT for UDP and pings, the TCP engine for TCP),
// answers what a host must answer itself, and counts every packet it drops by reason.
#include <array>
#include <cstdint>
#include <optional>

#include "stack/core/addr.hpp"
#include "stack/core/counters.hpp"
#include "stack/core/packet_buf.hpp"
#include "stack/core/packet_output.hpp"
#include "stack/core/time.hpp"
#include "stack/icmp/icmp_out.hpp"
#include "stack/ip/reassembly.hpp"
#include "stack/wire/error.hpp"

namespace tunstack {

/// Receives the UDP datagrams clients send (the full-cone NAT implements it).
class UdpHandler {
 public:
  virtual ~UdpHandler() = default;
  /// `payload` holds the UDP payload only (its headroom has room for headers to be prepended).
  virtual void on_udp(Instant now, const Endpoint& src, const Endpoint& dst, PacketBuf payload) = 0;
};

/// Receives echo requests to forward (the ping NAT implements it).
class EchoHandler {
 public:
  virtual ~EchoHandler() = default;
  /// `client` is the source address with the echo identifier as its port; `message` holds the
  /// ICMP echo request (header included).
  virtual void on_echo_request(Instant now, const Endpoint& client, const IpAddr& dst,
                               PacketBuf message) = 0;
};

/// Receives TCP segments (the TCP engine implements it).
class TcpHandler {
 public:
  virtual ~TcpHandler() = default;
  /// `segment` holds the TCP header and payload; its checksum has been verified.
  virtual void on_tcp(Instant now, const IpAddr& src, const IpAddr& dst, PacketBuf segment) = 0;
};

/// Settings of the host layer.
struct HostConfig {
  std::size_t mtu = 1500;
  bool ping_local = false;       ///< answer echo requests here instead of forwarding them
  bool verify_checksums = true;  ///< verify L4 checksums (off only when the TUN offload did)
  std::uint8_t hop_limit = 64;
  ip::Reassembler::Config reassembly;
  icmp::ErrorSender::Config icmp_errors;
};

/// Host-layer counters; drops by reason (parse errors by ParseError name).
struct HostStats {
  Counter rx_packets = 0;
  Counter rx_bytes = 0;
  Counter rx_ipv4 = 0;
  Counter rx_ipv6 = 0;
  std::array<Counter, 12> drop_parse{};  ///< indexed by wire::ParseError
  Counter drop_bad_version = 0;
  Counter drop_multicast = 0;       ///< to a multicast/broadcast destination (not served)
  Counter drop_martian_source = 0;  ///< from an address no single host can have
  Counter drop_ipv6_ext = 0;        ///< RFC 8200 says discard (with or without ICMP)
  Counter drop_fragment = 0;        ///< held or refused by reassembly (see reassembly counters)
  Counter drop_unknown_proto = 0;   ///< answered with ICMP protocol unreachable when allowed
  Counter drop_no_handler = 0;      ///< no handler for that protocol (answered with ICMP)
  Counter drop_icmp_ignored = 0;    ///< ICMP the host does not act on (errors, NDP, MLD, ...)
  Counter udp_datagrams = 0;
  Counter tcp_segments = 0;
  Counter echo_requests = 0;
  Counter echo_local_replies = 0;
  Counter reassembly_timeouts_reported = 0;

  template <class F>
  void visit(F&& f) const;
};

/// The IP layer of tunstack; see the file comment.
class Host {
 public:
  Host(HostConfig cfg, BufPool& pool, PacketOutput& out);
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  void set_udp_handler(UdpHandler* h) { udp_ = h; }
  void set_echo_handler(EchoHandler* h) { echo_ = h; }
  void set_tcp_handler(TcpHandler* h) { tcp_ = h; }

  /// One IP packet from the TUN (starting at its IP header).
  void on_packet(Instant now, PacketBuf pkt);
  /// Expires fragment reassembly; call at next_deadline().
  void poll(Instant now);
  std::optional<Instant> next_deadline() const;

  /// The error sender, shared with the NAT so all originated ICMP errors share one rate limit.
  icmp::ErrorSender& icmp_errors() { return errors_; }
  const icmp::ErrorSender& icmp_errors() const { return errors_; }
  const HostStats& stats() const { return stats_; }
  const ip::Reassembler::Stats& reassembly_stats() const { return reasm_.stats(); }
  const HostConfig& config() const { return cfg_; }

 private:
  /// Where the upper-layer header sits in a validated datagram.
  struct L4 {
    IpAddr src;
    IpAddr dst;
    std::uint8_t proto = 0;
    std::size_t offset = 0;
    std::size_t length = 0;
    std::size_t next_header_field = 9;  ///< for ICMPv6 parameter problem pointers
  };

  void input_v4(Instant now, PacketBuf pkt);
  void input_v6(Instant now, PacketBuf pkt);
  void deliver(Instant now, PacketBuf pkt, const L4& l4);
  void deliver_udp(Instant now, PacketBuf pkt, const L4& l4);
  void deliver_icmpv4(Instant now, PacketBuf pkt, const L4& l4);
  void deliver_icmpv6(Instant now, PacketBuf pkt, const L4& l4);
  void deliver_tcp(Instant now, PacketBuf pkt, const L4& l4);
  void echo(Instant now, PacketBuf pkt, const L4& l4, std::uint16_t id, std::uint16_t seq, Bytes data);
  void drop_parse(wire::ParseError e) { ++stats_.drop_parse[static_cast<std::size_t>(e)]; }
  void send_error(Instant now, const L4& l4, const PacketBuf& offending, icmp::ErrorSpec spec);
  bool source_ok(const IpAddr& src) const;

  HostConfig cfg_;
  BufPool& pool_;
  PacketOutput& out_;
  ip::Reassembler reasm_;
  icmp::ErrorSender errors_;
  UdpHandler* udp_ = nullptr;
  EchoHandler* echo_ = nullptr;
  TcpHandler* tcp_ = nullptr;
  HostStats stats_;
};

template <class F>
void HostStats::visit(F&& f) const {
  f("host_rx_packets", rx_packets);
  f("host_rx_bytes", rx_bytes);
  f("host_rx_ipv4", rx_ipv4);
  f("host_rx_ipv6", rx_ipv6);
  static constexpr const char* kParse[] = {
      "host_drop_truncated", "host_drop_bad_version", "host_drop_bad_header_length",
      "host_drop_bad_total_length", "host_drop_bad_checksum", "host_drop_bad_option",
      "host_drop_bad_ext_header", "host_drop_ext_chain_too_long", "host_drop_unknown_ext_header",
      "host_drop_bad_fragment", "host_drop_bad_type", "host_drop_bad_field"};
  static_assert(std::size(kParse) == std::tuple_size_v<decltype(drop_parse)>);
  for (std::size_t i = 0; i < drop_parse.size(); ++i) f(kParse[i], drop_parse[i]);
  f("host_drop_not_ip", drop_bad_version);
  f("host_drop_multicast", drop_multicast);
  f("host_drop_martian_source", drop_martian_source);
  f("host_drop_ipv6_ext", drop_ipv6_ext);
  f("host_drop_fragment", drop_fragment);
  f("host_drop_unknown_proto", drop_unknown_proto);
  f("host_drop_no_handler", drop_no_handler);
  f("host_drop_icmp_ignored", drop_icmp_ignored);
  f("host_udp_datagrams", udp_datagrams);
  f("host_tcp_segments", tcp_segments);
  f("host_echo_requests", echo_requests);
  f("host_echo_local_replies", echo_local_replies);
  f("host_reassembly_timeouts_reported", reassembly_timeouts_reported);
}

}  // namespace tunstack
