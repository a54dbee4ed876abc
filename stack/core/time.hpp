#pragma once
// Monotonic time for the sans-IO core. The core never reads a clock: callers pass an Instant.
#include <chrono>
#include <cstdint>

namespace tunstack {

/// A clock tag with no now(): instants are produced only by the I/O layer (tun/) and tests.
struct StackClock {
  using rep = std::int64_t;
  using period = std::nano;
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<StackClock>;
  static constexpr bool is_steady = true;
};

/// A span of monotonic time (nanosecond resolution).
using Duration = StackClock::duration;
/// A point on the monotonic clock that the driver feeds to the core.
using Instant = StackClock::time_point;

/// Builds an Instant from a raw nanosecond count (the driver's clock reading, or a test's fake).
constexpr Instant instant_from_ns(std::int64_t ns) { return Instant{Duration{ns}}; }

using namespace std::chrono_literals;

}  // namespace tunstack
