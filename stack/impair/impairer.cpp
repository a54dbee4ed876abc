#include "stack/impair/impairer.hpp"

#include <algorithm>

namespace tunstack::impair {
namespace {

/// Orders the held-packet heap so that its front is the earliest due, first submitted.
struct LaterFirst {
  template <class H>
  bool operator()(const H& a, const H& b) const {
    return a.at != b.at ? a.at > b.at : a.seq > b.seq;
  }
};

constexpr std::uint64_t kNsPerSecond = 1'000'000'000;

}  // namespace

Impairer::Impairer(const ImpairConfig& cfg, BufPool& pool, PacketOutput& out, std::uint64_t stream)
    : cfg_(cfg),
      enabled_(cfg.enabled()),
      pool_(pool),
      out_(out),
      rng_(cfg.seed ^ (stream * 0xd1342543de82ef95ULL)) {
  if (!enabled_) return;  // a disabled impairer holds nothing and reserves nothing
  loss_thr_ = Rng::threshold_of(cfg.loss);
  dup_thr_ = Rng::threshold_of(cfg.duplicate);
  reorder_thr_ = Rng::threshold_of(cfg.reorder);
  if (cfg.burst.enabled()) {
    ge_p_thr_ = Rng::threshold_of(cfg.burst.p);
    ge_r_thr_ = Rng::threshold_of(cfg.burst.r);
    ge_bad_thr_ = Rng::threshold_of(cfg.burst.bad_loss);
    ge_good_thr_ = Rng::threshold_of(cfg.burst.good_loss);
  }
  // All storage up front: the data path never grows a vector.
  line_.resize(cfg.limit);
  if (reorder_thr_ != 0) side_.reserve(cfg.limit);
  if (cfg.rate_bps > 0) link_.resize(cfg.limit);
}

void Impairer::submit_impaired(Instant now, PacketBuf p) {
  now = std::max(now, last_now_);
  last_now_ = now;
  ++stats_.submitted;
  if (lose()) {
    ++stats_.dropped_loss;
    return;  // p goes back to its pool here
  }
  PacketBuf copy;
  if (rng_.chance(dup_thr_)) {
    // The one copy this component makes: a duplicate must be a buffer of its own.
    copy = pool_.copy_of(p.view());
    if (copy.valid()) ++stats_.duplicated;
    else ++stats_.dup_no_buffer;
  }
  schedule(now, std::move(p));
  if (copy.valid()) schedule(now, std::move(copy));
  poll(now);
}

bool Impairer::lose() {
  if (ge_p_thr_ == 0) return rng_.chance(loss_thr_);
  // Gilbert-Elliott: the loss is decided in the current state, then the chain steps (as netem's
  // gemodel does).
  const bool lost = rng_.chance(ge_bad_ ? ge_bad_thr_ : ge_good_thr_);
  if (ge_bad_) ge_bad_ = !rng_.chance(ge_r_thr_);
  else ge_bad_ = rng_.chance(ge_p_thr_);
  return lost;
}

void Impairer::schedule(Instant now, PacketBuf p) {
  if (held() >= cfg_.limit) {
    ++stats_.dropped_limit;
    return;
  }
  Instant left = now;
  if (cfg_.rate_bps > 0) {
    auto t = bottleneck(now, p.size());
    if (!t) {
      ++stats_.dropped_queue_full;
      return;
    }
    left = *t;
  }
  bool reordered = false;
  const Instant at = due_after_delay(left, reordered);
  if (at <= now && held() == 0 && out_.room() > 0) {
    // Due already and nothing held that could be due earlier: out at once (e.g. loss only).
    ++stats_.delivered;
    out_.emit(std::move(p));
    return;
  }
  if (at > now) ++stats_.delayed;
  ++stats_.queued;
  stats_.queued_bytes += p.size();
  if (reordered) {
    side_.push_back(Held{at, next_seq_++, std::move(p)});
    std::push_heap(side_.begin(), side_.end(), LaterFirst{});
  } else {
    std::size_t tail = line_head_ + line_count_;
    if (tail >= line_.size()) tail -= line_.size();
    line_[tail] = Held{at, next_seq_++, std::move(p)};
    ++line_count_;
  }
}

Instant Impairer::next_due() const {
  if (line_count_ == 0) return side_.front().at;
  if (side_.empty()) return line_[line_head_].at;
  return std::min(line_[line_head_].at, side_.front().at);
}

std::optional<Instant> Impairer::bottleneck(Instant now, std::size_t bytes) {
  // Forget packets whose last bit has left by now; what remains is the queue (plus the packet on
  // the wire), all of it still held, so the ring never needs more than `limit` slots.
  while (link_count_ > 0 && link_[link_head_].departs <= now) {
    link_bytes_ -= link_[link_head_].bytes;
    link_head_ = (link_head_ + 1) % link_.size();
    --link_count_;
  }
  const bool full = link_count_ == link_.size() ||
                    (cfg_.queue_bytes != 0 ? link_bytes_ + bytes > cfg_.queue_bytes
                                           : link_count_ >= cfg_.queue_packets);
  if (full) return std::nullopt;
  Instant start = now;
  if (link_free_ > now) {
    start = link_free_;
    ++stats_.rate_waited;
  } else {
    link_remainder_ = 0;  // the link went idle: no fraction of a nanosecond is owed
  }
  // Serialisation time in ns = bits * 1e9 / rate. The remainder carries over so that a long run
  // sends exactly rate * T bits in T, whatever the rounding per packet.
  const std::uint64_t bit_ns = static_cast<std::uint64_t>(bytes) * 8 * kNsPerSecond + link_remainder_;
  const std::uint64_t tx_ns = bit_ns / cfg_.rate_bps;
  link_remainder_ = bit_ns % cfg_.rate_bps;
  link_free_ = start + Duration{static_cast<std::int64_t>(tx_ns)};
  link_[(link_head_ + link_count_) % link_.size()] = OnLink{link_free_, static_cast<std::uint32_t>(bytes)};
  ++link_count_;
  link_bytes_ += bytes;
  return link_free_;
}

Instant Impairer::due_after_delay(Instant t, bool& reordered) {
  reordered = rng_.chance(reorder_thr_);
  Duration latency = cfg_.delay;
  if (cfg_.jitter.count() > 0) {
    const auto j = static_cast<std::uint64_t>(cfg_.jitter.count());
    latency += Duration{static_cast<std::int64_t>(rng_.upto(2 * j)) - cfg_.jitter.count()};
    if (latency.count() < 0) latency = Duration{0};
  }
  if (reordered) {
    ++stats_.reordered;
    // Out of the in-order stream: ahead of the delay line (gap 0, netem's reorder) or held back.
    return cfg_.gap.count() == 0 ? t : t + latency + cfg_.gap;
  }
  // In order: never before the previous in-order packet, whatever the jitter drew.
  last_in_order_ = std::max(t + latency, last_in_order_);
  return last_in_order_;
}

void Impairer::release_due(Instant now) {
  while (held() > 0) {
    if (out_.room() == 0) {
      ++stats_.output_waits;
      output_blocked_ = true;
      break;
    }
    const bool from_line = line_count_ > 0 && (side_.empty() || earlier(line_[line_head_], side_.front()));
    PacketBuf p;
    if (from_line) {
      Held& h = line_[line_head_];
      if (h.at > now) break;
      p = std::move(h.buf);
      if (++line_head_ == line_.size()) line_head_ = 0;
      --line_count_;
    } else {
      if (side_.front().at > now) break;
      std::pop_heap(side_.begin(), side_.end(), LaterFirst{});
      p = std::move(side_.back().buf);
      side_.pop_back();
    }
    --stats_.queued;
    stats_.queued_bytes -= p.size();
    ++stats_.delivered;
    // The held set is consistent before the output runs, so the output may submit again.
    out_.emit(std::move(p));
  }
}

}  // namespace tunstack::impair
