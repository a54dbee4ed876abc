#include "tests/stack/tcp/sim/sim_client.hpp"

#include <algorithm>
#include <cstring>

#include "tests/stack/tcp/sim/source_outbound.hpp"

namespace tunstack::tcp::sim {

using wire::TcpFlags;

SimClient::SimClient(ClientConfig cfg, std::uint64_t seed, Emit emit)
    : cfg_(std::move(cfg)), seed_(seed), emit_(std::move(emit)), iss_(cfg_.iss) {
  while (cfg_.window_scale && our_shift_ < 14 && (std::uint64_t{0xffff} << our_shift_) < cfg_.rcv_buf)
    ++our_shift_;
}

void SimClient::start(Instant now) {
  origin_ = now;
  syn_sent_at_ = now;
  send(now, TcpFlags::SYN, iss_, {});
  rto_at_ = now + rto_;
}

SeqNum SimClient::rcv_nxt() const { return seq_at(delivered_) + (fin_received_ ? 1u : 0u); }

std::uint16_t SimClient::window_field() const {
  const std::uint32_t shift = ws_ok_ ? our_shift_ : 0;
  return static_cast<std::uint16_t>(std::min<std::uint32_t>(cfg_.rcv_buf >> shift, 0xffff));
}

std::uint32_t SimClient::rcv_wnd() const {
  return std::uint32_t{window_field()} << (ws_ok_ ? our_shift_ : 0);
}

void SimClient::fill_options(Instant now, wire::TcpRepr& r) {
  const bool syn = r.flags.has(TcpFlags::SYN);
  if (syn) {
    r.options.mss = cfg_.mss;
    if (cfg_.window_scale) r.options.wscale = our_shift_;
    r.options.sack_permitted = cfg_.sack;
  }
  if (syn ? cfg_.timestamps : ts_ok_) {
    // A 1 ms clock, as Linux's tcp_time_stamp; the offset keeps it from starting at 0.
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - origin_).count();
    const auto tsval = static_cast<std::uint32_t>(ms) + 1000;
    r.options.timestamps = wire::TcpTimestamps{tsval, syn ? 0u : ts_recent_};
    if (sent_tsvals_.empty() || sent_tsvals_.back() != tsval) sent_tsvals_.push_back(tsval);
  }
  if (!sack_ok_ || !r.ack) return;
  // RFC 2883 §4: a D-SACK block goes first; RFC 2018 §4: then the newest block, then the others.
  const std::size_t most = ts_ok_ ? 3 : 4;
  if (dsack_) {
    r.options.add_sack({seq_at(dsack_->begin), seq_at(dsack_->end)});
    ++stats_.dsacks_sent;
    dsack_.reset();
  }
  for (const SackRange& b : recent_) {
    if (r.options.sack_count >= most) break;
    r.options.add_sack({seq_at(b.begin), seq_at(b.end)});
  }
  if (r.options.sack_count > 0) ++stats_.sack_acks_sent;
}

void SimClient::send(Instant now, TcpFlags flags, SeqNum seq, std::string_view payload) {
  wire::TcpRepr r;
  r.src_port = cfg_.self.port;
  r.dst_port = cfg_.server.port;
  r.seq = seq;
  r.flags = flags;
  if (flags.has(TcpFlags::ACK)) {
    r.ack = rcv_nxt();
    last_ack_sent_ = *r.ack;
    unacked_segments_ = 0;
    delack_at_.reset();
    ++stats_.acks_sent;
  }
  r.window = flags.has(TcpFlags::SYN)
                 ? static_cast<std::uint16_t>(std::min<std::uint32_t>(cfg_.rcv_buf, 0xffff))
                 : window_field();
  fill_options(now, r);
  std::string buf(r.size() + payload.size(), '\0');
  if (!payload.empty()) std::memcpy(buf.data() + r.size(), payload.data(), payload.size());
  r.emit(as_mut_bytes(buf.data(), r.size()), as_bytes(buf.data() + r.size(), payload.size()), cfg_.self.addr,
         cfg_.server.addr);
  emit_(now, std::move(buf));
}

