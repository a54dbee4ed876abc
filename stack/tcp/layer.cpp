#include "stack/tcp/layer.hpp"

#include "stack/ip/ip_out.hpp"

namespace tunstack::tcp {

using wire::TcpFlags;

TcpLayer::TcpLayer(TcpConfig cfg, Instant origin, BufPool& pool, PacketOutput& out,
                   dispatch::Dispatcher& dispatcher, icmp::ErrorSender* errors)
    : cfg_(cfg),
      origin_(origin),
      pool_(pool),
      out_(out),
      dispatcher_(dispatcher),
      errors_(errors),
      wheel_(origin),
      conns_(cfg.max_connections),
      last_now_(origin) {}

TcpLayer::~TcpLayer() = default;

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
  stats_.drop(DropReason::NoConnection);
  reply_rst(t, seg, RstReason::NoConnection);
}

void TcpLayer::on_syn(Instant now, const FourTuple& t, const wire::TcpRepr& seg) {
  if (conns_.full()) {
    stats_.drop(DropReason::TableFull);
    return;
  }
  if (stats_.half_open >= cfg_.max_half_open) {
    // The SYN queue is full; the client retries (SYN cookies are not implemented).
    stats_.drop(DropReason::HalfOpenFull);
    return;
  }
  auto* slot = conns_.insert(t, std::make_unique<Connection>(*this, t, now, seg));
  if (slot == nullptr) {
    stats_.drop(DropReason::TableFull);
    return;
  }
  ++stats_.passive_opens;
  ++stats_.half_open;
  stats_.active = conns_.size();
  Connection& c = **slot;
  dispatch::FlowInfo flow;
  flow.proto = dispatch::Proto::Tcp;
  flow.src = t.client;
  flow.dst = t.server;
  flow.inbound_tag = "tun";
  flow.id = next_flow_id_++;
  c.open(now, dispatcher_.route(flow), flow);
  if (c.dead()) erase(t);
  else touch(c);
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
