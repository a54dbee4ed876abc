#include "tests/stack/tcp/sim/sim_link.hpp"

#include <algorithm>

namespace tunstack::tcp::sim {
namespace {

/// Transmission time of `bytes` at `rate_bps`.
Duration serialization(std::size_t bytes, std::uint64_t rate_bps) {
  if (rate_bps == 0) return Duration{0};
  const auto ns = static_cast<std::int64_t>(bytes * 8 * 1'000'000'000ull / rate_bps);
  return std::chrono::nanoseconds(ns);
}

std::size_t default_queue(const LinkConfig& c) {
  if (c.queue_bytes != 0) return c.queue_bytes;
  const auto rtt_ns = static_cast<std::uint64_t>(std::chrono::nanoseconds(c.rtt).count());
  const std::uint64_t bdp = c.rate_bps / 8 * rtt_ns / 1'000'000'000ull;
  return std::max<std::size_t>(static_cast<std::size_t>(bdp), 16 * 1500);
}

}  // namespace

SimLink::SimLink(LinkConfig cfg, std::uint64_t seed)
    : cfg_(cfg), queue_limit_(default_queue(cfg)), rng_(seed) {}

std::optional<Instant> SimLink::enqueue(Direction& d, Instant now, std::size_t size) {
  if (cfg_.rate_bps == 0) return now;
  const Instant start = std::max(now, d.busy_until);
  // Bytes still waiting ahead of this packet: the backlog the drop-tail queue holds.
  const auto backlog_ns = static_cast<std::uint64_t>(std::chrono::nanoseconds(start - now).count());
  const std::uint64_t backlog = backlog_ns * cfg_.rate_bps / 8 / 1'000'000'000ull;
  if (backlog + size > queue_limit_) return std::nullopt;
  d.busy_until = start + serialization(size, cfg_.rate_bps);
  return d.busy_until;
}

void SimLink::send(Instant now, LinkPacket p) {
  Direction& d = dirs_[static_cast<int>(p.dir)];
  ++d.stats.sent;
  const Verdict v = script_ ? script_(now, p) : Verdict{};
  if (v.drop || v.duplicate || v.extra_delay.count() != 0) ++d.stats.scripted;
  if (v.drop) return;
  std::uniform_real_distribution<double> u(0, 1);
  if (u(rng_) < cfg_.loss) {
    ++d.stats.random_drops;
    return;
  }
  const bool twice = u(rng_) < cfg_.dup || v.duplicate;
  const bool late = u(rng_) < cfg_.reorder;
  // Header overhead on the wire: IPv4 (20) beside the TCP segment.
  const auto left = enqueue(d, now, p.bytes.size() + 20);
  if (!left) {
    ++d.stats.queue_drops;
    return;
  }
  Instant at = *left + cfg_.rtt / 2 + v.extra_delay;
  if (late) {
    ++d.stats.reordered;
    at += cfg_.reorder_gap;
  }
  if (twice) {
    ++d.stats.duplicated;
    schedule(at, p);
  }
  schedule(at, std::move(p));
}

void SimLink::schedule(Instant at, LinkPacket p) { wire_.push({at, ++order_, std::move(p)}); }

std::optional<Instant> SimLink::next_arrival() const {
  if (wire_.empty()) return std::nullopt;
  return wire_.top().at;
}

std::optional<LinkPacket> SimLink::pop_due(Instant now) {
  if (wire_.empty() || wire_.top().at > now) return std::nullopt;
  LinkPacket p = wire_.top().p;
  wire_.pop();
  return p;
}

}  // namespace tunstack::tcp::sim
