#include "stack/tcp/rtt.hpp"

#include <algorithm>

namespace tunstack::tcp {

void RttEstimator::sample(Duration r) {
  if (r < Duration{0}) return;
  if (!has_sample_) {
    // RFC 6298 §2.2: first measurement.
    srtt_ = r;
    rttvar_ = r / 2;
    has_sample_ = true;
  } else {
    // RFC 6298 §2.3 with alpha = 1/8, beta = 1/4 (RTTVAR first, using the old SRTT).
    const Duration err = srtt_ > r ? srtt_ - r : r - srtt_;
    rttvar_ = (rttvar_ * 3 + err) / 4;
    srtt_ = (srtt_ * 7 + r) / 8;
  }
  // RFC 6298 §2.3: RTO = SRTT + max(G, K*RTTVAR) with K = 4; G (1 ms ticks) folded into the min.
  rto_ = std::clamp(srtt_ + std::max(Duration{std::chrono::milliseconds(1)}, rttvar_ * 4), min_, max_);
  backoff_ = 0;
}

void RttEstimator::backoff() {
  if (backoff_ < 16) ++backoff_;
}

Duration RttEstimator::rto() const {
  Duration r = rto_;
  for (std::uint32_t i = 0; i < backoff_ && r < max_; ++i) r *= 2;
  return std::min(r, max_);
}

}  // namespace tunstack::tcp
