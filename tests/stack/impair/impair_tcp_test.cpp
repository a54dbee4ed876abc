// The reordering an Impairer makes is real reordering for a TCP receiver: the client's segments go
// through "reorder=25% delay=10ms" (netem's classic recipe) into the TCP engine, which must see
// out-of-order segments, answer them with SACK blocks, and still deliver every byte in order.
#include <gtest/gtest.h>

#include "stack/impair/impairer.hpp"
#include "tests/stack/tcp/tcp_harness.hpp"

namespace tunstack::impair {
namespace {

/// The TCP harness with the client's segments passing through an impairer on the way in.
class ImpairedLinkTcp : public tcp::testing::TcpHarness {
 protected:
  /// Hands every released segment to the engine at the harness's time, as the gateway's rx path
  /// hands packets to the Host.
  class ToEngine final : public PacketOutput {
   public:
    explicit ToEngine(ImpairedLinkTcp& t) : t_(t) {}
    void emit(PacketBuf p) override {
      t_.layer->on_tcp(t_.now, t_.client.addr, t_.server.addr, std::move(p));
      t_.tasks.run_all();
    }

   private:
    ImpairedLinkTcp& t_;
  };

  /// A client data segment at byte offset `off` (timestamps constant, so PAWS stays out of it).
  PacketBuf data_segment(std::uint32_t off, std::string_view payload) {
    const wire::TcpRepr r = seg(wire::TcpFlags::ACK | wire::TcpFlags::PSH, 1 + off);
    PacketBuf p = pool.alloc(payload.size() + 60);
    std::memcpy(p.append(payload.size()).data(), payload.data(), payload.size());
    const Bytes pl = p.view();
    r.emit(p.prepend(r.size()), pl, client.addr, server.addr);
    return p;
  }
};

TEST_F(ImpairedLinkTcp, ReorderIsSeenByTheReceiverAndTheStreamArrivesWhole) {
  established();
  auto cfg = parse_spec("reorder=25% delay=10ms seed=4");
  ASSERT_TRUE(cfg.ok()) << cfg.error();
  ToEngine to_engine(*this);
  Impairer link(*cfg, pool, to_engine);

  constexpr std::uint32_t kSegments = 150;
  constexpr std::uint32_t kSize = 1000;
  std::string stream;
  for (std::uint32_t i = 0; i < kSegments * kSize; ++i) stream.push_back(static_cast<char>('a' + i * 7 % 26));

  std::size_t sack_acks = 0;
  auto count_sacks = [&] {
    for (const auto& s : sent())
      if (s.r.options.sack_count > 0) ++sack_acks;
  };
  for (std::uint32_t i = 0; i < kSegments; ++i) {  // one segment per millisecond
    link.submit(now, data_segment(i * kSize, std::string_view(stream).substr(i * kSize, kSize)));
    count_sacks();
    now += std::chrono::milliseconds(1);
    link.poll(now);
    layer->poll(now);
    tasks.run_all();
    count_sacks();
  }
  while (auto d = link.next_deadline()) {
    now = std::max(now, *d);
    link.poll(now);
    count_sacks();
  }
  advance(std::chrono::milliseconds(100));
  count_sacks();

  EXPECT_GT(link.stats().reordered, kSegments / 8);
  EXPECT_EQ(link.stats().delivered, kSegments);
  EXPECT_GT(layer->stats().ooo_segments, kSegments / 8);  // the receiver saw the reordering
  EXPECT_GT(sack_acks, 0u);                               // and told the sender about the holes
  ASSERT_NE(manual.session, nullptr);
  EXPECT_EQ(manual.session->received, stream);  // reordering is repaired, nothing lost or doubled
}

}  // namespace
}  // namespace tunstack::impair
