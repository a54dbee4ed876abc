#pragma once
// SimLink: a seeded two-way link for the TCP simulations. Each direction is a bottleneck of a
// fixed rate behind a bounded drop-tail queue, then a fixed propagation delay; on top of that,
// random loss, duplication and reordering (a fraction of packets held back by an extra gap), and
// an optional script for scenario tests. Packets are TCP segments (header +
// payload), the same both ways.
#include <cstdint>
#include <functional>
#include <optional>
#include <queue>
#include <random>
#include <string>

#include "stack/core/time.hpp"

namespace tunstack::tcp::sim {

/// Which way a packet travels.
enum class Dir : std::uint8_t { ToServer, ToClient };

/// One direction's (or both directions') impairments.
struct LinkConfig {
  double loss = 0.0;     ///< probability a packet is dropped (before the queue)
  double dup = 0.0;      ///< probability a packet is delivered twice
  double reorder = 0.0;  ///< probability a packet is held back by `reorder_gap`
  Duration reorder_gap = std::chrono::milliseconds(1);
  Duration rtt = std::chrono::milliseconds(10);  ///< propagation: rtt / 2 each way
  std::uint64_t rate_bps = 100'000'000;          ///< bottleneck rate, 0 = unlimited
  /// Drop-tail queue in bytes; 0 = one bandwidth-delay product (at least 16 full segments).
  std::size_t queue_bytes = 0;
};

/// A packet in flight.
struct LinkPacket {
  Dir dir = Dir::ToServer;
  std::string bytes;  ///< a TCP segment
};

/// Counters of the link, per direction.
struct LinkStats {
  std::uint64_t sent = 0;
  std::uint64_t random_drops = 0;
  std::uint64_t scripted = 0;  ///< packets a script dropped, duplicated or delayed
  std::uint64_t queue_drops = 0;
  std::uint64_t duplicated = 0;
  std::uint64_t reordered = 0;
};

/// See the file comment.
class SimLink {
 public:
  /// What a scenario script does with one packet; consulted before the random impairments.
  struct Verdict {
    bool drop = false;
    bool duplicate = false;
    Duration extra_delay{0};  ///< held back this long after the bottleneck (reordering)
  };
  using Script = std::function<Verdict(Instant now, const LinkPacket&)>;

  SimLink(LinkConfig cfg, std::uint64_t seed);

  /// Offers a packet to the link at `now`.
  void send(Instant now, LinkPacket p);
  /// When the next packet arrives, if any is in flight.
  std::optional<Instant> next_arrival() const;
  /// Removes and returns the next packet due at or before `now`.
  std::optional<LinkPacket> pop_due(Instant now);
  void set_script(Script f) { script_ = std::move(f); }
  const LinkStats& stats(Dir d) const { return dirs_[static_cast<int>(d)].stats; }
  const LinkConfig& config() const { return cfg_; }

 private:
  struct InFlight {
    Instant at;
    std::uint64_t order;  ///< FIFO among equal times
    LinkPacket p;
    bool operator<(const InFlight& o) const { return at != o.at ? at > o.at : order > o.order; }
  };
  struct Direction {
    Instant busy_until{};  ///< when the bottleneck finishes what is queued
    LinkStats stats;
  };
  /// When a packet of `size` bytes entering now leaves the bottleneck, or nullopt (queue full).
  std::optional<Instant> enqueue(Direction& d, Instant now, std::size_t size);
  void schedule(Instant at, LinkPacket p);

  LinkConfig cfg_;
  std::size_t queue_limit_;
  std::mt19937_64 rng_;
  Direction dirs_[2];
  std::priority_queue<InFlight> wire_;
  std::uint64_t order_ = 0;
  Script script_;
};

}  // namespace tunstack::tcp::sim
