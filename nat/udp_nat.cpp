#include "nat/udp_nat.hpp"

#include <cassert>

namespace tunstack::nat {

/// One mapping: a client endpoint, its outbound session, and its place in the LRU list.
/// It is the session's sink, so replies and errors find their client without a lookup.
struct UdpNat::Mapping final : dispatch::DatagramSink {
  UdpNat* nat = nullptr;
  std::uint32_t slot = kNone;
  Endpoint client;
  std::unique_ptr<dispatch::DatagramSession> session;
  Instant last_active{};
  Timer idle_timer;
  std::uint32_t lru_prev = kNone;
  std::uint32_t lru_next = kNone;
  std::uint64_t flow_id = 0;
  std::size_t last_sent_len = 0;  // payload size of the last datagram, for rebuilt ICMP errors
  bool closed = false;

  void on_datagram(const Endpoint& from, PacketBuf payload) override {
    if (!closed) nat->on_reply(*this, from, std::move(payload));
  }
  void on_remote_error(const dispatch::RemoteError& err) override {
    if (!closed) nat->on_remote_error(*this, err);
  }
  void on_session_closed() override {
    if (!closed) nat->on_closed(*this);
  }
};

UdpNat::UdpNat(UdpNatConfig cfg, dispatch::Dispatcher& dispatcher, ReturnPath& return_path, Instant now)
    : cfg_(std::move(cfg)),
      dispatcher_(dispatcher),
      return_path_(return_path),
      wheel_(now, std::chrono::milliseconds(100)),  // idle timeouts are minutes: 100 ms is plenty
      index_(cfg_.max_mappings),
      now_(now) {
  slots_.reserve(cfg_.max_mappings);
}

UdpNat::~UdpNat() = default;

void UdpNat::on_datagram(Instant now, const Endpoint& client, const Endpoint& dst, PacketBuf payload) {
  now_ = now;
  reap_closed();
  Mapping* m = nullptr;
  if (std::uint32_t* slot = index_.find(client)) {
    m = slots_[*slot].get();
  } else {
    m = create(now, client, dst);
    if (m == nullptr) return;  // counted in create()
  }
  touch(*m, now);  // RFC 4787 REQ-6: outbound traffic refreshes the mapping
  const std::size_t len = payload.size();
  m->last_sent_len = len;
  auto sent = m->session->send(dst, std::move(payload));
  if (sent.ok()) {
    ++stats_.tx_datagrams;
    stats_.tx_bytes += len;
    return;
  }
  switch (sent.error()) {
    case dispatch::SendError::QueueFull: ++stats_.tx_drop_queue_full; break;
    case dispatch::SendError::Unreachable: ++stats_.tx_drop_unreachable; break;
    case dispatch::SendError::Closed: ++stats_.tx_drop_closed; break;
  }
}

UdpNat::Mapping* UdpNat::create(Instant now, const Endpoint& client, const Endpoint& dst) {
  if (index_.full()) {
    // The cap is reached: the least recently used mapping makes room (counted).
    assert(lru_tail_ != kNone);
    destroy(lru_tail_);
    ++stats_.mappings_evicted;
  }
  std::uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<std::uint32_t>(slots_.size());
    slots_.push_back(nullptr);
  }
  auto m = std::make_unique<Mapping>();
  m->nat = this;
  m->slot = slot;
  m->client = client;
  m->flow_id = next_flow_id_++;
  m->idle_timer.owner = m.get();
  dispatch::FlowInfo flow{cfg_.proto, client, dst, cfg_.inbound_tag, m->flow_id};
  m->session = dispatcher_.route(flow).open_datagram(flow, *m);
  if (!m->session) {
    ++stats_.open_failed;
    free_slots_.push_back(slot);
    return nullptr;
  }
  Mapping* raw = m.get();
  slots_[slot] = std::move(m);
  [[maybe_unused]] auto* inserted = index_.insert(client, slot);
  assert(inserted != nullptr);
  lru_push_front(*raw);
  raw->last_active = now;
  wheel_.schedule(raw->idle_timer, now + cfg_.idle_timeout);
  ++stats_.mappings_created;
  return raw;
}

