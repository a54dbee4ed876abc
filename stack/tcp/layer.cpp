#include "stack/tcp/layer.hpp"

#include "stack/ip/ip_out.hpp"
#include "stack/tcp/isn.hpp"

namespace tunstack::tcp {

using wire::TcpFlags;

namespace {
constexpr std::uint64_t kNanosPerSecond = 1'000'000'000;
}  // namespace

TcpLayer::TcpLayer(TcpConfig cfg, Instant origin, BufPool& pool, PacketOutput& out,
                   dispatch::Dispatcher& dispatcher, icmp::ErrorSender* errors)
    : cfg_(cfg),
      origin_(origin),
      pool_(pool),
      out_(out),
      dispatcher_(dispatcher),
      errors_(errors),
      wheel_(origin),
      conns_(cfg.max_connections, hash_mix(cfg.secret ^ 0x64656d7578ULL)),  // keyed: clients pick ports
      cookies_(cfg.secret),
      challenge_tokens_(std::uint64_t{cfg.challenge_ack_limit} * kNanosPerSecond),
      challenge_refill_(origin),
      last_now_(origin) {
  deferred_.reserve(256);  // a loop batch; growing past it is rare and amortised
}

TcpLayer::~TcpLayer() = default;

void TcpLayer::defer_delivery(Connection& c) {
  if (c.delivery_deferred) return;
  c.delivery_deferred = true;
  deferred_.push_back(&c);
}

void TcpLayer::end_batch() {
  batching_ = false;
  // Connections stay where they are in memory (the table holds unique_ptrs), and one
  // connection's delivery cannot close another, so the list is walked as it stands; erase()
  // takes a dead one off it.
  for (std::size_t i = 0; i < deferred_.size(); ++i) {
    Connection* c = deferred_[i];
    if (c == nullptr) continue;  // erased after it was queued
    c->delivery_deferred = false;
    if (c->dead()) continue;
    c->flush_deferred(last_now_);
    if (c->dead()) {
      deferred_[i] = nullptr;
      erase(c->tuple());
    } else {
      touch(*c);
    }
  }
  deferred_.clear();
}

std::uint16_t TcpLayer::our_mss(IpVersion v) const {
  const std::size_t overhead = ip::ip_header_len(v) + wire::kTcpMinHeaderLen;
  return static_cast<std::uint16_t>(cfg_.mtu > overhead + 64 ? cfg_.mtu - overhead : 64);
}

Connection* TcpLayer::find(const Endpoint& client, const Endpoint& server) {
  auto* c = conns_.find(FourTuple{client, server});
  return c != nullptr ? c->get() : nullptr;
}

void TcpLayer::on_tcp(Instant now, const IpAddr& src, const IpAddr& dst, PacketBuf segment) {
  last_now_ = now;
  ++stats_.segments_in;
  auto view = wire::TcpView::check(segment.view());
  if (!view) {
    stats_.drop(DropReason::Malformed);
    return;
  }
  auto repr = wire::TcpRepr::parse(*view);
  if (!repr) {
    stats_.drop(DropReason::Malformed);
    return;
  }
  const wire::TcpRepr& seg = *repr;
  const FourTuple t{Endpoint{src, seg.src_port}, Endpoint{dst, seg.dst_port}};
  const bool pure_syn = seg.flags.has(TcpFlags::SYN) && !seg.flags.any(TcpFlags::ACK | TcpFlags::RST);
  if (auto* slot = conns_.find(t)) {
    Connection& c = **slot;
    if (c.dead()) {
      erase(t);
    } else if (pure_syn && c.accepts_new_syn(seg)) {
      ++stats_.time_wait_reused;  // a new incarnation replaces the TIME-WAIT connection
      erase(t);
    } else {
      c.on_segment(now, seg, view->payload());
      if (c.dead()) erase(t);
      else touch(c);
      return;
    }
  }
  // RFC 9293 §3.10.7.1 (CLOSED) / §3.10.7.2 (LISTEN): every destination is listening.
  if (seg.flags.has(TcpFlags::RST)) {
    stats_.drop(DropReason::NoConnection);  // never answer a RST
    return;
  }
  if (pure_syn) {
    on_syn(now, t, seg);
    return;
  }
  if (seg.flags.has(TcpFlags::ACK) && !seg.flags.has(TcpFlags::SYN) &&
      accept_cookie(now, t, seg, view->payload()))
    return;
  stats_.drop(DropReason::NoConnection);
  reply_rst(t, seg, RstReason::NoConnection);
}

void TcpLayer::on_syn(Instant now, const FourTuple& t, const wire::TcpRepr& seg) {
  if (conns_.full()) {
    stats_.drop(DropReason::TableFull);
    return;
  }
  if (stats_.half_open >= cfg_.max_half_open) {
    // The SYN queue is full: answer statelessly (RFC 4987 §3.6), or drop and let the client
    // retry.
    if (cfg_.syn_cookies) send_cookie_synack(now, t, seg);
    else stats_.drop(DropReason::HalfOpenFull);
    return;
  }
  auto* slot = conns_.insert(t, std::make_unique<Connection>(*this, t, now, seg));
  if (slot == nullptr) {
    stats_.drop(DropReason::TableFull);
    return;
  }
  ++stats_.half_open;
  Connection& c = **slot;
  start(now, t, c);
  if (c.dead()) erase(t);
  else touch(c);
}

void TcpLayer::start(Instant now, const FourTuple& t, Connection& c) {
  ++stats_.passive_opens;
  stats_.active = conns_.size();
  dispatch::FlowInfo flow;
  flow.proto = dispatch::Proto::Tcp;
  flow.src = t.client;
  flow.dst = t.server;
  flow.inbound_tag = "tun";
  flow.id = next_flow_id_++;
  c.open(now, dispatcher_.route(flow), flow);
}

void TcpLayer::send_cookie_synack(Instant now, const FourTuple& t, const wire::TcpRepr& syn) {
  const IpVersion v = t.client.addr.version();
  const std::uint16_t client_mss = syn.options.mss.value_or(v == IpVersion::V4 ? 536 : 1220);
  wire::TcpRepr r;
  r.src_port = t.server.port;
  r.dst_port = t.client.port;
  r.seq = cookies_.make(t.client, t.server, syn.seq, SynCookies::mss_index(v, client_mss), now);
  r.ack = syn.seq + 1;
  r.flags = TcpFlags::SYN | TcpFlags::ACK;
  r.options.mss = our_mss(v);
  // Only with timestamps can the window scale and SACK-permitted survive (in TSval's low bits);
  // the connection built from the ACK recomputes everything else exactly as Connection does.
  if (cfg_.timestamps && syn.options.timestamps) {
    SynCookies::TsBits bits;
    if (cfg_.window_scale && syn.options.wscale) {
      bits.wscale = syn.options.wscale;
      r.options.wscale = rcv_window_shift(cfg_);
    }
    bits.sack = cfg_.sack && syn.options.sack_permitted;
    r.options.sack_permitted = bits.sack;
    const std::uint32_t ts = ts_clock(now, origin_, ts_offset(t.client, t.server, cfg_.secret));
    r.options.timestamps = wire::TcpTimestamps{SynCookies::encode_ts(ts, bits), syn.options.timestamps->tsval};
  }
  // The window a new connection's SYN-ACK would carry (Connection's cookie constructor relies on
  // it being the same): the initial buffer, unscaled.
  r.window = static_cast<std::uint16_t>(std::min<std::uint32_t>(clamp_buf(cfg_.rcv_buf, cfg_), 0xffff));
  PacketBuf p = pool_.alloc(0);
  if (!p.valid()) {
    stats_.drop(DropReason::NoBuffer);
    return;
  }
  const std::size_t n = r.size();
  r.emit(p.prepend(n), {}, t.server.addr, t.client.addr);
  ++stats_.syncookies_sent;
  ++stats_.segments_out;
  last_cookie_ = now;
  emit(std::move(p), t);
}

bool TcpLayer::accept_cookie(Instant now, const FourTuple& t, const wire::TcpRepr& seg, Bytes payload) {
  // Only while cookies are in use (Linux's tcp_synq_no_recent_overflow): otherwise a stray ACK
  // is just that, and blind guesses get no chance at all.
  if (!cfg_.syn_cookies || !last_cookie_ || now - *last_cookie_ > 2 * SynCookies::kSlot) return false;
  const SeqNum client_isn = seg.seq - 1;
  const SeqNum iss = *seg.ack - 1;
  const auto index = cookies_.check(t.client, t.server, client_isn, iss, now);
  if (!index) {
    ++stats_.syncookies_failed;
    return false;
  }
  if (conns_.full()) {
    stats_.drop(DropReason::TableFull);
    return true;  // the client retries its ACK; the cookie stays valid for a while
  }
  SynInfo info;
  info.irs = client_isn;
  info.window = seg.window;
  info.mss = SynCookies::mss_of(t.client.addr.version(), *index);
  if (cfg_.timestamps && seg.options.timestamps) {
    const SynCookies::TsBits bits = SynCookies::decode_ts(seg.options.timestamps->tsecr);
    info.wscale = bits.wscale;
    info.sack_permitted = bits.sack;
    info.tsval = seg.options.timestamps->tsval;
  }
  auto* slot = conns_.insert(t, std::make_unique<Connection>(*this, t, now, info, iss));
  if (slot == nullptr) {
    stats_.drop(DropReason::TableFull);
    return true;
  }
  ++stats_.syncookies_ok;
  Connection& c = **slot;
  start(now, t, c);
  // The outbound connects in the background; the ACK (and any data on it) is processed now, so
  // the client's bytes wait in the receive buffer until on_connected.
  if (!c.dead()) c.on_segment(now, seg, payload);
  if (c.dead()) erase(t);
  else touch(c);
  return true;
}

bool TcpLayer::allow_challenge_ack(Instant now) {
  const std::uint64_t limit = cfg_.challenge_ack_limit;
  if (limit != 0) {
    const std::uint64_t cap = limit * kNanosPerSecond;
    const Duration elapsed = std::min<Duration>(now - challenge_refill_, std::chrono::seconds(1));
    if (elapsed > Duration{0}) {
      challenge_tokens_ = std::min(cap, challenge_tokens_ + static_cast<std::uint64_t>(elapsed.count()) * limit);
      challenge_refill_ = now;
    }
    if (challenge_tokens_ < kNanosPerSecond) {
      ++stats_.challenge_acks_suppressed;
      return false;
    }
    challenge_tokens_ -= kNanosPerSecond;
  }
  ++stats_.challenge_acks;
  return true;
}

void TcpLayer::reply_rst(const FourTuple& t, const wire::TcpRepr& seg, RstReason why) {
  // RFC 9293 §3.10.7.1: with ACK, <SEQ=SEG.ACK><CTL=RST>; otherwise
  // <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
  wire::TcpRepr r;
  r.src_port = t.server.port;
  r.dst_port = t.client.port;
  if (seg.ack) {
    r.seq = *seg.ack;
    r.flags = TcpFlags::RST;
  } else {
    r.seq = SeqNum{0};
    r.ack = seg.seq + seg.segment_len();
    r.flags = TcpFlags::RST | TcpFlags::ACK;
  }
  PacketBuf p = pool_.alloc(0);
  if (!p.valid()) {
    stats_.drop(DropReason::NoBuffer);
    return;
  }
  const std::size_t n = r.size();
  r.emit(p.prepend(n), {}, t.server.addr, t.client.addr);
  stats_.rst(why);
  ++stats_.segments_out;
  emit(std::move(p), t);
}

void TcpLayer::emit(PacketBuf segment, const FourTuple& t) {
  ip::OriginFields f;
  f.hop_limit = cfg_.hop_limit;
  f.ident = ip_ident_++;
  f.dont_frag = true;  // TCP does its own segmentation (RFC 1191 path MTU discovery)
  if (!ip::prepend_ip_header(segment, t.server.addr, t.client.addr, wire::IpProto::Tcp, f)) {
    stats_.drop(DropReason::NoBuffer);
    return;
  }
  out_.emit(std::move(segment));
}

void TcpLayer::block_on_output(Connection& c) {
  if (c.output_blocked) return;
  c.output_blocked = true;
  ++stats_.output_queue_full;
  output_blocked_.push_back(c.tuple());
}

void TcpLayer::on_output_room(Instant now) {
  if (output_blocked_.empty()) return;
  advance_clock(now);
  // Connections resume in the order they stopped; one that finds the queue full again goes
  // back on the list (a fresh one: swap first).
  std::vector<FourTuple> waiting;
  waiting.swap(output_blocked_);
  for (const FourTuple& t : waiting) {
    if (out_.room() == 0) {
      output_blocked_.push_back(t);
      continue;
    }
    auto* c = conns_.find(t);
    if (c == nullptr || !*c) continue;
    (*c)->on_output_room(now);
    touch(**c);
  }
}

void TcpLayer::touch(Connection& c) {
  if (c.dead()) {
    wheel_.schedule(c.timer, last_now_);  // reaped by the next poll()
    return;
  }
  if (auto d = c.next_deadline()) wheel_.schedule(c.timer, *d);
  else wheel_.cancel(c.timer);
}

void TcpLayer::erase(const FourTuple& t) {
  const FourTuple key = t;  // t may live inside the connection being destroyed
  if (auto* slot = conns_.find(key); slot != nullptr && (*slot)->delivery_deferred) {
    Connection* c = slot->get();
    for (Connection*& d : deferred_)
      if (d == c) d = nullptr;  // end_batch() skips it
    c->delivery_deferred = false;
  }
  conns_.erase(key);
  stats_.active = conns_.size();
}

void TcpLayer::poll(Instant now) {
  last_now_ = now;
  wheel_.advance(now, [&](Timer& timer) {
    auto* c = static_cast<Connection*>(timer.owner);
    if (!c->dead()) c->on_timer(now);
    if (c->dead()) erase(c->tuple());
    else touch(*c);
  });
}

std::optional<Instant> TcpLayer::next_deadline() const { return wheel_.next_deadline(); }

void TcpLayer::send_unreachable(const FourTuple& t, SeqNum client_isn, const dispatch::RemoteError& why) {
  if (errors_ == nullptr) return;
  // Rebuild the start of the client's SYN (IP header + TCP header) for the ICMP quote.
  wire::TcpRepr syn;
  syn.src_port = t.client.port;
  syn.dst_port = t.server.port;
  syn.seq = client_isn;
  syn.flags = TcpFlags::SYN;
  PacketBuf p = pool_.alloc(wire::kTcpMinHeaderLen);
  if (!p.valid()) return;
  syn.emit(p.append(syn.size()), {}, t.client.addr, t.server.addr);
  if (!ip::prepend_ip_header(p, t.client.addr, t.server.addr, wire::IpProto::Tcp, {})) return;
  icmp::ErrorSpec spec;
  using K = dispatch::RemoteError::Kind;
  switch (why.kind) {
    case K::NetUnreachable: spec.kind = icmp::ErrorKind::NetUnreachable; break;
    case K::AdminProhibited: spec.kind = icmp::ErrorKind::AdminProhibited; break;
    case K::PortUnreachable: spec.kind = icmp::ErrorKind::PortUnreachable; break;
    default: spec.kind = icmp::ErrorKind::HostUnreachable; break;
  }
  const bool unspecified = why.reporter.is_v4() ? why.reporter.v4().is_unspecified()
                                                 : why.reporter.v6().is_unspecified();
  spec.reporter = why.reporter.version() == t.server.addr.version() && !unspecified
                      ? why.reporter
                      : t.server.addr;
  spec.client = t.client.addr;
  (void)errors_->send(last_now_, spec, p.view());
}

}  // namespace tunstack::tcp
