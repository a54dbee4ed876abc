// Seeded in-memory network simulation: a scripted go-back-N client (no SACK; window scaling in
// the "scaled" runs, which also let it keep up to 1 MiB in flight so buffer auto-tuning and ring
// growth are exercised) talks to the TcpLayer through a lossy, duplicating, reordering link; the
// echo outbound sends every byte back, so 2 MB cross each way and must arrive byte for byte,
// then both sides close.
#include <map>
#include <queue>
#include <random>

#include "dispatch/builtin.hpp"
#include "tests/stack/tcp/tcp_harness.hpp"

namespace tunstack::tcp::testing {
namespace {

struct LinkParams {
  double loss = 0.0;
  double dup = 0.0;
  int min_delay_ms = 1;
  int max_delay_ms = 1;
};

/// The simulation: see the file comment.
class Sim {
 public:
  Sim(std::uint32_t seed, LinkParams link, std::size_t bytes, bool scaled = false)
      : rng_(seed), link_(link), scaled_(scaled) {
    dispatcher_.target = echo_.get();
    layer_ = std::make_unique<TcpLayer>(TcpConfig{}, now_, pool_, capture_, dispatcher_);
    tx_.resize(bytes);
    for (auto& c : tx_) c = static_cast<char>(rng_());
  }

  /// Runs until both directions are done and closed, or `limit` of simulated time passes.
  bool run(Duration limit) {
    const Instant end = now_ + limit;
    send_syn();
    while (now_ < end) {
      Instant next = end;
      if (!wire_.empty()) next = std::min(next, wire_.top().at);
      if (auto d = layer_->next_deadline()) next = std::min(next, *d);
      if (client_rto_) next = std::min(next, *client_rto_);
      now_ = std::max(now_, next);
      layer_->poll(now_);
      tasks_.run_all();
      collect();
      while (!wire_.empty() && wire_.top().at <= now_) {
        Packet p = wire_.top();
        wire_.pop();
        deliver(p);
      }
      if (client_rto_ && *client_rto_ <= now_) on_client_rto();
      if (done()) return true;
    }
    return false;
  }

  const std::string& sent_bytes() const { return tx_; }
  const std::string& echoed() const { return rx_; }
  const TcpStats& stats() const { return layer_->stats(); }
  /// Where both sides stand (printed when a run does not finish).
  std::string describe() {
    std::string d = "acked=" + std::to_string(acked_) + " nxt=" + std::to_string(nxt_) +
                    " rx=" + std::to_string(rx_.size()) + " fin_sent=" + std::to_string(fin_sent_) +
                    " fin_acked=" + std::to_string(fin_acked_) + " peer_fin=" + std::to_string(peer_fin_) +
                    " peer_wnd=" + std::to_string(peer_wnd_);
    if (Connection* c = layer_->find(client_, server_))
      d += std::string(" server=") + to_string(c->state()) + " sbuf=" + std::to_string(c->send_buffered()) +
           " rbuf=" + std::to_string(c->recv_buffered()) + " snd_wnd=" + std::to_string(c->snd_wnd()) +
           " cwnd=" + std::to_string(c->cwnd()) + " una=" + std::to_string(c->snd_una().raw()) +
           " nxt=" + std::to_string(c->snd_nxt().raw()) + " deadline=" +
           std::to_string(c->next_deadline().has_value()) + " rcv_nxt=" + std::to_string(c->rcv_nxt().raw()) +
           " client_rcv_nxt=" + std::to_string(rcv_nxt().raw()) + " client_seq=" + std::to_string((iss_ + 1 + static_cast<std::uint32_t>(nxt_)).raw());
    layer_->stats().visit([&](std::string_view n, std::uint64_t v) {
      if (v != 0) d += " " + std::string(n) + "=" + std::to_string(v);
    });
    return d;
  }
  std::size_t connections() const { return layer_->connection_count(); }

 private:
  struct Packet {
    Instant at;
    bool to_server;
    std::string bytes;  // TCP segment (to server) or IP packet (to client)
    std::uint64_t order = 0;  // FIFO among equal times
    bool operator<(const Packet& o) const { return at != o.at ? at > o.at : order > o.order; }
  };

  bool done() const {
    return fin_acked_ && peer_fin_ && rx_.size() == tx_.size() && layer_->connection_count() == 0;
  }

  void put(bool to_server, std::string bytes) {
    std::uniform_real_distribution<double> u(0, 1);
    if (u(rng_) < link_.loss) return;
    const int copies = u(rng_) < link_.dup ? 2 : 1;
    for (int i = 0; i < copies; ++i) {
      std::uniform_int_distribution<int> d(link_.min_delay_ms, link_.max_delay_ms);
      wire_.push({now_ + std::chrono::milliseconds(d(rng_)), to_server, bytes, ++order_});
    }
  }

  void collect() {
    for (auto& p : capture_.packets) put(false, tunstack::testing::to_string(p.view()));
    capture_.packets.clear();
  }

