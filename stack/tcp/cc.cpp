#include "stack/tcp/cc.hpp"

#include <algorithm>

namespace tunstack::tcp {

void NewReno::on_ack(const AckSample& s) {
  // RFC 6582 §3.2 step 5: during recovery the window is governed by the sender's deflation.
  if (s.in_recovery) return;
  if (cwnd_ < ssthresh_) {
    // RFC 5681 §3.1 eq. 2 with appropriate byte counting (RFC 3465, L = 1 SMSS).
    cwnd_ += std::min(s.bytes_acked, s.mss);
    return;
  }
  // RFC 5681 §3.1 congestion avoidance: about one SMSS per RTT, counted in bytes (RFC 3465).
  ca_acked_ += s.bytes_acked;
  if (ca_acked_ >= cwnd_) {
    ca_acked_ -= cwnd_;
    cwnd_ += s.mss;
  }
}

void NewReno::on_congestion(Instant, std::uint32_t in_flight, std::uint32_t mss) {
  // RFC 5681 §3.2 step 2 (eq. 4) and step 3: ssthresh = max(FlightSize/2, 2*SMSS); cwnd = ssthresh
  // (the sender adds the 3 segments of inflation itself).
  ssthresh_ = std::max(in_flight / 2, 2 * mss);
  cwnd_ = ssthresh_;
  ca_acked_ = 0;
}

void NewReno::on_rto(std::uint32_t in_flight, std::uint32_t mss) {
  // RFC 5681 §3.1 eq. 4 and "LW = 1 SMSS" after a timeout.
  ssthresh_ = std::max(in_flight / 2, 2 * mss);
  cwnd_ = mss;
  ca_acked_ = 0;
}

std::unique_ptr<CongestionControl> make_cc(std::string_view name, std::uint32_t initial_cwnd) {
  if (name == "newreno" || name == "reno") return std::make_unique<NewReno>(initial_cwnd);
  return nullptr;
}

}  // namespace tunstack::tcp
