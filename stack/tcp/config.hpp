#pragma once
// Configuration and counters of the TCP engine. Every limit has a safe default (STYLE rule 9).
#include <cstdint>
#include <string_view>

#include "stack/core/counters.hpp"
#include "stack/core/time.hpp"

namespace tunstack::tcp {

/// Settings of the TCP engine; the defaults suit a desktop-sized TUN gateway.
struct TcpConfig {
  std::size_t mtu = 1500;                  ///< of the TUN: our MSS is derived from it
  std::uint32_t rcv_buf = 256u << 10;      ///< receive buffer per connection (client -> remote)
  std::uint32_t snd_buf = 256u << 10;      ///< send buffer per connection (remote -> client)
  std::uint32_t min_buf = 4u << 10;        ///< buffers below this are raised to it
  std::uint32_t max_buf = 16u << 20;       ///< buffers above this are cut to it
  std::uint32_t initial_window_segments = 10;  ///< RFC 6928
  Duration rto_initial = std::chrono::seconds(1);   ///< RFC 6298 §2.1
  Duration rto_min = std::chrono::milliseconds(200);  ///< Linux's floor (RFC 6298 says 1 s)
  Duration rto_max = std::chrono::seconds(60);      ///< RFC 6298 §2.5
  Duration delack_timeout = std::chrono::milliseconds(40);
  Duration time_wait = std::chrono::seconds(2);     ///< short: we only terminate, never reuse ports
  Duration fin_wait2_timeout = std::chrono::seconds(60);
  Duration connect_timeout = std::chrono::seconds(30);  ///< waiting for the outbound (SYN pending)
  std::uint32_t max_retries = 8;       ///< RTO retransmissions of data/FIN before giving up
  std::uint32_t synack_retries = 5;    ///< SYN-ACK retransmissions before giving up
  Duration keepalive_idle = std::chrono::seconds(0);  ///< 0 disables keepalive
  Duration keepalive_interval = std::chrono::seconds(75);
  std::uint32_t keepalive_probes = 9;
  std::size_t max_half_open = 1024;    ///< connections not yet established (SYN queue)
  std::size_t max_connections = 16384;
  std::uint32_t quickack_segments = 16;  ///< ACK every segment at the start (Linux quickack)
  bool immediate_synack = false;  ///< SYN-ACK before the outbound connects (default: after)
  bool sack = true;               ///< offer/accept SACK-permitted (RFC 2018)
  bool timestamps = true;         ///< offer/accept timestamps (RFC 7323)
  bool window_scale = true;       ///< offer/accept window scaling (RFC 7323)
  std::string_view cc = "newreno";  ///< congestion control: "newreno"
  std::uint64_t secret = 0x9e3779b97f4a7c15ULL;  ///< RFC 6528 key: the daemon sets a random one
  std::uint8_t hop_limit = 64;
};

/// Why the engine sent a RST.
enum class RstReason : std::uint8_t { NoConnection, Refused, Timeout, Aborted, RemoteReset, Overflow };
/// Why the engine dropped a segment.
enum class DropReason : std::uint8_t {
  Malformed, NoConnection, OutOfWindow, Paws, BadAck, NoAck, HalfOpenFull, TableFull, NoBuffer,
  ReassemblyFull, SynPending
};

/// Counters of the TCP engine (see stack/core/counters.hpp).
struct TcpStats {
  Counter segments_in = 0;
  Counter segments_out = 0;
  Counter bytes_in = 0;   ///< payload accepted in order from clients
  Counter bytes_out = 0;  ///< payload sent to clients, retransmissions included
  Counter retransmits = 0;
  Counter fast_retransmits = 0;
  Counter rto_expired = 0;
  Counter persist_probes = 0;
  Counter keepalive_probes = 0;
  Counter challenge_acks = 0;
  Counter dup_acks_in = 0;
  Counter ooo_segments = 0;
  Counter dsacks_sent = 0;
  Counter passive_opens = 0;
  Counter established = 0;
  Counter closed = 0;
  Counter time_wait_reused = 0;
  Counter connect_failed = 0;
  Counter rst_in = 0;
  Counter rst_out[6] = {};    ///< by RstReason
  Counter drops[11] = {};     ///< by DropReason
  Counter icmp_unreachable_requests = 0;
  std::uint64_t active = 0;     ///< gauge: connections in the table
  std::uint64_t half_open = 0;  ///< gauge: not yet established

  void rst(RstReason r) { ++rst_out[static_cast<std::size_t>(r)]; }
  void drop(DropReason r) { ++drops[static_cast<std::size_t>(r)]; }

  template <class F>
  void visit(F&& f) const {
    f("tcp_segments_in", segments_in);
    f("tcp_segments_out", segments_out);
    f("tcp_bytes_in", bytes_in);
    f("tcp_bytes_out", bytes_out);
    f("tcp_retransmits", retransmits);
    f("tcp_fast_retransmits", fast_retransmits);
    f("tcp_rto_expired", rto_expired);
    f("tcp_persist_probes", persist_probes);
    f("tcp_keepalive_probes", keepalive_probes);
    f("tcp_challenge_acks", challenge_acks);
    f("tcp_dup_acks_in", dup_acks_in);
    f("tcp_ooo_segments", ooo_segments);
    f("tcp_dsacks_sent", dsacks_sent);
    f("tcp_passive_opens", passive_opens);
    f("tcp_established", established);
    f("tcp_closed", closed);
    f("tcp_time_wait_reused", time_wait_reused);
    f("tcp_connect_failed", connect_failed);
    f("tcp_rst_in", rst_in);
    static constexpr const char* kRst[] = {"tcp_rst_out_no_connection", "tcp_rst_out_refused",
                                           "tcp_rst_out_timeout", "tcp_rst_out_aborted",
                                           "tcp_rst_out_remote_reset", "tcp_rst_out_overflow"};
    for (std::size_t i = 0; i < std::size(kRst); ++i) f(kRst[i], rst_out[i]);
    static constexpr const char* kDrop[] = {
        "tcp_drop_malformed", "tcp_drop_no_connection", "tcp_drop_out_of_window", "tcp_drop_paws",
        "tcp_drop_bad_ack", "tcp_drop_no_ack", "tcp_drop_half_open_full", "tcp_drop_table_full",
        "tcp_drop_no_buffer", "tcp_drop_reassembly_full", "tcp_drop_syn_pending"};
    for (std::size_t i = 0; i < std::size(kDrop); ++i) f(kDrop[i], drops[i]);
    f("tcp_icmp_unreachable_requests", icmp_unreachable_requests);
    f("tcp_active", active);
    f("tcp_half_open", half_open);
  }
};

}  // namespace tunstack::tcp
