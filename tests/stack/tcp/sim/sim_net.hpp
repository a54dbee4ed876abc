#pragma once
// SimNet: one simulated download. A SimClient talks through a SimLink to a TcpLayer whose
// outbound is a SourceOutbound, on a simulated clock that jumps from event to event (link
// arrivals, the layer's deadlines, the client's timers). The run ends when the client holds all
// bytes and the FIN, its own FIN is acknowledged and the layer has no connection left, or when
// the simulated time limit passes.
#include <memory>
#include <optional>
#include <string>

#include "dispatch/dispatcher.hpp"
#include "dispatch/task_queue.hpp"
#include "stack/tcp/layer.hpp"
#include "tests/stack/tcp/sim/sim_client.hpp"
#include "tests/stack/tcp/sim/sim_link.hpp"
#include "tests/stack/tcp/sim/source_outbound.hpp"
#include "tests/support/packets.hpp"

namespace tunstack::tcp::sim {

/// Everything one run is made of.
struct SimSetup {
  TcpConfig tcp{};
  LinkConfig link{};
  ClientConfig client = default_client();      ///< `expect` is set from `bytes`
  std::uint64_t bytes = 1u << 20;              ///< the download size
  std::uint64_t seed = 1;                      ///< the link's randomness
  Duration limit = std::chrono::seconds(600);  ///< simulated time
  TraceSink* trace = nullptr;                  ///< the layer's trace sink (benchmarks, trace tests)

  static ClientConfig default_client();
};

/// How a run went.
struct SimResult {
  bool completed = false;  ///< all delivered and closed on both sides within the limit
  bool byte_exact = false;
  /// The clock stopped: the layer kept asking to be polled at the same instant (a deadline that
  /// never clears). The run is cut short instead of hanging the test.
  bool stuck = false;                ///< every byte arrived once in order and matched the source
  Duration elapsed{};                ///< simulated time until completion (or the limit)
  std::optional<Duration> transfer;  ///< SYN to the last byte and FIN at the client
  std::uint64_t bytes = 0;           ///< the download size
  /// Payload bytes per second of simulated time over `transfer` (0 when it never finished).
  double goodput_bps() const;
};

/// The fields of a segment on the link (for drop filters); nullopt when it does not parse.
std::optional<wire::TcpRepr> parse_segment(const LinkPacket& p);

/// See the file comment.
class SimNet {
 public:
  explicit SimNet(SimSetup s);
  ~SimNet();
  SimNet(const SimNet&) = delete;
  SimNet& operator=(const SimNet&) = delete;

  /// Runs to completion or the time limit.
  SimResult run();
  SimLink& link() { return link_; }
  const SimClient& client() const { return *client_; }
  const TcpStats& stats() const { return layer_->stats(); }
  const SourceStats& source() const { return source_.last(); }
  /// The remote's FIN waits for release_remote_fin() (see FinGate).
  void hold_remote_fin() { source_.hold_fin(); }
  void release_remote_fin() { source_.release_fin(); }
  Instant start() const { return start_; }
  /// Where everything stands, for failure messages.
  std::string describe();

 private:
  void collect();
  void deliver(const LinkPacket& p);
  bool done() const;

  SimSetup setup_;
  Instant start_ = instant_from_ns(1'000'000'000);
  Instant now_ = start_;
  BufPool pool_;
  tunstack::testing::CaptureOutput capture_;
  dispatch::TaskQueue tasks_;
  SourceOutbound source_;
  class Router;
  std::unique_ptr<Router> router_;
  std::unique_ptr<TcpLayer> layer_;
  SimLink link_;
  std::unique_ptr<SimClient> client_;
};

}  // namespace tunstack::tcp::sim
