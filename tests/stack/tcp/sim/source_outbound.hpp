#pragma once
// SourceOutbound: a test outbound whose remote, for every stream, sends N deterministic
// pseudo-random bytes (a function of the flow's seed and the byte offset, so the client can check
// every byte without a copy) and then a FIN. It honours back-pressure (StreamSink::on_data takes
// what fits; the rest waits for resume_reading) and posts every callback through the TaskQueue,
// never calling into the stack from inside a call the stack made. Bytes from the client are
// accepted and counted.
#include <cstdint>
#include <functional>
#include <memory>
#include <span>

#include "dispatch/dispatcher.hpp"
#include "dispatch/task_queue.hpp"
#include "stack/core/addr.hpp"

namespace tunstack::tcp::sim {

/// The seed of a flow's byte stream: both ends derive it from the two ports.
std::uint64_t flow_seed(Port client, Port server);
/// Fills `out` with the stream bytes of `seed` starting at `offset`.
void fill_source(std::uint64_t seed, std::uint64_t offset, std::span<std::byte> out);

/// What the remote of one stream did.
struct SourceStats {
  std::uint64_t produced = 0;     ///< bytes the stack accepted
  std::uint64_t from_client = 0;  ///< bytes the client sent
  bool fin_sent = false;
  bool client_fin = false;
  bool aborted = false;
  int pauses = 0;  ///< on_data took less than offered
  int resumes = 0;
};

/// Holds the remote's FIN back until the test releases it (to time a simultaneous close).
struct FinGate {
  bool held = false;
  std::function<void()> resume;  ///< set by a stream waiting at the gate
};

/// See the file comment.
class SourceOutbound final : public dispatch::Outbound {
 public:
  SourceOutbound(dispatch::TaskQueue& tasks, std::uint64_t bytes) : tasks_(tasks), bytes_(bytes) {}
  std::string_view name() const override { return "source"; }
  std::unique_ptr<dispatch::DatagramSession> open_datagram(const dispatch::FlowInfo&,
                                                           dispatch::DatagramSink&) override {
    return nullptr;
  }
  std::unique_ptr<dispatch::StreamSession> open_stream(const dispatch::FlowInfo& f,
                                                       dispatch::StreamSink& sink) override;
  /// The last stream's remote (outlives its session).
  const SourceStats& last() const { return *last_; }
  int streams() const { return streams_; }
  /// From now on streams keep their FIN until release_fin().
  void hold_fin() { gate_->held = true; }
  /// Lets held FINs go (posted through the TaskQueue, never sent from inside this call).
  void release_fin();

 private:
  dispatch::TaskQueue& tasks_;
  std::uint64_t bytes_;
  std::shared_ptr<SourceStats> last_ = std::make_shared<SourceStats>();
  std::shared_ptr<FinGate> gate_ = std::make_shared<FinGate>();
  int streams_ = 0;
};

}  // namespace tunstack::tcp::sim
