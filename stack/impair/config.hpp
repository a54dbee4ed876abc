#pragma once
// What a link impairment does (the kernel's netem, rebuilt at the TUN boundary because the kernels
// this runs on often lack sch_netem), and the one-line spec that describes it on the command line
// and in TOML alike:
//
//   "loss=2% dup=1% reorder=25% gap=5ms delay=10ms jitter=1ms rate=100mbit queue=1000 seed=7"
//
// Every field is off by default; a default ImpairConfig is disabled and costs one branch.
#include <cstdint>
#include <string>
#include <string_view>

#include "stack/core/result.hpp"
#include "stack/core/time.hpp"

namespace tunstack::impair {

/// Gilbert-Elliott two-state burst loss: a Good and a Bad state, each with its own loss
/// probability; after every packet the chain moves Good->Bad with p and Bad->Good with r, so
/// bursts in Bad last 1/r packets on average and the mean loss is
/// (r * good_loss + p * bad_loss) / (p + r). Spec: "ge=p%,r%[,bad_loss%[,good_loss%]]".
struct GilbertElliott {
  double p = 0.0;          ///< P(Good -> Bad) per packet; 0 disables the model
  double r = 1.0;          ///< P(Bad -> Good) per packet
  double bad_loss = 1.0;   ///< loss probability in Bad (1 - h in netem's gemodel)
  double good_loss = 0.0;  ///< loss probability in Good (1 - k in netem's gemodel)
  bool enabled() const { return p > 0.0; }
  friend bool operator==(const GilbertElliott&, const GilbertElliott&) = default;
};

/// One direction's impairment. Probabilities are fractions in [0, 1].
///
/// Pipeline, per submitted packet, in this order:
///  1. loss: dropped with probability `loss` (or by the Gilbert-Elliott chain when `burst` is on);
///  2. duplicate: with probability `duplicate` a byte-identical copy (from the BufPool) follows the
///     original through steps 3-4 on its own (own jitter, own reorder draw);
///  3. rate: a FIFO bottleneck of `rate_bps` bits/s; a packet leaves it when its last bit has been
///     serialised. The queue in front holds at most `queue_packets` packets (or `queue_bytes`
///     bytes when that is non-zero), counting the one on the wire; beyond it, tail drop;
///  4. delay: each packet is then held delay ± jitter (uniform), never below zero. Jitter alone
///     never reorders: an in-order packet whose jitter would put it before its predecessor leaves
///     right after it instead (unlike netem's tfifo, which silently reorders under jitter).
///     Reorder: with probability `reorder` a packet leaves the in-order stream:
///       - gap == 0: it skips delay and jitter and leaves as soon as the rate stage releases it,
///         overtaking everything still in the delay line (netem's "delay 10ms reorder 25%");
///       - gap > 0: it is held `gap` beyond its own delay, and packets submitted during that
///         time overtake it.
/// At most `limit` packets are held at once (all stages together); more are dropped and counted.
struct ImpairConfig {
  double loss = 0.0;        ///< independent (Bernoulli) loss probability
  GilbertElliott burst;     ///< burst loss instead of `loss` (the two are exclusive)
  double duplicate = 0.0;   ///< probability that a packet is sent twice
  double reorder = 0.0;     ///< probability that a packet leaves the in-order stream (see above)
  Duration gap{0};          ///< how long a reordered packet is held back (0: it skips the delay)
  Duration delay{0};        ///< one-way latency added to every packet
  Duration jitter{0};       ///< latency varies uniformly in [delay - jitter, delay + jitter]
  std::uint64_t rate_bps = 0;          ///< bottleneck rate in bits/s; 0 = unlimited
  std::uint32_t queue_packets = 1000;  ///< bottleneck queue cap in packets (rate only)
  std::uint64_t queue_bytes = 0;       ///< bottleneck queue cap in bytes; non-zero overrides packets
  std::uint32_t limit = 10000;         ///< packets held at once across all stages
  std::uint64_t seed = 1;              ///< same seed + same input sequence = same output

  /// True when any impairment is configured; a disabled impairer passes packets straight through.
  bool enabled() const {
    return loss > 0.0 || burst.enabled() || duplicate > 0.0 || reorder > 0.0 ||
           delay.count() > 0 || jitter.count() > 0 || rate_bps > 0;
  }
  friend bool operator==(const ImpairConfig&, const ImpairConfig&) = default;
};

/// Parses a spec like "loss=2% delay=10ms rate=100mbit" ("", "off" or "none": disabled). Keys:
/// loss, ge, dup, reorder, gap, delay, jitter, rate, queue, limit, seed. Errors name the bad token.
Result<ImpairConfig, std::string> parse_spec(std::string_view spec);

/// The canonical spec of `c` (only what differs from the defaults, plus the seed), or "off";
/// parse_spec(to_string(c)) gives back `c`.
std::string to_string(const ImpairConfig& c);

/// Checks the cross-field rules parse_spec enforces (probabilities in [0, 1], reorder needs a
/// delay or a gap, jitter <= delay, ...), for configs built in code.
Status<std::string> check(const ImpairConfig& c);

}  // namespace tunstack::impair
