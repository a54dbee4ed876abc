// BBR v1, the model-based controller Linux ships as tcp_bbr (and the one this machine's kernel
// runs by default): it estimates the bottleneck bandwidth (windowed max of delivery-rate samples
// over 10 rounds) and the round-trip propagation time (windowed min over 10 s), paces at a gain
// times the bandwidth and caps in-flight data at a gain times the BDP. Random loss is not a
// congestion signal to it. v1 is chosen because it is what Linux runs and is fully specified by
// its source and draft-cardwell-iccrg-bbr-congestion-control-00; v3 is not upstream.
// States: STARTUP (gain 2/ln2) -> DRAIN -> PROBE_BW (gain cycle 1.25, 0.75, 1 x 6) with
// PROBE_RTT (4 segments for 200 ms) when the min RTT has not been refreshed for 10 s.
#include <algorithm>
#include <array>

#include "stack/tcp/cc.hpp"

namespace tunstack::tcp {
namespace {

constexpr double kHighGain = 2.885;  // 2 / ln(2)
constexpr double kDrainGain = 1.0 / kHighGain;
constexpr double kCwndGain = 2.0;
constexpr std::array<double, 8> kPacingGains = {1.25, 0.75, 1, 1, 1, 1, 1, 1};
constexpr std::uint32_t kBwRounds = 10;
constexpr Duration kMinRttWindow = std::chrono::seconds(10);
constexpr Duration kProbeRttTime = std::chrono::milliseconds(200);
constexpr std::uint32_t kMinCwndSegments = 4;
constexpr double kPacingMargin = 0.99;  // pace 1% below the estimate, as Linux

/// BBR v1; see the file comment.
class Bbr final : public CongestionControl {
 public:
  explicit Bbr(const CcParams& p)
      : cwnd_(p.initial_cwnd),
        mss_(std::max<std::uint32_t>(p.mss, 1)),
        // Before any RTT sample: the initial window per millisecond at the high gain (Linux's
        // bbr_init_pacing_rate_from_rtt with its 1 ms default).
        pacing_rate_(static_cast<std::uint64_t>(kHighGain * p.initial_cwnd * 1000.0)) {}
  std::string_view name() const override { return "bbr"; }
  void on_ack(const RateSample& rs) override;
  void on_congestion(Instant, std::uint32_t in_flight, std::uint32_t) override {
    // Packet conservation for the first round of recovery (tcp_bbr's bbr_set_cwnd_to_recover).
    prior_cwnd_ = std::max(prior_cwnd_, cwnd_);
    cwnd_ = std::max(in_flight, kMinCwndSegments * mss_);
    conservation_ = true;
    conservation_end_ = delivered_;
  }
  void on_recovery_exit(Instant) override {
    cwnd_ = std::max(cwnd_, prior_cwnd_);
    prior_cwnd_ = 0;
    conservation_ = false;
  }
  void on_rto(Instant, std::uint32_t, std::uint32_t mss) override {
    prior_cwnd_ = std::max(prior_cwnd_, cwnd_);
    cwnd_ = std::max<std::uint32_t>(mss, 1);
    conservation_ = false;
  }
  void undo() override {
    if (prior_cwnd_ > cwnd_) cwnd_ = prior_cwnd_;
    conservation_ = false;
  }
  std::uint32_t cwnd() const override { return cwnd_; }
  std::uint32_t ssthresh() const override { return 0x7fffffffu; }
  std::uint64_t pacing_rate() const override { return pacing_rate_; }
  bool sets_cwnd_in_recovery() const override { return true; }
  std::string_view phase() const override {
    static constexpr std::string_view kNames[] = {"startup", "drain", "probe_bw", "probe_rtt"};
    return kNames[static_cast<int>(mode_)];
  }

 private:
  enum class Mode { Startup, Drain, ProbeBw, ProbeRtt };
  void update_round(const RateSample& rs);
  void update_bw(const RateSample& rs);
  void check_full_pipe();
  void update_mode(const RateSample& rs);
  void update_min_rtt(const RateSample& rs);
  void set_pacing(const RateSample& rs);
  void set_cwnd(const RateSample& rs);
  std::uint64_t bw() const { return *std::max_element(bw_window_.begin(), bw_window_.end()); }
  std::uint64_t bdp(double gain) const {
    if (min_rtt_ <= Duration{0} || bw() == 0) return cwnd_;
    return static_cast<std::uint64_t>(gain * static_cast<double>(bw()) * static_cast<double>(min_rtt_.count()) / 1e9);
  }

