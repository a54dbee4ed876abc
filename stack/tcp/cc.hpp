#pragma once
// Congestion control as a small interface fed by rate samples (STYLE rule 8). Per ACK the sender
// hands the controller what it learned (a RateSample: bytes newly delivered and the interval they
// took, the delivery rate, the app-limited flag, an RTT sample, bytes newly lost and SACKed, bytes
// in flight), plus congestion events (recovery entry and exit, RTO, undo of a spurious
// reduction). The controller answers with cwnd() and pacing_rate(). It never reaches into the
// sender: loss detection and recovery (SACK scoreboard, RFC 6675, RACK-TLP, PRR) live in
// recovery.hpp, and during fast recovery the sender's PRR governs how much is sent.
//
// A new algorithm is one file that defines a `final` class and one line in cc_registry.cpp.
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "stack/core/time.hpp"

namespace tunstack::tcp {

/// What one ACK told the sender (draft-cheng-iccrg-delivery-rate-estimation §3 plus RFC 6675
/// accounting). Byte counts throughout.
struct RateSample {
  Instant now{};
  std::uint32_t mss = 0;              ///< the sender's current segment size (SMSS)
  std::uint32_t acked_sacked = 0;     ///< bytes newly delivered by this ACK: cumulatively + SACKed
  std::uint32_t newly_lost = 0;       ///< bytes newly marked lost while processing this ACK
  std::uint32_t prior_in_flight = 0;  ///< bytes in flight before this ACK
  std::uint32_t in_flight = 0;        ///< bytes in flight after this ACK (RFC 6675 pipe)
  std::uint64_t delivered = 0;        ///< connection total of delivered bytes after this ACK
  /// Bytes delivered over `interval` (the rate sample); interval <= 0 means no valid sample.
  std::uint64_t sample_delivered = 0;
  Duration interval{-1};
  std::uint64_t delivery_rate = 0;    ///< bytes per second, 0 when no valid sample
  bool app_limited = false;           ///< the sample was taken while the sender was app-limited
  Duration rtt{-1};                   ///< fresh RTT sample (newest segment acked), < 0 when none
  Duration min_rtt{-1};               ///< the sender's windowed minimum RTT, < 0 when none yet
  Duration srtt{-1};                  ///< the smoothed RTT, < 0 when none yet
  /// The sender used all of cwnd in the last round (RFC 7661): a controller grows cwnd only
  /// then, never while the application or the output queue held the sender back.
  bool cwnd_limited = true;
  bool in_recovery = false;           ///< the sender is in fast recovery or RTO recovery
};

/// A congestion controller; cwnd and ssthresh in bytes (RFC 5681 names).
class CongestionControl {
 public:
  virtual ~CongestionControl() = default;
  /// The name it was registered under.
  virtual std::string_view name() const = 0;
  /// Every ACK that delivered something (cumulatively or by SACK), after loss detection ran.
  virtual void on_ack(const RateSample& rs) = 0;
  /// Fast recovery starts (RFC 5681 §3.2 step 2 / RFC 6675 §5 step 4.2): set ssthresh and the
  /// cwnd recovery ends with. `in_flight` is the flight size when the loss was detected.
  virtual void on_congestion(Instant now, std::uint32_t in_flight, std::uint32_t mss) = 0;
  /// Fast recovery ends (RFC 6675 §5: cumulative ACK beyond RecoveryPoint). The sender's PRR
  /// window ends too; the controller sets the cwnd to continue with (normally ssthresh).
  virtual void on_recovery_exit(Instant now) = 0;
  /// Retransmission timeout (RFC 5681 §3.1 eq. 4, then cwnd = 1 segment).
  virtual void on_rto(Instant now, std::uint32_t in_flight, std::uint32_t mss) = 0;
  /// The last reduction was spurious (D-SACK, RFC 3708; F-RTO/Eifel for an RTO): restore the
  /// state from before it (Linux's tcp_undo_cwnd_reduction).
  virtual void undo() = 0;
  /// The connection was idle for more than an RTO (RFC 5681 §4.1 restart window, RFC 9438
  /// §5.8): the next transmission starts from a restart window.
  virtual void on_idle_restart(Instant now, std::uint32_t mss) { (void)now; (void)mss; }
  virtual std::uint32_t cwnd() const = 0;
  virtual std::uint32_t ssthresh() const = 0;
  /// Bytes per second to pace at; 0 means the controller asks for no pacing (the sender may
  /// still pace at its default of a multiple of cwnd / srtt when tcp.pacing is on).
  virtual std::uint64_t pacing_rate() const { return 0; }
  /// True for a model-based controller (BBR) whose cwnd() also governs fast recovery: the
  /// sender then skips PRR (as Linux does for controllers with their own cong_control).
  virtual bool sets_cwnd_in_recovery() const { return false; }
  /// Short state for traces ("ss", "ca", "startup", ...).
  virtual std::string_view phase() const { return {}; }
};

/// Settings every controller reads (tcp.* in the daemon); algorithm constants live here too so
/// that a research run can change them from the config file.
struct CcParams {
  std::uint32_t initial_cwnd = 0;      ///< bytes (initial_window_segments * SMSS)
  std::uint32_t mss = 0;               ///< SMSS at creation
  bool hystart = true;                 ///< CUBIC: HyStart++ (RFC 9406) in slow start
  double cubic_beta = 0.7;             ///< RFC 9438 §4.6 beta_cubic
  double cubic_c = 0.4;                ///< RFC 9438 §4.2 C
  bool cubic_fast_convergence = true;  ///< RFC 9438 §4.7
  bool cubic_reno_friendly = true;     ///< RFC 9438 §4.3 Reno-friendly region
};

/// A registered controller: its name, a one-line description (for --help) and its factory.
struct CcAlgorithm {
  std::string_view name;
  std::string_view description;
  std::unique_ptr<CongestionControl> (*make)(const CcParams& p);
};

/// Every controller the engine knows (cc_registry.cpp: one line per algorithm).
std::span<const CcAlgorithm> cc_algorithms();
/// The controller registered as `name`; nullptr for an unknown name (the daemon's settings
/// reject unknown names at start-up with cc_algorithms() as the list of choices).
std::unique_ptr<CongestionControl> make_cc(std::string_view name, const CcParams& p);

}  // namespace tunstack::tcp
