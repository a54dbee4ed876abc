#pragma once
// Per-connection sender traces for the research platform: on every ACK, every transmission and
// every change of recovery state the connection hands a TraceSample to a TraceSink. The sink
// (the daemon's writer, a test's vector) chooses at connection start which flows it wants; a
// connection nobody traces holds a null sink and pays one pointer test per event.
#include <cstdint>
#include <string_view>

#include "stack/core/addr.hpp"
#include "stack/core/time.hpp"

namespace tunstack::tcp {

/// What caused a trace sample.
enum class TraceEvent : std::uint8_t {
  Ack,            ///< an ACK was processed (after loss detection and the controller ran)
  Send,           ///< a segment with new data left
  Retransmit,     ///< a retransmission (fast, RACK, RTO recovery or TLP)
  RecoveryEnter,  ///< fast recovery started
  RecoveryExit,   ///< fast recovery ended
  Rto,            ///< retransmission timeout
  Tlp,            ///< tail loss probe sent (RFC 8985 §7)
  Undo,           ///< a reduction was undone (D-SACK, F-RTO / Eifel)
  Established,    ///< the connection was established
  Closed,         ///< the connection closed
};
/// The event's name in traces ("ack", "send", ...).
std::string_view to_string(TraceEvent e);

/// The sender's recovery state (Linux's ca_state names).
enum class RecoveryState : std::uint8_t { Open, Disorder, Recovery, Loss };
std::string_view to_string(RecoveryState s);

/// One sample of a connection's sender; sequence numbers are relative to the ISS + 1 (the
/// first data byte is 0), as tcptrace and Wireshark show them.
struct TraceSample {
  Instant at{};
  std::uint64_t flow_id = 0;
  TraceEvent event = TraceEvent::Ack;
  RecoveryState recovery = RecoveryState::Open;
  std::uint32_t snd_una = 0;
  std::uint32_t snd_nxt = 0;
  std::uint32_t seg_seq = 0;   ///< Send / Retransmit / Tlp: first byte of the segment
  std::uint32_t seg_len = 0;   ///< Send / Retransmit / Tlp: its payload length
  std::uint32_t cwnd = 0;      ///< bytes
  std::uint32_t ssthresh = 0;  ///< bytes
  std::uint32_t in_flight = 0; ///< bytes (RFC 6675 pipe)
  std::uint32_t sacked = 0;    ///< bytes SACKed above snd_una
  std::uint32_t lost = 0;      ///< bytes marked lost and not yet retransmitted
  std::uint32_t snd_wnd = 0;   ///< the client's window, bytes
  std::uint64_t pacing_rate = 0;    ///< bytes/s, 0 when not pacing
  std::uint64_t delivery_rate = 0;  ///< bytes/s of the last valid rate sample
  std::uint64_t delivered = 0;      ///< bytes delivered in total
  Duration srtt{};
  Duration rttvar{};
  Duration rto{};
  Duration min_rtt{};
  Duration rtt{-1};            ///< the RTT sample of this ACK, < 0 when none
  std::string_view cc_phase;   ///< the controller's phase() (static storage)
};

/// Where traces go. select() is asked once per connection, when it is created.
class TraceSink {
 public:
  virtual ~TraceSink() = default;
  /// True to trace the flow `flow_id` from `client` to `server`.
  virtual bool select(std::uint64_t flow_id, const Endpoint& client, const Endpoint& server) = 0;
  /// One sample; must not call back into the stack.
  virtual void record(const TraceSample& s) = 0;
  /// The traced flow ended (no more samples for it).
  virtual void end(std::uint64_t flow_id) { (void)flow_id; }
};

}  // namespace tunstack::tcp
