// CUBIC (RFC 9438) with HyStart++ (RFC 9406) in slow start. Windows are kept in bytes; the RFC's
// equations, written in segments, are evaluated in segments of the current SMSS.
#include <algorithm>
#include <cmath>

#include "stack/tcp/cc.hpp"

namespace tunstack::tcp {
namespace {

using Seconds = std::chrono::duration<double>;

// RFC 9406 §4.3 constants.
constexpr Duration kMinRttThresh = std::chrono::milliseconds(4);
constexpr Duration kMaxRttThresh = std::chrono::milliseconds(16);
constexpr std::int64_t kMinRttDivisor = 8;
constexpr std::uint32_t kNRttSample = 8;
constexpr std::uint32_t kCssGrowthDivisor = 4;
constexpr std::uint32_t kCssRounds = 5;

/// RFC 9438 CUBIC; see the file comment.
class Cubic final : public CongestionControl {
 public:
  explicit Cubic(const CcParams& p)
      : p_(p), cwnd_(p.initial_cwnd), mss_(std::max<std::uint32_t>(p.mss, 1)) {}
  std::string_view name() const override { return "cubic"; }
  void on_ack(const RateSample& rs) override;
  void on_congestion(Instant now, std::uint32_t in_flight, std::uint32_t mss) override;
  void on_recovery_exit(Instant) override {
    cwnd_ = ssthresh_;  // RFC 9438 §4.6: cwnd = ssthresh when recovery ends
    recovering_ = false;
  }
  void on_rto(Instant now, std::uint32_t in_flight, std::uint32_t mss) override;
  void undo() override;
  std::uint32_t cwnd() const override { return cwnd_; }
  std::uint32_t ssthresh() const override { return ssthresh_; }
  std::string_view phase() const override {
    if (recovering_) return "recovery";
    if (cwnd_ >= ssthresh_) return "ca";
    return in_css_ ? "css" : "ss";
  }

 private:
  void reduce(std::uint32_t mss);
  void slow_start(const RateSample& rs);
  void hystart_round(const RateSample& rs);
  void congestion_avoidance(const RateSample& rs);
  double w_cubic(double t) const {  // RFC 9438 eq. 1, in segments
    return p_.cubic_c * std::pow(t - k_, 3.0) + w_max_;
  }

