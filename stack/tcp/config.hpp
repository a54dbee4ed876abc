#pragma once
// Configuration and counters of the TCP engine. Every limit has a safe default (STYLE rule 9).
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string_view>

#include "stack/core/counters.hpp"
#include "stack/core/time.hpp"
#include "stack/tcp/cc.hpp"

namespace tunstack::tcp {

/// Loss detection for the sender.
enum class RecoveryMode : std::uint8_t {
  Rack,     ///< RFC 8985 RACK-TLP over the SACK scoreboard (time-based; Linux's default)
  Sack,     ///< RFC 6675 (DupThresh on the SACK scoreboard), no RACK, no TLP
  NewReno,  ///< RFC 6582: duplicate ACKs only, SACK blocks ignored (today's behaviour)
};

/// When the sender paces its segments.
enum class PacingMode : std::uint8_t {
  Auto,  ///< only when the controller asks for a rate (BBR)
  On,    ///< always: the controller's rate, else 2 x cwnd / srtt in slow start, 1.2 x after (Linux)
  Off,   ///< never (a controller's rate is ignored)
};

/// Settings of the TCP engine; the defaults suit a desktop-sized TUN gateway.
struct TcpConfig {
  std::size_t mtu = 1500;                  ///< of the TUN: our MSS is derived from it
  /// Initial receive buffer per connection (client -> remote). Auto-tuning grows it up to
  /// rcv_buf_max; a small start keeps many slow connections cheap.
  std::uint32_t rcv_buf = 64u << 10;
  /// Initial send buffer per connection (remote -> client); grows with cwnd up to snd_buf_max.
  std::uint32_t snd_buf = 64u << 10;
  /// Receive-buffer auto-tuning ceiling (like Linux's tcp_rmem[2], 6 MiB there). 4 MiB fills
  /// 32 Gbit/s at a 1 ms client RTT, or 1.6 Gbit/s at 20 ms; storage is only held while the
  /// outbound lags, so a high ceiling costs little. Also fixes the window scale offered in the
  /// SYN-ACK (RFC 7323 §2.3: chosen once, for the largest window). Set it to rcv_buf to disable
  /// auto-tuning.
  std::uint32_t rcv_buf_max = 4u << 20;
  /// Send-buffer ceiling: the buffer follows 2 * cwnd up to it. Above Linux's tcp_wmem[2]
  /// (4 MiB) because under loss SACKed bytes hold the buffer until the hole below them is
  /// repaired: at 1% loss and 20 ms RTT, BBR moved 545 Mbit/s with 4 MiB, 623 with 8 MiB and
  /// 808 with 16 MiB (bench/e2e/loss_bench.sh). Storage grows only with a connection's cwnd.
  std::uint32_t snd_buf_max = 16u << 20;
  std::uint32_t min_buf = 4u << 10;        ///< buffers below this are raised to it
  std::uint32_t max_buf = 16u << 20;       ///< buffers (and their ceilings) above this are cut to it
  /// An empty ring keeps its storage this long before it is freed: long enough that a busy
  /// connection does not free and reallocate between two segments, short enough that idle ones
  /// hold nothing. 0 frees at once.
  Duration buf_idle_release = std::chrono::milliseconds(500);
  std::uint32_t initial_window_segments = 10;  ///< RFC 6928
  Duration rto_initial = std::chrono::seconds(1);   ///< RFC 6298 §2.1
  Duration rto_min = std::chrono::milliseconds(200);  ///< Linux's floor (RFC 6298 says 1 s)
  Duration rto_max = std::chrono::seconds(60);      ///< RFC 6298 §2.5
  Duration delack_timeout = std::chrono::milliseconds(40);
  Duration time_wait = std::chrono::seconds(2);     ///< short: we only terminate, never reuse ports
  Duration fin_wait2_timeout = std::chrono::seconds(60);
  Duration connect_timeout = std::chrono::seconds(30);  ///< waiting for the outbound to connect
  std::uint32_t max_retries = 8;       ///< RTO retransmissions of data/FIN before giving up
  /// RFC 5482 / Linux TCP_USER_TIMEOUT: abort (RST) when sent data or a window probe stays
  /// unacknowledged this long. 0 = off (max_retries decides); when set it replaces max_retries
  /// and, with keepalive, keepalive_probes (as Linux).
  Duration user_timeout = std::chrono::seconds(0);
  std::uint32_t synack_retries = 5;    ///< SYN-ACK retransmissions before giving up
  Duration keepalive_idle = std::chrono::seconds(0);  ///< 0 disables keepalive
  Duration keepalive_interval = std::chrono::seconds(75);
  std::uint32_t keepalive_probes = 9;
  std::size_t max_half_open = 1024;    ///< connections not yet established (SYN queue)
  std::size_t max_connections = 16384;
  /// RFC 4987 SYN cookies when the half-open table is full: a stateless SYN-ACK instead of a
  /// dropped SYN. A cookie connection is answered before its outbound connects (a refusal then
  /// resets the client) and, without timestamps, has no window scaling or SACK.
  bool syn_cookies = true;
  /// RFC 5961 §7: challenge ACKs sent per second, over all connections (Linux's
  /// tcp_challenge_ack_limit before 5.19). 0 = no limit.
  std::uint32_t challenge_ack_limit = 1000;
  std::uint32_t quickack_segments = 16;  ///< ACK every segment at the start (Linux quickack)
  bool immediate_synack = false;  ///< SYN-ACK before the outbound connects (default: after)
  bool sack = true;               ///< offer/accept SACK-permitted (RFC 2018)
  bool timestamps = true;         ///< offer/accept timestamps (RFC 7323)
  bool window_scale = true;       ///< offer/accept window scaling (RFC 7323)
  std::string_view cc = "cubic";  ///< congestion control: a name of cc_algorithms()
  /// Constants of the controllers (CUBIC's beta, C, fast convergence, HyStart++).
  CcParams cc_params{};
  RecoveryMode recovery = RecoveryMode::Rack;  ///< loss detection
  bool prr = true;   ///< RFC 6937 Proportional Rate Reduction in recovery (else cwnd = ssthresh)
  bool undo = true;  ///< undo spurious reductions: D-SACK (RFC 3708) and Eifel (RFC 3522)
  bool tlp = true;   ///< RFC 8985 §7 tail loss probe (with recovery = rack)
  PacingMode pacing = PacingMode::Auto;
  std::uint32_t dupthresh = 3;  ///< RFC 6675 DupThresh (recovery = sack / newreno)
  std::uint64_t secret = 0x9e3779b97f4a7c15ULL;  ///< RFC 6528 key: the daemon sets a random one
  std::uint8_t hop_limit = 64;
  /// Tests only: every connection's ISS instead of the RFC 6528 one (e.g. near 2^32 to cross
  /// the sequence wrap early). Unset in the daemon.
  std::optional<std::uint32_t> fixed_iss;
};

/// A configured buffer size within [min_buf, max_buf].
inline std::uint32_t clamp_buf(std::uint32_t v, const TcpConfig& c) {
  return v < c.min_buf ? c.min_buf : v > std::max(c.min_buf, c.max_buf) ? std::max(c.min_buf, c.max_buf) : v;
}

/// The window-scale shift we offer: the smallest that can advertise the largest receive buffer
/// auto-tuning may reach (RFC 7323 §2.3: the shift is fixed in the SYN).
inline std::uint8_t rcv_window_shift(const TcpConfig& c) {
  const std::uint32_t most = std::max(clamp_buf(c.rcv_buf, c), clamp_buf(c.rcv_buf_max, c));
  std::uint8_t shift = 0;
  while (shift < 14 && (0xffffu << shift) < most) ++shift;
  return shift;
}

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
  Counter challenge_acks_suppressed = 0;  ///< over challenge_ack_limit (RFC 5961 §7)
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
  Counter syncookies_sent = 0;    ///< stateless SYN-ACKs (half-open table full)
  Counter syncookies_ok = 0;      ///< ACKs with a valid cookie: connections made from them
  Counter syncookies_failed = 0;  ///< ACKs for no connection with an invalid cookie
  Counter user_timeouts = 0;      ///< aborts by user_timeout (also counted in rst_out timeout)
  Counter rcv_buf_grown = 0;      ///< receive-buffer auto-tuning steps
  Counter snd_buf_grown = 0;      ///< send-buffer auto-tuning steps
  Counter recoveries = 0;         ///< fast recoveries entered (any loss detection)
  Counter lost_segments = 0;      ///< segments marked lost (RACK, DupThresh or RTO)
  Counter rack_reorder_timeouts = 0;  ///< RACK reordering timer expiries (RFC 8985 §6.2)
  Counter tlp_probes = 0;         ///< tail loss probes sent (RFC 8985 §7)
  Counter tlp_recoveries = 0;     ///< losses repaired by a probe alone (RFC 8985 §7.4)
  Counter undos = 0;              ///< reductions undone as spurious (D-SACK / Eifel)
  Counter spurious_rtos = 0;      ///< RTOs found spurious (Eifel, RFC 3522)
  Counter sack_blocks_in = 0;     ///< SACK blocks received
  Counter dsacks_in = 0;          ///< D-SACK blocks received (RFC 2883)
  Counter sack_reneging = 0;      ///< the client dropped data it had SACKed (RFC 2018 §8)
  Counter output_queue_full = 0;  ///< sends deferred because the TUN output queue was full
  Counter output_no_buffer = 0;   ///< sends deferred because the packet pool was empty
  std::uint64_t active = 0;     ///< gauge: connections in the table
  std::uint64_t half_open = 0;  ///< gauge: not yet established
  std::uint64_t buffer_bytes = 0;  ///< gauge: bytes of send/receive ring storage allocated

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
    f("tcp_challenge_acks_suppressed", challenge_acks_suppressed);
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
    f("tcp_syncookies_sent", syncookies_sent);
    f("tcp_syncookies_ok", syncookies_ok);
    f("tcp_syncookies_failed", syncookies_failed);
    f("tcp_user_timeouts", user_timeouts);
    f("tcp_rcv_buf_grown", rcv_buf_grown);
    f("tcp_snd_buf_grown", snd_buf_grown);
    f("tcp_recoveries", recoveries);
    f("tcp_lost_segments", lost_segments);
    f("tcp_rack_reorder_timeouts", rack_reorder_timeouts);
    f("tcp_tlp_probes", tlp_probes);
    f("tcp_tlp_recoveries", tlp_recoveries);
    f("tcp_undos", undos);
    f("tcp_spurious_rtos", spurious_rtos);
    f("tcp_sack_blocks_in", sack_blocks_in);
    f("tcp_dsacks_in", dsacks_in);
    f("tcp_sack_reneging", sack_reneging);
    f("tcp_output_queue_full", output_queue_full);
    f("tcp_output_no_buffer", output_no_buffer);
    f("tcp_active", active);
    f("tcp_half_open", half_open);
    f("tcp_buffer_bytes", buffer_bytes);
  }
};

}  // namespace tunstack::tcp