void SimClient::ack_now(Instant now) {
  send(now, TcpFlags::ACK, iss_ + 1 + static_cast<std::uint32_t>(snd_nxt_), {});
}

void SimClient::arm_rto(Instant now) {
  const std::uint64_t end = cfg_.request.size() + (fin_queued_ ? 1 : 0);
  if (snd_una_ < end) {
    if (!rto_at_) rto_at_ = now + rto_;
  } else {
    rto_at_.reset();
  }
}

/// Sends what of the request and the FIN is not yet in flight (go-back-N from snd_nxt).
void SimClient::send_pending(Instant now) {
  const std::uint64_t req = cfg_.request.size();
  while (snd_nxt_ < req) {
    const auto len = std::min<std::uint64_t>(req - snd_nxt_, cfg_.mss);
    send(now, TcpFlags::ACK | TcpFlags::PSH, iss_ + 1 + static_cast<std::uint32_t>(snd_nxt_),
         std::string_view(cfg_.request).substr(snd_nxt_, len));
    snd_nxt_ += len;
  }
  if (fin_queued_ && snd_nxt_ == req) {
    send(now, TcpFlags::ACK | TcpFlags::FIN, iss_ + 1 + static_cast<std::uint32_t>(req), {});
    snd_nxt_ = req + 1;
  }
  arm_rto(now);
}

void SimClient::on_segment(Instant now, Bytes segment) {
  auto v = wire::TcpView::check(segment);
  if (!v || !v->verify_checksum(cfg_.server.addr, cfg_.self.addr)) return;
  auto parsed = wire::TcpRepr::parse(*v);
  if (!parsed) return;
  const wire::TcpRepr& r = *parsed;
  ++stats_.segments_in;
  if (r.flags.has(TcpFlags::RST)) {
    const bool last_ack = fin_received_ && fin_queued_ && !fin_acked_ && delivered_ == cfg_.expect &&
                          cfg_.close == ClientClose::AfterPeerFin;
    ++(last_ack ? stats_.rst_in_last_ack : stats_.rst_in);
    if (last_ack) {
      fin_acked_ = true;  // closed, as far as the client is concerned
      rto_at_.reset();
    }
    return;
  }
  if (r.flags.has(TcpFlags::SYN)) {
    on_synack(now, r);
    return;
  }
  if (!established_) return;
  if (ts_ok_ && r.options.timestamps && r.options.timestamps->tsecr != 0 &&
      !std::binary_search(sent_tsvals_.begin(), sent_tsvals_.end(), r.options.timestamps->tsecr))
    ++stats_.tsecr_bad;
  update_ts_recent(r);
  on_ack(now, r);
  bool immediate = false;
  if (!v->payload().empty()) immediate = on_data(r, v->payload());
  if (r.flags.has(TcpFlags::FIN)) {
    const std::int64_t off = static_cast<std::int64_t>(delivered_) + (r.seq - seq_at(delivered_)) +
                             static_cast<std::int64_t>(v->payload().size());
    if (off >= 0) fin_offset_ = static_cast<std::uint64_t>(off);
    immediate = true;
  }
  if (fin_offset_ && *fin_offset_ == delivered_ && !fin_received_) {
    fin_received_ = true;
    if (delivered_ == cfg_.expect) stats_.all_received_at = now;
  }
  maybe_close(now);
  if (immediate || unacked_segments_ >= 2) {
    ack_now(now);
  } else if (unacked_segments_ > 0 && !delack_at_) {
    delack_at_ = now + cfg_.delack;
  }
}