  CcParams p_;
  std::uint32_t cwnd_;
  std::uint32_t ssthresh_ = 0x7fffffffu;
  std::uint32_t mss_;
  bool recovering_ = false;
  // RFC 9438 §4 state, in segments.
  double w_max_ = 0;
  double k_ = 0;
  double cwnd_epoch_ = 0;
  double w_est_ = 0;
  double cwnd_frac_ = 0;  ///< fractional bytes of growth carried between ACKs
  bool epoch_set_ = false;
  Instant epoch_start_{};
  // HyStart++ (RFC 9406 §4.2).
  std::uint64_t round_end_ = 0;
  Duration last_round_min_{-1};
  Duration round_min_{-1};
  std::uint32_t samples_ = 0;
  bool in_css_ = false;
  Duration css_baseline_{-1};
  std::uint32_t css_rounds_ = 0;
  // Undo.
  std::uint32_t prior_cwnd_ = 0;
  std::uint32_t prior_ssthresh_ = 0;
  double prior_w_max_ = 0;
};

void Cubic::on_ack(const RateSample& rs) {
  if (rs.mss > 0) mss_ = rs.mss;
  hystart_round(rs);
  if (rs.in_recovery) return;
  if (!rs.cwnd_limited) {
    // RFC 9438 §5.8: time when the window was not used must not grow W_cubic.
    epoch_set_ = false;
    return;
  }
  if (cwnd_ < ssthresh_) slow_start(rs);
  else congestion_avoidance(rs);
}

void Cubic::hystart_round(const RateSample& rs) {
  if (!p_.hystart || cwnd_ >= ssthresh_) return;
  // RFC 9406 §4.2: a round ends when the data sent at its start is delivered.
  if (rs.delivered >= round_end_) {
    round_end_ = rs.delivered + rs.in_flight;
    last_round_min_ = round_min_;
    round_min_ = Duration{-1};
    samples_ = 0;
    if (in_css_ && ++css_rounds_ >= kCssRounds) {
      ssthresh_ = cwnd_;  // CSS lasted CSS_ROUNDS: congestion avoidance
      in_css_ = false;
      return;
    }
  }
  if (rs.rtt < Duration{0}) return;
  if (round_min_ < Duration{0} || rs.rtt < round_min_) round_min_ = rs.rtt;
  ++samples_;
  if (!in_css_) {
    if (samples_ < kNRttSample || last_round_min_ < Duration{0} || round_min_ < Duration{0}) return;
    const Duration thresh = std::clamp(last_round_min_ / kMinRttDivisor, kMinRttThresh, kMaxRttThresh);
    if (round_min_ >= last_round_min_ + thresh) {
      in_css_ = true;  // delay rose: conservative slow start
      css_baseline_ = round_min_;
      css_rounds_ = 0;
    }
  } else if (samples_ >= kNRttSample && round_min_ < css_baseline_) {
    in_css_ = false;  // the rise was spurious: back to slow start
  }
}

void Cubic::slow_start(const RateSample& rs) {
  // RFC 5681 §3.1 with appropriate byte counting (L = 2 SMSS, RFC 3465), divided in CSS.
  std::uint32_t inc = std::min(rs.acked_sacked, 2 * mss_);
  if (in_css_) inc /= kCssGrowthDivisor;
  cwnd_ += inc;
}

void Cubic::congestion_avoidance(const RateSample& rs) {
  const double mss = mss_;
  const double cwnd = cwnd_ / mss;
  if (!epoch_set_) {
    // RFC 9438 §4.2: a new epoch; K from the window the epoch starts with (eq. 2).
    epoch_set_ = true;
    epoch_start_ = rs.now;
    cwnd_epoch_ = cwnd;
    k_ = w_max_ > cwnd ? std::cbrt((w_max_ - cwnd) / p_.cubic_c) : 0.0;
    if (w_max_ < cwnd) w_max_ = cwnd;
    w_est_ = cwnd;
  }
  const double acked = rs.acked_sacked / mss;
  const double t = Seconds(rs.now - epoch_start_).count();
  const Duration rtt_d = rs.srtt > Duration{0} ? rs.srtt : rs.min_rtt;
  const double rtt = rtt_d > Duration{0} ? Seconds(rtt_d).count() : 0.0;
  // RFC 9438 §4.3: the Reno-friendly estimate, alpha = 3(1 - beta)/(1 + beta), then 1 past W_max.
  const double beta = p_.cubic_beta;
  const double alpha = w_est_ >= w_max_ ? 1.0 : 3.0 * (1.0 - beta) / (1.0 + beta);
  w_est_ += alpha * acked / cwnd;
  double next;
  if (p_.cubic_reno_friendly && w_cubic(t) < w_est_) {
    next = w_est_;  // Reno-friendly region
  } else {
    // RFC 9438 §4.4/4.5: grow toward W_cubic(t + RTT), clamped to [cwnd, 1.5 cwnd].
    const double target = std::clamp(w_cubic(t + rtt), cwnd, 1.5 * cwnd);
    next = cwnd + (target - cwnd) * acked / cwnd;
  }
  const double bytes = next * mss - cwnd_ + cwnd_frac_;
  if (bytes <= 0) return;
  const auto whole = static_cast<std::uint32_t>(bytes);
  cwnd_frac_ = bytes - whole;
  cwnd_ += whole;
}

void Cubic::reduce(std::uint32_t mss) {
  prior_cwnd_ = cwnd_;
  prior_ssthresh_ = ssthresh_;
  prior_w_max_ = w_max_;
  mss_ = std::max<std::uint32_t>(mss, 1);
  const double cwnd = static_cast<double>(cwnd_) / mss_;
  // RFC 9438 §4.7 fast convergence: release bandwidth when the last maximum was not reached.
  w_max_ = p_.cubic_fast_convergence && cwnd < w_max_ ? cwnd * (1.0 + p_.cubic_beta) / 2.0 : cwnd;
  // RFC 9438 §4.6: ssthresh = cwnd * beta_cubic, at least 2 SMSS.
  ssthresh_ = std::max(static_cast<std::uint32_t>(cwnd_ * p_.cubic_beta), 2 * mss_);
  epoch_set_ = false;
  cwnd_frac_ = 0;
  in_css_ = false;
}

void Cubic::on_congestion(Instant, std::uint32_t, std::uint32_t mss) {
  reduce(mss);
  cwnd_ = ssthresh_;
  recovering_ = true;
}

void Cubic::on_rto(Instant, std::uint32_t, std::uint32_t mss) {
  reduce(mss);
  cwnd_ = mss_;  // RFC 9438 §4.8 / RFC 5681: one segment, then slow start
  recovering_ = false;
}

void Cubic::undo() {
  cwnd_ = std::max(cwnd_, prior_cwnd_);
  ssthresh_ = std::max(ssthresh_, prior_ssthresh_);
  w_max_ = prior_w_max_;
  epoch_set_ = false;
  recovering_ = false;
}

}  // namespace

std::unique_ptr<CongestionControl> make_cubic(const CcParams& p) { return std::make_unique<Cubic>(p); }

}  // namespace tunstack::tcp
