#pragma once
// The fault injector at the TUN boundary (sans-IO): packets go in with the time they arrived
// (submit), come out on a PacketOutput when they are due (poll at next_deadline), after the loss,
// duplication, rate limit, delay, jitter and reordering described in config.hpp.
//
// Output: the house PacketOutput, so the stack-to-TUN direction plugs in with no adapter (see
// ImpairedOutput) and the TUN-to-stack direction needs one small adapter that calls
// Host::on_packet with the time of the submit/poll call that released the packet.
//
// Deterministic: the same seed, stream and sequence of (time, packet size) calls give the same
// output sequence. Bounded: at most `limit` packets are held, in storage reserved at construction;
// nothing is allocated per packet except the duplicate copies, which come from the BufPool.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "stack/core/counters.hpp"
#include "stack/core/packet_buf.hpp"
#include "stack/core/packet_output.hpp"
#include "stack/core/time.hpp"
#include "stack/impair/config.hpp"
#include "stack/impair/rng.hpp"

namespace tunstack::impair {

/// What an enabled Impairer did (a disabled one counts nothing). Always:
/// submitted + duplicated == delivered + dropped_* + queued.
struct ImpairStats {
  Counter submitted = 0;           ///< packets handed to submit()
  Counter delivered = 0;           ///< packets emitted to the output (duplicates included)
  Counter dropped_loss = 0;        ///< lost on purpose (Bernoulli or Gilbert-Elliott)
  Counter dropped_queue_full = 0;  ///< tail-dropped at the rate limiter's full queue
  Counter dropped_limit = 0;       ///< refused because `limit` packets were already held
  Counter duplicated = 0;          ///< extra copies made
  Counter dup_no_buffer = 0;       ///< copies not made: the BufPool was empty
  Counter reordered = 0;           ///< packets taken out of the in-order stream
  Counter delayed = 0;             ///< packets held at all (not emitted in the call that took them)
  Counter rate_waited = 0;         ///< packets that found the bottleneck busy and queued
  Counter output_waits = 0;        ///< releases stopped because the output had no room (held on)
  std::uint64_t queued = 0;        ///< gauge: packets held now
  std::uint64_t queued_bytes = 0;  ///< gauge: bytes held now

  template <class F>
  void visit(F&& f) const {
    f("submitted", submitted);
    f("delivered", delivered);
    f("dropped_loss", dropped_loss);
    f("dropped_queue_full", dropped_queue_full);
    f("dropped_limit", dropped_limit);
    f("duplicated", duplicated);
    f("dup_no_buffer", dup_no_buffer);
    f("reordered", reordered);
    f("delayed", delayed);
    f("rate_waited", rate_waited);
    f("output_waits", output_waits);
    f("queued", queued);
    f("queued_bytes", queued_bytes);
  }
};

/// Impairs one direction of traffic: see the file comment and ImpairConfig.
/// Single-threaded; must be destroyed before the BufPool its packets came from.
class Impairer {
 public:
  /// `stream` is mixed into the seed so that two impairers sharing a spec (rx and tx) do not
  /// make the same decisions on the same packet numbers. The config is checked by the caller
  /// (parse_spec or check()); an invalid one gives meaningless statistics, never unsafe memory use.
  Impairer(const ImpairConfig& cfg, BufPool& pool, PacketOutput& out, std::uint64_t stream = 0);
  Impairer(const Impairer&) = delete;
  Impairer& operator=(const Impairer&) = delete;

  /// Takes a packet that arrived at `now`. Disabled: emitted at once, one branch and nothing
  /// counted (the stats stay zero). Enabled: it is dropped, or held until due; anything already
  /// due (this packet included) is emitted before returning. Times are expected not to go
  /// backwards; an earlier `now` is treated as the latest.
  void submit(Instant now, PacketBuf p) {
    if (!enabled_) [[likely]] {
      out_.emit(std::move(p));
      return;
    }
    submit_impaired(now, std::move(p));
  }

  /// Emits every held packet due at or before `now`, in due order (ties: submission order),
  /// as long as the output has room (PacketOutput::room): a full output (the TUN's TX queue)
  /// keeps the rest held, as a real link's queue would, instead of losing them at the writer.
  void poll(Instant now) {
    output_blocked_ = false;
    if (held() == 0) return;
    last_now_ = std::max(last_now_, now);
    if (next_due() <= now) release_due(now);
  }

