#include "stack/tcp/rate.hpp"

#include <algorithm>

namespace tunstack::tcp {

void RateEstimator::on_send(SentSeg& s, Instant now, std::uint32_t in_flight) {
  // §3.2: the first segment of a flight after idle starts the interval afresh.
  if (in_flight == 0) first_sent_time_ = delivered_time_ = now;
  s.first_sent = first_sent_time_;
  s.delivered_time = delivered_time_;
  s.delivered = delivered_;
  if (app_limited_ != 0) s.flags |= SentSeg::kAppLimited;
  else s.flags = static_cast<std::uint8_t>(s.flags & ~SentSeg::kAppLimited);
}

void RateEstimator::on_delivered(const SentSeg& s, std::uint32_t bytes, Instant now) {
  delivered_ += bytes;
  delivered_time_ = now;
  // §3.3: the sample follows the most recently sent of the delivered segments.
  if (!have_prior_ || s.delivered > prior_delivered_) {
    have_prior_ = true;
    prior_delivered_ = s.delivered;
    prior_time_ = s.delivered_time;
    sample_app_limited_ = s.has(SentSeg::kAppLimited);
    send_elapsed_ = s.xmit - s.first_sent;
    ack_elapsed_ = now - s.delivered_time;
    first_sent_time_ = s.xmit;
  }
}

RateEstimator::Sample RateEstimator::end_ack(Duration min_rtt) {
  Sample out;
  if (app_limited_ != 0 && delivered_ > app_limited_) app_limited_ = 0;
  if (!have_prior_) return out;
  out.delivered = delivered_ - prior_delivered_;
  out.app_limited = sample_app_limited_;
  // §3.3: the longer of the send and ACK intervals, so that ACK compression cannot inflate it;
  // an interval shorter than min_rtt is not a rate (it would overestimate).
  const Duration interval = std::max(send_elapsed_, ack_elapsed_);
  if (interval <= Duration{0} || (min_rtt > Duration{0} && interval < min_rtt)) return out;
  out.interval = interval;
  out.rate = static_cast<std::uint64_t>(static_cast<double>(out.delivered) * 1e9 / static_cast<double>(interval.count()));
  last_rate_ = out.rate;
  return out;
}

}  // namespace tunstack::tcp
