#pragma once
// A token bucket for ICMP errors the stack originates (RFC 4443 §2.4(f) requires a limit for
// ICMPv6; RFC 1812 §4.3.2.8 recommends one for ICMPv4). Time arrives as a parameter.
#include <algorithm>
#include <cstdint>

#include "stack/core/time.hpp"

namespace tunstack::icmp {

/// Allows `rate` events per second on average with bursts of up to `burst`.
class TokenBucket {
 public:
  TokenBucket(std::uint32_t rate_per_sec, std::uint32_t burst)
      : rate_(rate_per_sec), burst_(burst), tokens_milli_(std::uint64_t{burst} * 1000) {}

  /// Takes one token if there is one; false means "over the limit: do not send".
  bool take(Instant now) {
    refill(now);
    if (tokens_milli_ < 1000) return false;
    tokens_milli_ -= 1000;
    return true;
  }

 private:
  void refill(Instant now) {
    if (!started_) {
      last_ = now;
      started_ = true;
      return;
    }
    if (now <= last_) return;
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(now - last_).count();
    // tokens (in thousandths) gained = rate * seconds * 1000 = rate * us / 1000
    const std::uint64_t gained = static_cast<std::uint64_t>(us) * rate_ / 1000;
    if (gained == 0) return;  // keep last_ so sub-token intervals accumulate
    tokens_milli_ = std::min<std::uint64_t>(tokens_milli_ + gained, std::uint64_t{burst_} * 1000);
    last_ = now;
  }

  std::uint32_t rate_;
  std::uint32_t burst_;
  std::uint64_t tokens_milli_;
  Instant last_{};
  bool started_ = false;
};

}  // namespace tunstack::icmp