  /// When the next held packet is due (nullopt: nothing held, or the output is full: the driver
  /// polls again when the output's room comes back).
  std::optional<Instant> next_deadline() const {
    if (held() == 0 || output_blocked_) return std::nullopt;
    return next_due();
  }

  /// True when due packets wait for room at the output.
  bool output_blocked() const { return output_blocked_; }

  bool enabled() const { return enabled_; }
  const ImpairConfig& config() const { return cfg_; }
  const ImpairStats& stats() const { return stats_; }

 private:
  /// A held packet: due time, submission number (tie-break) and the buffer.
  struct Held {
    Instant at;
    std::uint64_t seq;
    PacketBuf buf;
  };
  /// A packet on (or queued for) the bottleneck: when its last bit leaves, and its size.
  struct OnLink {
    Instant departs;
    std::uint32_t bytes;
  };

  void submit_impaired(Instant now, PacketBuf p);
  bool lose();
  /// Runs one packet (original or copy) through the rate and delay stages into the held set.
  void schedule(Instant now, PacketBuf p);
  /// The rate stage: when the packet's last bit leaves the bottleneck, or nullopt (queue full).
  std::optional<Instant> bottleneck(Instant now, std::size_t bytes);
  /// The delay stage: when a packet that left the bottleneck at `t` is due, and whether it was
  /// taken out of the in-order stream.
  Instant due_after_delay(Instant t, bool& reordered);
  void release_due(Instant now);
  std::size_t held() const { return line_count_ + side_.size(); }
  Instant next_due() const;  // held() > 0

  static bool earlier(const Held& a, const Held& b) { return a.at != b.at ? a.at < b.at : a.seq < b.seq; }

  ImpairConfig cfg_;
  bool enabled_;
  BufPool& pool_;
  PacketOutput& out_;
  ImpairStats stats_;
  bool output_blocked_ = false;
  Rng rng_;
  // Probabilities as 64-bit thresholds, compared against one draw each (no floating point per packet).
  std::uint64_t loss_thr_ = 0;
  std::uint64_t dup_thr_ = 0;
  std::uint64_t reorder_thr_ = 0;
  std::uint64_t ge_p_thr_ = 0, ge_r_thr_ = 0, ge_bad_thr_ = 0, ge_good_thr_ = 0;
  bool ge_bad_ = false;  ///< the Gilbert-Elliott chain is in its Bad state

  // Held packets. In-order ones wait in a FIFO ring (their due times never decrease, so it is
  // O(1) and cache-friendly); reordered ones in a small min-heap on (at, seq). Release merges the
  // two by (at, seq). Both are sized to `limit` at construction.
  std::vector<Held> line_;
  std::size_t line_head_ = 0;
  std::size_t line_count_ = 0;
  std::vector<Held> side_;
  std::uint64_t next_seq_ = 0;
  Instant last_now_{};
  Instant last_in_order_{};  ///< due time of the latest in-order packet: jitter never overtakes it

  // The bottleneck: packets whose last bit has not left yet, oldest first, in a ring of `limit`.
  std::vector<OnLink> link_;
  std::size_t link_head_ = 0;
  std::size_t link_count_ = 0;
  std::uint64_t link_bytes_ = 0;
  Instant link_free_{};             ///< when the last queued packet's last bit leaves
  std::uint64_t link_remainder_ = 0;  ///< bit-nanoseconds carried over, so rounding never drifts
};

/// A PacketOutput that impairs everything emitted into it on the way to `next`: put it between
/// the stack (Host, ReturnPath) and the TUN writer. The stack's emit() carries no time, so the
/// driver calls set_now() whenever it hands the stack control, and polls at next_deadline().
class ImpairedOutput final : public PacketOutput {
 public:
  ImpairedOutput(const ImpairConfig& cfg, BufPool& pool, PacketOutput& next, std::uint64_t stream = 1)
      : imp_(cfg, pool, next, stream) {}
  /// The time stamped on packets emitted from now on.
  void set_now(Instant now) { now_ = now; }
  void emit(PacketBuf p) override { imp_.submit(now_, std::move(p)); }
  void poll(Instant now) {
    now_ = now;
    imp_.poll(now);
  }
  std::optional<Instant> next_deadline() const { return imp_.next_deadline(); }
  const Impairer& impairer() const { return imp_; }
  const ImpairStats& stats() const { return imp_.stats(); }

 private:
  Instant now_{};
  Impairer imp_;
};

}  // namespace tunstack::impair