  void deliver(const Packet& p) {
    if (p.to_server) {
      PacketBuf b = pool_.copy_of(tunstack::testing::text(p.bytes));
      layer_->on_tcp(now_, client_.addr, server_.addr, std::move(b));
      tasks_.run_all();
      collect();
      return;
    }
    auto v = wire::TcpView::check(tunstack::testing::text(p.bytes).subspan(20));
    ASSERT_TRUE(v.ok());
    ASSERT_TRUE(v->verify_checksum(server_.addr, client_.addr));
    auto r = wire::TcpRepr::parse(*v);
    ASSERT_TRUE(r.ok());
    on_client_segment(*r, v->payload());
  }

  // --- the scripted client ---
  void emit(TcpFlags flags, SeqNum seq, std::string_view payload) {
    wire::TcpRepr r;
    r.src_port = client_.port;
    r.dst_port = server_.port;
    r.seq = seq;
    r.flags = flags;
    if (flags.has(TcpFlags::ACK)) r.ack = rcv_nxt();
    r.window = 0xffff;
    if (flags.has(TcpFlags::SYN)) {
      r.options.mss = 1460;
      if (scaled_) r.options.wscale = 7;  // our window field then means 8 MiB
    }
    std::string buf(r.size() + payload.size(), '\0');
    if (!payload.empty()) std::memcpy(buf.data() + r.size(), payload.data(), payload.size());
    r.emit(as_mut_bytes(buf.data(), r.size()), as_bytes(buf.data() + r.size(), payload.size()),
           client_.addr, server_.addr);
    put(true, std::move(buf));
  }
  SeqNum rcv_nxt() const {
    return irs_ + 1 + static_cast<std::uint32_t>(rx_.size()) + (peer_fin_ ? 1u : 0u);
  }
  void send_syn() {
    emit(TcpFlags::SYN, iss_, {});
    client_rto_ = now_ + std::chrono::milliseconds(500);
  }
  void on_client_rto() {
    if (!established_) {
      send_syn();
      return;
    }
    nxt_ = acked_;  // go-back-N
    client_rto_.reset();
    pump();
    if (!client_rto_ && (!fin_acked_)) client_rto_ = now_ + std::chrono::milliseconds(300);
  }
  void pump() {
    const std::size_t most = scaled_ ? std::size_t{1} << 20 : 64 * 1024;
    while (nxt_ < tx_.size() && nxt_ - acked_ < std::min<std::size_t>(peer_wnd_, most)) {
      const std::size_t len = std::min<std::size_t>({1400, tx_.size() - nxt_, peer_wnd_ - (nxt_ - acked_)});
      emit(TcpFlags::ACK | TcpFlags::PSH, iss_ + 1 + static_cast<std::uint32_t>(nxt_),
           std::string_view(tx_).substr(nxt_, len));
      nxt_ += len;
      if (!client_rto_) client_rto_ = now_ + std::chrono::milliseconds(300);
    }
    if (nxt_ == tx_.size() && !fin_acked_ && (!fin_sent_ || acked_ == nxt_)) {
      emit(TcpFlags::ACK | TcpFlags::FIN, iss_ + 1 + static_cast<std::uint32_t>(tx_.size()), {});
      fin_sent_ = true;
      if (!client_rto_) client_rto_ = now_ + std::chrono::milliseconds(300);
    }
  }
  void on_client_segment(const wire::TcpRepr& r, Bytes payload) {
    if (r.flags.has(TcpFlags::RST)) {
      ADD_FAILURE() << "client got a RST";
      return;
    }
    if (r.flags.has(TcpFlags::SYN)) {
      irs_ = r.seq;
      established_ = true;
      peer_shift_ = scaled_ && r.options.wscale ? *r.options.wscale : 0;
      peer_wnd_ = r.window;  // never scaled in a SYN
      client_rto_.reset();
      emit(TcpFlags::ACK, iss_ + 1, {});
      pump();
      return;
    }
    if (!established_) return;
    if (r.ack) {
      const std::int32_t adv = *r.ack - (iss_ + 1 + static_cast<std::uint32_t>(acked_));
      if (adv > 0) {
        const std::size_t data = std::min<std::size_t>(static_cast<std::size_t>(adv), tx_.size() - acked_);
        acked_ += data;
        if (nxt_ < acked_) nxt_ = acked_;
        if (fin_sent_ && *r.ack == iss_ + 2 + static_cast<std::uint32_t>(tx_.size())) fin_acked_ = true;
        client_rto_.reset();
        if (acked_ < nxt_ || (fin_sent_ && !fin_acked_)) client_rto_ = now_ + std::chrono::milliseconds(300);
      }
      peer_wnd_ = std::size_t{r.window} << peer_shift_;
    }
    bool ack = false;
    if (!payload.empty()) {
      ack = true;
      const std::int32_t off = r.seq - (irs_ + 1);
      if (off >= 0) ooo_[static_cast<std::size_t>(off)] = tunstack::testing::to_string(payload);
      while (!ooo_.empty() && ooo_.begin()->first <= rx_.size()) {
        auto it = ooo_.begin();
        const std::size_t end = it->first + it->second.size();
        if (end > rx_.size()) rx_.append(it->second.substr(rx_.size() - it->first));
        ooo_.erase(it);
      }
    }
    if (r.flags.has(TcpFlags::FIN)) {
      fin_at_ = static_cast<std::size_t>(r.seq + static_cast<std::uint32_t>(payload.size()) - (irs_ + 1));
      ack = true;
    }
    if (fin_at_ && *fin_at_ == rx_.size()) peer_fin_ = true;
    if (ack) emit(TcpFlags::ACK, iss_ + 1 + static_cast<std::uint32_t>(nxt_) + (fin_sent_ && nxt_ == tx_.size() ? 1u : 0u), {});
    pump();
  }

