#pragma once
// Delivery-rate estimation (draft-cheng-iccrg-delivery-rate-estimation): each segment carries a
// snapshot of the connection's delivery state when it left (SentSeg::delivered...); each ACK
// turns the newest delivered segment's snapshot into one rate sample.
#include <cstdint>

#include "stack/core/time.hpp"
#include "stack/tcp/scoreboard.hpp"

namespace tunstack::tcp {

/// The connection-wide delivery state and the sample being built for the current ACK.
class RateEstimator {
 public:
  /// A segment leaves (new or retransmitted): stamp it. `in_flight` before it leaves.
  void on_send(SentSeg& s, Instant now, std::uint32_t in_flight);
  /// Start of an ACK's processing.
  void begin_ack() { have_prior_ = false; }
  /// `bytes` of segment `s` were delivered (cumulatively or SACKed) by the ACK at `now`.
  void on_delivered(const SentSeg& s, std::uint32_t bytes, Instant now);
  /// End of an ACK: the sample, valid when interval > 0 (and not shorter than min_rtt).
  struct Sample {
    std::uint64_t delivered = 0;
    Duration interval{-1};
    std::uint64_t rate = 0;  ///< bytes per second
    bool app_limited = false;
  };
  Sample end_ack(Duration min_rtt);

  /// The application (or the send buffer) ran dry with room in cwnd: samples taken until the
  /// bytes now in flight are delivered understate the path (§3.4).
  void mark_app_limited(std::uint32_t in_flight) { app_limited_ = delivered_ + in_flight; if (app_limited_ == 0) app_limited_ = 1; }
  bool app_limited() const { return app_limited_ != 0; }
  std::uint64_t delivered() const { return delivered_; }
  /// The last valid sample's rate (for traces).
  std::uint64_t last_rate() const { return last_rate_; }

 private:
  std::uint64_t delivered_ = 0;
  Instant delivered_time_{};
  Instant first_sent_time_{};
  std::uint64_t app_limited_ = 0;  ///< 0, or the delivered count that ends the app-limited phase
  // The sample of the current ACK.
  bool have_prior_ = false;
  std::uint64_t prior_delivered_ = 0;
  Instant prior_time_{};
  Duration send_elapsed_{};
  Duration ack_elapsed_{};
  bool sample_app_limited_ = false;
  std::uint64_t last_rate_ = 0;
};

}  // namespace tunstack::tcp
