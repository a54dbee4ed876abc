#pragma once
// The full-cone UDP NAT (RFC 4787 endpoint-independent mapping and filtering). The table is keyed
// by the client's source endpoint alone: the first datagram from a source opens one outbound
// session; datagrams from that source to any destination leave through it, and a datagram from
// any remote arriving on it goes back to that client with the remote as its source.
// Sans-IO: time arrives as a parameter; packets leave through a PacketOutput.
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "dispatch/dispatcher.hpp"
#include "nat/return_path.hpp"
#include "stack/core/counters.hpp"
#include "stack/core/flat_map.hpp"
#include "stack/core/packet_buf.hpp"
#include "stack/core/time.hpp"
#include "stack/core/timer_wheel.hpp"

namespace tunstack::nat {

/// Limits and behaviour of the NAT; every limit has a safe default.
struct UdpNatConfig {
  std::size_t max_mappings = 16384;  ///< table cap; a new client past it evicts the least recently used
  Duration idle_timeout = std::chrono::minutes(5);  ///< RFC 4787 REQ-5: >= 2 min, 5 min recommended
  bool inbound_refresh = false;      ///< RFC 4787 REQ-6: outbound always refreshes; inbound optional
  std::string inbound_tag = "tun";   ///< passed to the dispatcher in every FlowInfo
  /// Udp for datagrams; Icmp for forwarded pings (the key's port is then the echo identifier).
  dispatch::Proto proto = dispatch::Proto::Udp;
};

/// NAT counters: every created, expired or evicted mapping and every dropped datagram, by reason.
struct UdpNatStats {
  Counter mappings_created = 0;
  Counter mappings_expired = 0;
  Counter mappings_evicted = 0;
  Counter mappings_closed_by_outbound = 0;
  Counter open_failed = 0;             ///< the outbound refused to open a session (datagram dropped)
  Counter tx_datagrams = 0;            ///< client -> outbound, accepted by the session
  Counter tx_bytes = 0;
  Counter tx_drop_queue_full = 0;
  Counter tx_drop_unreachable = 0;
  Counter tx_drop_closed = 0;
  Counter rx_datagrams = 0;            ///< remote -> client, written toward the TUN
  Counter rx_bytes = 0;
  Counter rx_drop_family_mismatch = 0; ///< a reply whose family differs from the client's
  Counter rx_drop_build = 0;           ///< could not build the return packet (see ReturnPath stats)
  Counter remote_errors = 0;           ///< ICMP-style errors reported by outbounds
  Counter icmp_errors_sent = 0;        ///< ... turned into ICMP errors toward the client

  template <class F>
  void visit(F&& f) const {
    f("nat_mappings_created", mappings_created);
    f("nat_mappings_expired", mappings_expired);
    f("nat_mappings_evicted", mappings_evicted);
    f("nat_mappings_closed_by_outbound", mappings_closed_by_outbound);
    f("nat_open_failed", open_failed);
    f("nat_tx_datagrams", tx_datagrams);
    f("nat_tx_bytes", tx_bytes);
    f("nat_tx_drop_queue_full", tx_drop_queue_full);
    f("nat_tx_drop_unreachable", tx_drop_unreachable);
    f("nat_tx_drop_closed", tx_drop_closed);
    f("nat_rx_datagrams", rx_datagrams);
    f("nat_rx_bytes", rx_bytes);
    f("nat_rx_drop_family_mismatch", rx_drop_family_mismatch);
    f("nat_rx_drop_build", rx_drop_build);
    f("nat_remote_errors", remote_errors);
    f("nat_icmp_errors_sent", icmp_errors_sent);
  }
};

/// The full-cone NAT table and its per-mapping sessions. One instance serves UDP; a second one,
/// keyed by (client address, echo identifier), forwards pings the same way.
class UdpNat {
 public:
  UdpNat(UdpNatConfig cfg, dispatch::Dispatcher& dispatcher, ReturnPath& return_path, Instant now);
  ~UdpNat();
  UdpNat(const UdpNat&) = delete;
  UdpNat& operator=(const UdpNat&) = delete;

  /// A datagram the client sent (parsed off the TUN). `payload` holds only the UDP payload.
  void on_datagram(Instant now, const Endpoint& client, const Endpoint& dst, PacketBuf payload);
  /// Expires idle mappings and releases closed ones; call at next_deadline().
  void poll(Instant now);
  /// When poll() should next run.
  std::optional<Instant> next_deadline() const;

  std::size_t size() const { return index_.size(); }
  bool has_mapping(const Endpoint& client) const { return index_.find(client) != nullptr; }
  /// The outbound's public endpoint for a client's mapping, when the outbound knows it.
  std::optional<Endpoint> mapped_endpoint(const Endpoint& client) const;
  const UdpNatStats& stats() const { return stats_; }
  const UdpNatConfig& config() const { return cfg_; }

 private:
  struct Mapping;
  static constexpr std::uint32_t kNone = ~std::uint32_t{0};

  Mapping* create(Instant now, const Endpoint& client, const Endpoint& dst);
  void destroy(std::uint32_t slot);
  void touch(Mapping& m, Instant now);
  void lru_unlink(Mapping& m);
  void lru_push_front(Mapping& m);
  void reap_closed();
  void on_reply(Mapping& m, const Endpoint& from, PacketBuf payload);
  void on_remote_error(Mapping& m, const dispatch::RemoteError& err);
  void on_closed(Mapping& m);

  UdpNatConfig cfg_;
  dispatch::Dispatcher& dispatcher_;
  ReturnPath& return_path_;
  TimerWheel wheel_;
  FlatMap<Endpoint, std::uint32_t> index_;
  std::vector<std::unique_ptr<Mapping>> slots_;
  std::vector<std::uint32_t> free_slots_;
  std::vector<std::uint32_t> closed_;  // closed by their outbound; released outside its callback
  std::uint32_t lru_head_ = kNone;     // most recently used
  std::uint32_t lru_tail_ = kNone;     // least recently used: evicted first
  std::uint64_t next_flow_id_ = 1;
  Instant now_{};
  UdpNatStats stats_;
};

}  // namespace tunstack::nat