  std::mt19937 rng_;
  LinkParams link_;
  Instant now_ = instant_from_ns(1'000'000'000);
  BufPool pool_;
  CaptureOutput capture_;
  dispatch::TaskQueue tasks_;
  std::unique_ptr<dispatch::Outbound> echo_ = dispatch::make_echo_outbound(tasks_);
  RefDispatcher dispatcher_;
  std::unique_ptr<TcpLayer> layer_;
  std::priority_queue<Packet> wire_;
  std::uint64_t order_ = 0;

  Endpoint client_ = ep("10.0.0.2:40000");
  Endpoint server_ = ep("192.0.2.80:80");
  SeqNum iss_{0xfffff000};  // wraps during the transfer
  SeqNum irs_;
  bool established_ = false;
  std::string tx_;
  std::size_t acked_ = 0;
  std::size_t nxt_ = 0;
  std::size_t peer_wnd_ = 0;
  bool scaled_ = false;
  std::uint8_t peer_shift_ = 0;
  bool fin_sent_ = false;
  bool fin_acked_ = false;
  std::string rx_;
  std::map<std::size_t, std::string> ooo_;
  std::optional<std::size_t> fin_at_;
  bool peer_fin_ = false;
  std::optional<Instant> client_rto_;
};

TEST(TcpSim, CleanLinkTwoMegabytesEachWay) {
  Sim sim(1, LinkParams{}, 2 << 20);
  ASSERT_TRUE(sim.run(std::chrono::seconds(600))) << sim.describe();
  EXPECT_EQ(sim.echoed(), sim.sent_bytes());
  EXPECT_EQ(sim.stats().retransmits, 0u);
  EXPECT_EQ(sim.connections(), 0u);
}

class TcpSimLossy : public ::testing::TestWithParam<std::uint32_t> {};

TEST_P(TcpSimLossy, TwoMegabytesEachWayThroughLossReorderAndDuplication) {
  Sim sim(GetParam(), LinkParams{0.02, 0.01, 1, 20}, 2 << 20);
  ASSERT_TRUE(sim.run(std::chrono::seconds(3600))) << sim.describe();
  EXPECT_EQ(sim.echoed().size(), sim.sent_bytes().size());
  EXPECT_TRUE(sim.echoed() == sim.sent_bytes());
  EXPECT_GT(sim.stats().retransmits, 0u);
  EXPECT_GT(sim.stats().ooo_segments, 0u);
  EXPECT_EQ(sim.connections(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Seeds, TcpSimLossy, ::testing::Values(7u, 42u, 1234u));

TEST(TcpSimScaled, CleanLinkGrowsTheBuffers) {
  Sim sim(3, LinkParams{0.0, 0.0, 2, 2}, 4 << 20, true);
  ASSERT_TRUE(sim.run(std::chrono::seconds(600))) << sim.describe();
  EXPECT_TRUE(sim.echoed() == sim.sent_bytes());
  EXPECT_GT(sim.stats().rcv_buf_grown, 0u);
  EXPECT_GT(sim.stats().snd_buf_grown, 0u);
  EXPECT_EQ(sim.stats().buffer_bytes, 0u);  // the connection is gone, and its rings with it
}

class TcpSimScaledLossy : public ::testing::TestWithParam<std::uint32_t> {};

TEST_P(TcpSimScaledLossy, TwoMegabytesEachWayWithAutoTuningThroughLoss) {
  Sim sim(GetParam(), LinkParams{0.02, 0.01, 1, 20}, 2 << 20, true);
  ASSERT_TRUE(sim.run(std::chrono::seconds(3600))) << sim.describe();
  EXPECT_TRUE(sim.echoed() == sim.sent_bytes());
  EXPECT_GT(sim.stats().retransmits, 0u);
  EXPECT_EQ(sim.connections(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Seeds, TcpSimScaledLossy, ::testing::Values(7u, 42u, 1234u));

}  // namespace
}  // namespace tunstack::tcp::testing
