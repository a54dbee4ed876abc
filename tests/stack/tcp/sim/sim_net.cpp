#include "tests/stack/tcp/sim/sim_net.hpp"

#include <algorithm>

namespace tunstack::tcp::sim {

/// Routes every flow to the run's SourceOutbound.
class SimNet::Router final : public dispatch::Dispatcher {
 public:
  explicit Router(dispatch::Outbound& out) : out_(out) {}
  dispatch::Outbound& route(const dispatch::FlowInfo&) override { return out_; }

 private:
  dispatch::Outbound& out_;
};

ClientConfig SimSetup::default_client() {
  ClientConfig c;
  c.self = *Endpoint::parse("10.0.0.2:40000");
  c.server = *Endpoint::parse("192.0.2.80:80");
  return c;
}

double SimResult::goodput_bps() const {
  if (!transfer || transfer->count() <= 0) return 0;
  return static_cast<double>(bytes) / std::chrono::duration<double>(*transfer).count();
}

std::optional<wire::TcpRepr> parse_segment(const LinkPacket& p) {
  auto v = wire::TcpView::check(tunstack::testing::text(p.bytes));
  if (!v) return std::nullopt;
  auto r = wire::TcpRepr::parse(*v);
  if (!r) return std::nullopt;
  return *r;
}

SimNet::SimNet(SimSetup s)
    : setup_(std::move(s)), source_(tasks_, setup_.bytes), link_(setup_.link, setup_.seed) {
  setup_.client.expect = setup_.bytes;
  router_ = std::make_unique<Router>(source_);
  layer_ = std::make_unique<TcpLayer>(setup_.tcp, start_, pool_, capture_, *router_);
  layer_->set_trace_sink(setup_.trace);
  const std::uint64_t seed = flow_seed(setup_.client.self.port, setup_.client.server.port);
  client_ = std::make_unique<SimClient>(setup_.client, seed, [this](Instant now, std::string seg) {
    link_.send(now, LinkPacket{Dir::ToServer, std::move(seg)});
  });
}

SimNet::~SimNet() {
  layer_.reset();  // sessions die with their connections, before the outbound
}

void SimNet::collect() {
  for (PacketBuf& p : capture_.packets) {
    Bytes b = p.view();
    const auto hl = static_cast<std::size_t>(std::to_integer<int>(b[0]) & 0xf) * 4;
    link_.send(now_, LinkPacket{Dir::ToClient, tunstack::testing::to_string(b.subspan(hl))});
  }
  capture_.packets.clear();
}

void SimNet::deliver(const LinkPacket& p) {
  if (p.dir == Dir::ToClient) {
    client_->on_segment(now_, tunstack::testing::text(p.bytes));
    return;
  }
  layer_->on_tcp(now_, setup_.client.self.addr, setup_.client.server.addr,
                 pool_.copy_of(tunstack::testing::text(p.bytes)));
  tasks_.run_all();
  collect();
}

bool SimNet::done() const { return client_->finished() && layer_->connection_count() == 0; }

SimResult SimNet::run() {
  const Instant end = start_ + setup_.limit;
  client_->start(now_);
  SimResult res;
  res.bytes = setup_.bytes;
  int same_instant = 0;  // iterations without the clock moving
  while (true) {
    layer_->advance_clock(now_);
    layer_->poll(now_);
    tasks_.run_all();
    collect();
    while (auto p = link_.pop_due(now_)) deliver(*p);
    client_->poll(now_);
    if (done()) {
      res.completed = true;
      break;
    }
    Instant next = end;
    if (auto t = link_.next_arrival()) next = std::min(next, *t);
    if (auto t = layer_->next_deadline()) next = std::min(next, *t);
    if (auto t = client_->next_deadline()) next = std::min(next, *t);
    if (now_ >= end) break;
    same_instant = next > now_ ? 0 : same_instant + 1;
    if (same_instant > 100'000) {
      res.stuck = true;
      break;
    }
    now_ = std::max(now_, next);
  }
  res.elapsed = now_ - start_;
  const ClientStats& cs = client_->stats();
  if (cs.all_received_at) res.transfer = *cs.all_received_at - start_;
  res.byte_exact = client_->delivered() == setup_.bytes && cs.mismatched_bytes == 0;
  return res;
}

std::string SimNet::describe() {
  std::string d = client_->describe();
  d += " | now=+" +
       std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(now_ - start_).count()) +
       "ms source_produced=" + std::to_string(source_.last().produced) + " |";
  layer_->for_each_connection([&](Connection& c) {
    d += std::string(" server=") + to_string(c.state()) + " cwnd=" + std::to_string(c.cwnd()) +
         " una=" + std::to_string(c.snd_una().raw()) + " nxt=" + std::to_string(c.snd_nxt().raw());
  });
  layer_->stats().visit([&](std::string_view n, std::uint64_t v) {
    if (v != 0) d += " " + std::string(n) + "=" + std::to_string(v);
  });
  return d;
}

}  // namespace tunstack::tcp::sim
