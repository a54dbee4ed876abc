#pragma once
// Congestion control as a small interface (STYLE rule 8): the sender reports events, the
// controller answers with cwnd. It never reaches into the sender; loss recovery lives there.
#include <cstdint>
#include <memory>
#include <string_view>

#include "stack/core/time.hpp"

namespace tunstack::tcp {

/// What one cumulative ACK told the sender.
struct AckSample {
  Instant now{};
  std::uint32_t bytes_acked = 0;  ///< newly acknowledged bytes
  std::uint32_t in_flight = 0;    ///< bytes outstanding before this ACK
  std::uint32_t mss = 0;          ///< the sender's current segment size
  Duration rtt{-1};               ///< a fresh RTT sample, negative when none
  bool in_recovery = false;       ///< the sender is in fast recovery (RFC 6582)
};

/// A congestion controller; cwnd and ssthresh in bytes (RFC 5681 names).
class CongestionControl {
 public:
  virtual ~CongestionControl() = default;
  /// A cumulative ACK that advanced snd_una.
  virtual void on_ack(const AckSample& s) = 0;
  /// Loss detected by duplicate ACKs: enter recovery (RFC 5681 §3.2 step 2).
  virtual void on_congestion(Instant now, std::uint32_t in_flight, std::uint32_t mss) = 0;
  /// Retransmission timeout (RFC 5681 §3.1 eq. 4, then cwnd = 1 segment).
  virtual void on_rto(std::uint32_t in_flight, std::uint32_t mss) = 0;
  /// Full ACK ending fast recovery (RFC 6582 §3.2 step 3).
  virtual void on_recovery_exit() = 0;
  virtual std::uint32_t cwnd() const = 0;
  virtual std::uint32_t ssthresh() const = 0;
  /// Bytes per second to pace at; 0 means no pacing.
  virtual std::uint64_t pacing_rate() const { return 0; }
};

/// RFC 5681 slow start / congestion avoidance with RFC 6582 recovery hooks.
class NewReno final : public CongestionControl {
 public:
  NewReno(std::uint32_t initial_cwnd, std::uint32_t initial_ssthresh = 0x7fffffffu)
      : cwnd_(initial_cwnd), ssthresh_(initial_ssthresh) {}
  void on_ack(const AckSample& s) override;
  void on_congestion(Instant now, std::uint32_t in_flight, std::uint32_t mss) override;
  void on_rto(std::uint32_t in_flight, std::uint32_t mss) override;
  void on_recovery_exit() override { cwnd_ = ssthresh_; }
  std::uint32_t cwnd() const override { return cwnd_; }
  std::uint32_t ssthresh() const override { return ssthresh_; }

 private:
  std::uint32_t cwnd_;
  std::uint32_t ssthresh_;
  std::uint32_t ca_acked_ = 0;  ///< bytes acked toward the next cwnd increment in CA
};

/// The controller named in the config ("newreno"); nullptr for an unknown name.
std::unique_ptr<CongestionControl> make_cc(std::string_view name, std::uint32_t initial_cwnd);

}  // namespace tunstack::tcp
