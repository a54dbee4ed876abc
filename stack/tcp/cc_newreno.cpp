// NewReno (RFC 5681 slow start and congestion avoidance, RFC 6582 recovery hooks; the sender's
// PRR or window inflation governs sending during recovery).
#include <algorithm>

#include "stack/tcp/cc.hpp"

namespace tunstack::tcp {
namespace {

/// RFC 5681 / RFC 6582 NewReno with appropriate byte counting (RFC 3465, L = 1 SMSS).
class NewReno final : public CongestionControl {
 public:
  explicit NewReno(const CcParams& p) : cwnd_(p.initial_cwnd) {}
  std::string_view name() const override { return "newreno"; }
  void on_ack(const RateSample& s) override;
  void on_congestion(Instant now, std::uint32_t in_flight, std::uint32_t mss) override;
  void on_recovery_exit(Instant) override { cwnd_ = ssthresh_; }
  void on_rto(Instant now, std::uint32_t in_flight, std::uint32_t mss) override;
  void undo() override {
    cwnd_ = std::max(cwnd_, prior_cwnd_);
    ssthresh_ = std::max(ssthresh_, prior_ssthresh_);
  }
  std::uint32_t cwnd() const override { return cwnd_; }
  std::uint32_t ssthresh() const override { return ssthresh_; }
  std::string_view phase() const override { return cwnd_ < ssthresh_ ? "ss" : "ca"; }

 private:
  void save() {
    prior_cwnd_ = cwnd_;
    prior_ssthresh_ = ssthresh_;
  }
  std::uint32_t cwnd_;
  std::uint32_t ssthresh_ = 0x7fffffffu;
  std::uint32_t ca_acked_ = 0;  ///< bytes acked toward the next cwnd increment in CA
  std::uint32_t prior_cwnd_ = 0;
  std::uint32_t prior_ssthresh_ = 0;
};

void NewReno::on_ack(const RateSample& s) {
  // RFC 6582 §3.2 step 5: during recovery the window is governed by the sender. RFC 7661: no
  // growth while the sender did not use the window it had.
  if (s.in_recovery || !s.cwnd_limited) return;
  if (cwnd_ < ssthresh_) {
    // RFC 5681 §3.1 eq. 2 with appropriate byte counting (RFC 3465, L = 1 SMSS).
    cwnd_ += std::min(s.acked_sacked, s.mss);
    return;
  }
  // RFC 5681 §3.1 congestion avoidance: about one SMSS per RTT, counted in bytes (RFC 3465).
  ca_acked_ += s.acked_sacked;
  if (ca_acked_ >= cwnd_) {
    ca_acked_ -= cwnd_;
    cwnd_ += s.mss;
  }
}

void NewReno::on_congestion(Instant, std::uint32_t in_flight, std::uint32_t mss) {
  // RFC 5681 §3.2 step 2 (eq. 4): ssthresh = max(FlightSize/2, 2*SMSS); cwnd follows at exit.
  save();
  ssthresh_ = std::max(in_flight / 2, 2 * mss);
  cwnd_ = ssthresh_;
  ca_acked_ = 0;
}

void NewReno::on_rto(Instant, std::uint32_t in_flight, std::uint32_t mss) {
  // RFC 5681 §3.1 eq. 4 and "LW = 1 SMSS" after a timeout.
  save();
  ssthresh_ = std::max(in_flight / 2, 2 * mss);
  cwnd_ = mss;
  ca_acked_ = 0;
}

}  // namespace

std::unique_ptr<CongestionControl> make_newreno(const CcParams& p) { return std::make_unique<NewReno>(p); }

}  // namespace tunstack::tcp