void SimClient::on_synack(Instant now, const wire::TcpRepr& r) {
  if (!r.flags.has(TcpFlags::ACK) || !r.ack || *r.ack != iss_ + 1) return;
  if (!established_) {
    established_ = true;
    irs_ = r.seq;
    ws_ok_ = cfg_.window_scale && r.options.wscale.has_value();
    peer_shift_ = ws_ok_ ? *r.options.wscale : 0;
    sack_ok_ = cfg_.sack && r.options.sack_permitted;
    ts_ok_ = cfg_.timestamps && r.options.timestamps.has_value();
    if (ts_ok_) ts_recent_ = r.options.timestamps->tsval;
    // The client's own RTO: Linux's 200 ms floor above twice the handshake RTT.
    base_rto_ = std::max<Duration>(std::chrono::milliseconds(200),
                                   2 * (now - syn_sent_at_) + std::chrono::milliseconds(200));
    rto_ = base_rto_;
    rto_at_.reset();
  }
  ack_now(now);  // also answers a retransmitted SYN-ACK whose first ACK was lost
  send_pending(now);
}

void SimClient::update_ts_recent(const wire::TcpRepr& r) {
  // RFC 7323 §4.3 (2): TS.Recent follows the segment that covers Last.ACK.sent.
  if (!ts_ok_ || !r.options.timestamps) return;
  const std::uint32_t tsval = r.options.timestamps->tsval;
  if (static_cast<std::int32_t>(tsval - ts_recent_) >= 0 && r.seq <= last_ack_sent_) ts_recent_ = tsval;
}

void SimClient::on_ack(Instant now, const wire::TcpRepr& r) {
  if (!r.ack) return;
  const std::int32_t adv = *r.ack - (iss_ + 1 + static_cast<std::uint32_t>(snd_una_));
  if (adv <= 0) return;
  snd_una_ = std::min<std::uint64_t>(snd_una_ + static_cast<std::uint64_t>(adv), snd_nxt_);
  if (fin_queued_ && snd_una_ == cfg_.request.size() + 1) fin_acked_ = true;
  rto_ = base_rto_;  // RFC 6298 §5.7-style: progress ends the backoff
  rto_at_.reset();
  arm_rto(now);
}

void SimClient::check_bytes(std::uint64_t off, Bytes payload) {
  std::byte want[2048];
  for (std::size_t i = 0; i < payload.size(); i += sizeof want) {
    const std::size_t n = std::min(sizeof want, payload.size() - i);
    fill_source(seed_, off + i, std::span(want, n));
    if (std::memcmp(want, payload.data() + i, n) == 0) continue;
    for (std::size_t k = 0; k < n; ++k) {
      if (want[k] == payload[i + k]) continue;
      ++stats_.mismatched_bytes;
      if (!stats_.first_mismatch) stats_.first_mismatch = off + i + k;
    }
  }
  if (off + payload.size() > cfg_.expect) stats_.mismatched_bytes += off + payload.size() - cfg_.expect;
}

bool SimClient::on_data(const wire::TcpRepr& r, Bytes payload) {
  ++stats_.data_segments_in;
  if (payload.size() > cfg_.mss) ++stats_.oversized;
  const std::int64_t rel = r.seq - seq_at(delivered_);
  const std::int64_t signed_off = static_cast<std::int64_t>(delivered_) + rel;
  if (signed_off < 0) return true;  // before the stream: nothing sane to check
  const auto off = static_cast<std::uint64_t>(signed_off);
  std::uint64_t end = off + payload.size();
  if (end > delivered_ + rcv_wnd()) {
    ++stats_.beyond_window;
    end = std::max(off, delivered_ + rcv_wnd());
    if (end == off) return true;  // wholly outside the window: dropped, answered with an ACK
  }
  check_bytes(off, payload.first(static_cast<std::size_t>(end - off)));
  if (end <= delivered_) {  // RFC 2883 §4.1.1: all duplicate
    ++stats_.duplicate_segments;
    dsack_ = SackRange{off, end};
    return true;
  }
  if (off > delivered_) return on_ooo(off, end);
  if (off < delivered_) dsack_ = SackRange{off, delivered_};  // partly duplicate
  const bool hole_fill = !ooo_.empty();
  delivered_ = end;
  absorb_ooo();
  ++unacked_segments_;
  return hole_fill || dsack_.has_value();
}