void UdpNat::destroy(std::uint32_t slot) {
  std::unique_ptr<Mapping> m = std::move(slots_[slot]);
  assert(m);
  lru_unlink(*m);
  wheel_.cancel(m->idle_timer);
  index_.erase(m->client);
  m->closed = true;
  m->session.reset();  // closes the outbound socket
  free_slots_.push_back(slot);
}

void UdpNat::touch(Mapping& m, Instant now) {
  m.last_active = now;
  if (lru_head_ != m.slot) {
    lru_unlink(m);
    lru_push_front(m);
  }
  // The idle timer is not moved on every packet: when it fires, poll() re-arms it for the rest.
}

void UdpNat::lru_unlink(Mapping& m) {
  if (m.lru_prev != kNone) slots_[m.lru_prev]->lru_next = m.lru_next;
  else if (lru_head_ == m.slot) lru_head_ = m.lru_next;
  if (m.lru_next != kNone) slots_[m.lru_next]->lru_prev = m.lru_prev;
  else if (lru_tail_ == m.slot) lru_tail_ = m.lru_prev;
  m.lru_prev = m.lru_next = kNone;
}

void UdpNat::lru_push_front(Mapping& m) {
  m.lru_prev = kNone;
  m.lru_next = lru_head_;
  if (lru_head_ != kNone) slots_[lru_head_]->lru_prev = m.slot;
  lru_head_ = m.slot;
  if (lru_tail_ == kNone) lru_tail_ = m.slot;
}

void UdpNat::on_reply(Mapping& m, const Endpoint& from, PacketBuf payload) {
  // Endpoint-independent filtering (RFC 4787 REQ-8, full cone): any remote may answer.
  if (from.addr.version() != m.client.addr.version()) {
    ++stats_.rx_drop_family_mismatch;
    return;
  }
  if (cfg_.inbound_refresh) touch(m, now_);
  const std::size_t len = payload.size();
  const bool built = cfg_.proto == dispatch::Proto::Icmp
                         ? return_path_.echo_reply(from.addr, m.client, payload.view())
                         : return_path_.udp(from, m.client, std::move(payload));
  if (!built) {
    ++stats_.rx_drop_build;
    return;
  }
  ++stats_.rx_datagrams;
  stats_.rx_bytes += len;
}

void UdpNat::on_remote_error(Mapping& m, const dispatch::RemoteError& err) {
  ++stats_.remote_errors;
  if (err.remote.addr.version() != m.client.addr.version()) return;
  if (return_path_.icmp_error(now_, err, m.client, m.last_sent_len, cfg_.proto)) ++stats_.icmp_errors_sent;
}

void UdpNat::on_closed(Mapping& m) {
  // Called from inside the session: it must not be destroyed here, only marked.
  m.closed = true;
  closed_.push_back(m.slot);
  ++stats_.mappings_closed_by_outbound;
}

void UdpNat::reap_closed() {
  for (std::uint32_t slot : closed_)
    if (slots_[slot]) destroy(slot);
  closed_.clear();
}

void UdpNat::poll(Instant now) {
  now_ = now;
  reap_closed();
  wheel_.advance(now, [&](Timer& t) {
    auto* m = static_cast<Mapping*>(t.owner);
    const Instant expires = m->last_active + cfg_.idle_timeout;
    if (expires > now) {
      wheel_.schedule(t, expires);  // refreshed since it was armed
      return;
    }
    ++stats_.mappings_expired;
    destroy(m->slot);
  });
}

std::optional<Instant> UdpNat::next_deadline() const {
  if (!closed_.empty()) return now_;
  return wheel_.next_deadline();
}

std::optional<Endpoint> UdpNat::mapped_endpoint(const Endpoint& client) const {
  const std::uint32_t* slot = index_.find(client);
  if (slot == nullptr) return std::nullopt;
  return slots_[*slot]->session->mapped_endpoint();
}

}  // namespace tunstack::nat