  std::uint32_t cwnd_;
  std::uint32_t mss_;
  Mode mode_ = Mode::Startup;
  std::uint64_t pacing_rate_ = 0;
  double pacing_gain_ = kHighGain;
  double cwnd_gain_ = kHighGain;
  // Rounds and the bandwidth filter (max over kBwRounds rounds, one slot per round).
  std::uint64_t delivered_ = 0;
  std::uint64_t next_round_delivered_ = 0;
  std::uint64_t round_count_ = 0;
  bool round_start_ = false;
  std::array<std::uint64_t, kBwRounds> bw_window_{};
  // Full pipe detection.
  std::uint64_t full_bw_ = 0;
  std::uint32_t full_bw_rounds_ = 0;
  bool full_pipe_ = false;
  // Gain cycling.
  std::size_t cycle_ = 0;
  Instant cycle_stamp_{};
  // Min RTT and PROBE_RTT.
  Duration min_rtt_{-1};
  Instant min_rtt_stamp_{};
  Instant probe_rtt_done_{};
  bool probe_rtt_round_done_ = false;
  std::uint32_t prior_cwnd_ = 0;
  bool conservation_ = false;
  std::uint64_t conservation_end_ = 0;
};

void Bbr::on_ack(const RateSample& rs) {
  if (rs.mss > 0) mss_ = rs.mss;
  delivered_ = rs.delivered;
  update_round(rs);
  update_bw(rs);
  check_full_pipe();
  update_min_rtt(rs);
  update_mode(rs);
  set_pacing(rs);
  set_cwnd(rs);
}

void Bbr::update_round(const RateSample& rs) {
  // A round starts when a segment sent after the previous round's start is delivered.
  const std::uint64_t prior_delivered = rs.delivered - rs.sample_delivered;
  round_start_ = false;
  if (rs.sample_delivered > 0 && prior_delivered >= next_round_delivered_) {
    next_round_delivered_ = rs.delivered;
    ++round_count_;
    round_start_ = true;
    bw_window_[round_count_ % kBwRounds] = 0;  // the slot of the round kBwRounds ago expires
  }
  if (conservation_ && rs.delivered > conservation_end_ + rs.prior_in_flight) conservation_ = false;
}

void Bbr::update_bw(const RateSample& rs) {
  if (rs.delivery_rate == 0) return;
  // App-limited samples only count when they show more than the current estimate.
  if (rs.app_limited && rs.delivery_rate < bw()) return;
  auto& slot = bw_window_[round_count_ % kBwRounds];
  slot = std::max(slot, rs.delivery_rate);
}

void Bbr::check_full_pipe() {
  // STARTUP ends after 3 rounds without 25% growth of the bandwidth estimate.
  if (full_pipe_ || !round_start_) return;
  if (static_cast<double>(bw()) >= static_cast<double>(full_bw_) * 1.25) {
    full_bw_ = bw();
    full_bw_rounds_ = 0;
    return;
  }
  if (++full_bw_rounds_ >= 3) full_pipe_ = true;
}

void Bbr::update_min_rtt(const RateSample& rs) {
  const bool expired = min_rtt_ >= Duration{0} && rs.now - min_rtt_stamp_ > kMinRttWindow;
  if (rs.rtt > Duration{0} && (min_rtt_ < Duration{0} || rs.rtt <= min_rtt_ || expired)) {
    min_rtt_ = rs.rtt;
    min_rtt_stamp_ = rs.now;
  }
  if (expired && mode_ != Mode::ProbeRtt) {
    mode_ = Mode::ProbeRtt;  // drain the queue to see the propagation delay again
    pacing_gain_ = cwnd_gain_ = 1.0;
    probe_rtt_done_ = Instant{};
    prior_cwnd_ = std::max(prior_cwnd_, cwnd_);
  }
  if (mode_ != Mode::ProbeRtt) return;
  if (probe_rtt_done_ == Instant{} && rs.in_flight <= kMinCwndSegments * mss_) {
    probe_rtt_done_ = rs.now + kProbeRttTime;
    probe_rtt_round_done_ = false;
    next_round_delivered_ = rs.delivered;
  } else if (probe_rtt_done_ != Instant{}) {
    if (round_start_) probe_rtt_round_done_ = true;
    if (probe_rtt_round_done_ && rs.now >= probe_rtt_done_) {
      min_rtt_stamp_ = rs.now;
      cwnd_ = std::max(cwnd_, prior_cwnd_);
      prior_cwnd_ = 0;
      mode_ = full_pipe_ ? Mode::ProbeBw : Mode::Startup;
      cycle_stamp_ = rs.now;
    }
  }
}

void Bbr::update_mode(const RateSample& rs) {
  if (mode_ == Mode::Startup && full_pipe_) mode_ = Mode::Drain;
  if (mode_ == Mode::Drain && rs.in_flight <= bdp(1.0)) {
    mode_ = Mode::ProbeBw;
    cycle_ = 2;  // start cruising; the probe comes around in the cycle
    cycle_stamp_ = rs.now;
  }
  if (mode_ == Mode::ProbeBw && min_rtt_ > Duration{0} && rs.now - cycle_stamp_ > min_rtt_) {
    // Advance the gain cycle once per min RTT; the 1.25 phase also waits until in-flight
    // reached 1.25 BDP or loss appeared (tcp_bbr's bbr_is_next_cycle_phase).
    const double g = kPacingGains[cycle_];
    const bool advance = g <= 1.0 || rs.newly_lost > 0 || rs.prior_in_flight >= bdp(g);
    if (advance) {
      cycle_ = (cycle_ + 1) % kPacingGains.size();
      cycle_stamp_ = rs.now;
    }
  }
  switch (mode_) {
    case Mode::Startup: pacing_gain_ = cwnd_gain_ = kHighGain; break;
    case Mode::Drain: pacing_gain_ = kDrainGain; cwnd_gain_ = kHighGain; break;
    case Mode::ProbeBw: pacing_gain_ = kPacingGains[cycle_]; cwnd_gain_ = kCwndGain; break;
    case Mode::ProbeRtt: pacing_gain_ = cwnd_gain_ = 1.0; break;
  }
}

void Bbr::set_pacing(const RateSample& rs) {
  if (bw() == 0) {
    // No sample yet: the initial window over the RTT seen so far (or 1 ms), at the high gain.
    const Duration rtt = rs.srtt > Duration{0} ? rs.srtt : std::chrono::milliseconds(1);
    pacing_rate_ = static_cast<std::uint64_t>(kHighGain * cwnd_ * 1e9 / static_cast<double>(rtt.count()));
    return;
  }
  const auto rate = static_cast<std::uint64_t>(pacing_gain_ * kPacingMargin * static_cast<double>(bw()));
  // In STARTUP the rate only rises (a low early sample must not slow the search).
  pacing_rate_ = mode_ == Mode::Startup && !full_pipe_ ? std::max(pacing_rate_, rate) : rate;
}

void Bbr::set_cwnd(const RateSample& rs) {
  if (mode_ == Mode::ProbeRtt) {
    cwnd_ = std::min(cwnd_, kMinCwndSegments * mss_);
    return;
  }
  const std::uint64_t target = bdp(cwnd_gain_) + 3 * std::uint64_t{mss_};
  if (conservation_) {
    cwnd_ = std::max(cwnd_, rs.in_flight + rs.acked_sacked);  // packet conservation
    return;
  }
  // Grow toward the target by what was delivered; never above it once the pipe is full.
  std::uint64_t next = cwnd_ + std::uint64_t{rs.acked_sacked};
  if (full_pipe_) next = std::min(next, target);
  else if (next > target && cwnd_ > target) next = cwnd_;
  cwnd_ = static_cast<std::uint32_t>(std::clamp<std::uint64_t>(next, kMinCwndSegments * mss_, 0x7fffffffu));
}

}  // namespace

std::unique_ptr<CongestionControl> make_bbr(const CcParams& p) { return std::make_unique<Bbr>(p); }

}  // namespace tunstack::tcp
