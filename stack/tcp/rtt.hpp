#pragma once
// The RFC 6298 round-trip estimator with exponential backoff; samples come from timed segments
// (Karn's algorithm: never from retransmitted ones) or timestamps (RFC 7323 §4).
#include <cstdint>

#include "stack/core/time.hpp"

namespace tunstack::tcp {

/// SRTT/RTTVAR and the retransmission timeout (RFC 6298 §2).
class RttEstimator {
 public:
  RttEstimator(Duration initial, Duration min, Duration max) : rto_(initial), min_(min), max_(max) {}

  /// Feeds one measurement; resets the backoff (RFC 6298 §5.7 is implied by the fresh RTO).
  void sample(Duration r);
  /// RFC 6298 §5.5: doubles the RTO (bounded by the maximum) after a retransmission timeout.
  void backoff();
  /// The RTO to arm now, backoff included.
  Duration rto() const;
  bool has_sample() const { return has_sample_; }
  Duration srtt() const { return srtt_; }
  Duration rttvar() const { return rttvar_; }
  std::uint32_t backoffs() const { return backoff_; }

 private:
  Duration srtt_{};
  Duration rttvar_{};
  Duration rto_;
  Duration min_;
  Duration max_;
  std::uint32_t backoff_ = 0;
  bool has_sample_ = false;
};

}  // namespace tunstack::tcp