bool SimClient::on_ooo(std::uint64_t off, std::uint64_t end) {
  ++stats_.ooo_segments;
  auto it = ooo_.upper_bound(off);
  if (it != ooo_.begin() && std::prev(it)->second >= end) {  // RFC 2883 §4.1.2: SACKed before
    ++stats_.duplicate_segments;
    dsack_ = SackRange{off, end};
    const auto held = std::prev(it);
    remember_block(held->first, held->second);
    return true;
  }
  std::uint64_t b = off;
  std::uint64_t e = end;
  if (it != ooo_.begin() && std::prev(it)->second >= b) {
    --it;
    b = it->first;
    e = std::max(e, it->second);
    it = ooo_.erase(it);
  }
  while (it != ooo_.end() && it->first <= e) {
    e = std::max(e, it->second);
    it = ooo_.erase(it);
  }
  ooo_[b] = e;
  remember_block(b, e);
  return true;
}

void SimClient::remember_block(std::uint64_t begin, std::uint64_t end) {
  // RFC 2018 §4: the block holding the newest segment first; blocks it swallowed go away.
  std::erase_if(recent_, [&](const SackRange& s) { return s.end >= begin && s.begin <= end; });
  recent_.insert(recent_.begin(), SackRange{begin, end});
}

void SimClient::absorb_ooo() {
  while (!ooo_.empty() && ooo_.begin()->first <= delivered_) {
    delivered_ = std::max(delivered_, ooo_.begin()->second);
    ooo_.erase(ooo_.begin());
  }
  std::erase_if(recent_, [&](const SackRange& s) { return s.begin <= delivered_; });
}

void SimClient::maybe_close(Instant now) {
  if (fin_queued_ || !established_ || delivered_ < cfg_.expect) return;
  if (cfg_.close == ClientClose::AfterPeerFin && !fin_received_) return;
  fin_queued_ = true;
  send_pending(now);
}

std::optional<Instant> SimClient::next_deadline() const {
  std::optional<Instant> d = rto_at_;
  if (delack_at_ && (!d || *delack_at_ < *d)) d = delack_at_;
  return d;
}

void SimClient::poll(Instant now) {
  if (delack_at_ && *delack_at_ <= now) ack_now(now);
  if (!rto_at_ || *rto_at_ > now) return;
  rto_at_.reset();
  ++stats_.retransmits;
  rto_ = std::min<Duration>(rto_ * 2, std::chrono::seconds(60));
  if (!established_) {
    send(now, TcpFlags::SYN, iss_, {});
    rto_at_ = now + rto_;
    return;
  }
  snd_nxt_ = snd_una_;  // go-back-N
  send_pending(now);
}

bool SimClient::finished() const { return fin_received_ && delivered_ == cfg_.expect && fin_acked_; }

std::string SimClient::describe() const {
  std::string d = "client: delivered=" + std::to_string(delivered_) + "/" + std::to_string(cfg_.expect) +
                  " fin_received=" + std::to_string(fin_received_) +
                  " fin_acked=" + std::to_string(fin_acked_) + " ooo_ranges=" + std::to_string(ooo_.size()) +
                  " mismatched=" + std::to_string(stats_.mismatched_bytes) +
                  " dup_segs=" + std::to_string(stats_.duplicate_segments) +
                  " dsacks=" + std::to_string(stats_.dsacks_sent) + " rst=" + std::to_string(stats_.rst_in) +
                  " rst_last_ack=" + std::to_string(stats_.rst_in_last_ack) +
                  " beyond_window=" + std::to_string(stats_.beyond_window) +
                  " tsecr_bad=" + std::to_string(stats_.tsecr_bad);
  return d;
}

}  // namespace tunstack::tcp::sim
