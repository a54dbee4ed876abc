#include "tests/stack/tcp/sim/source_outbound.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

namespace tunstack::tcp::sim {
namespace {

std::uint64_t splitmix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// One stream's remote: see the file comment of the header.
class SourceSession final : public dispatch::StreamSession {
 public:
  static constexpr std::size_t kChunk = 64u << 10;

  SourceSession(dispatch::StreamSink& sink, dispatch::TaskQueue& tasks, std::uint64_t bytes,
                std::uint64_t seed, std::shared_ptr<SourceStats> stats, std::shared_ptr<FinGate> gate)
      : sink_(sink),
        tasks_(tasks),
        bytes_(bytes),
        seed_(seed),
        stats_(std::move(stats)),
        gate_(std::move(gate)) {
    tasks_.post([this, alive = alive_] {
      if (!*alive) return;
      sink_.on_connected();
      schedule();
    });
  }
  ~SourceSession() override { *alive_ = false; }

  std::size_t send(Bytes data) override {
    stats_->from_client += data.size();
    return data.size();
  }
  void shutdown_write() override { stats_->client_fin = true; }
  void abort() override {
    stats_->aborted = true;
    done_ = true;
  }
  void resume_reading() override {
    ++stats_->resumes;
    paused_ = false;
    schedule();
  }

 private:
  void schedule() {
    if (scheduled_ || paused_ || done_) return;
    scheduled_ = true;
    tasks_.post([this, alive = alive_] {
      if (*alive) pump();
    });
  }

  /// Offers chunks until the stack refuses some (then waits for resume_reading) or all is sent.
  void pump() {
    scheduled_ = false;
    while (!done_ && !paused_ && stats_->produced < bytes_) {
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, bytes_ - stats_->produced));
      fill_source(seed_, stats_->produced, std::span(chunk_.data(), n));
      const std::size_t took = sink_.on_data(Bytes{chunk_.data(), n});
      stats_->produced += took;
      if (took < n) {
        ++stats_->pauses;
        paused_ = true;
      }
    }
    if (!done_ && stats_->produced == bytes_) {
      if (gate_->held) {
        gate_->resume = [this, alive = alive_] {
          if (*alive) pump();
        };
        return;
      }
      done_ = true;
      stats_->fin_sent = true;
      sink_.on_remote_fin();
    }
  }

  dispatch::StreamSink& sink_;
  dispatch::TaskQueue& tasks_;
  std::uint64_t bytes_;
  std::uint64_t seed_;
  std::shared_ptr<SourceStats> stats_;
  std::shared_ptr<FinGate> gate_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::array<std::byte, kChunk> chunk_{};
  bool scheduled_ = false;
  bool paused_ = false;
  bool done_ = false;
};

}  // namespace

std::uint64_t flow_seed(Port client, Port server) {
  return splitmix((std::uint64_t{client.value} << 16) | server.value);
}

void fill_source(std::uint64_t seed, std::uint64_t offset, std::span<std::byte> out) {
  std::size_t i = 0;
  while (i < out.size()) {
    const std::uint64_t pos = offset + i;
    const std::uint64_t word = splitmix(seed ^ (pos >> 3) * 0xd6e8feb86659fd93ULL);
    for (std::uint64_t b = pos & 7; b < 8 && i < out.size(); ++b, ++i)
      out[i] = static_cast<std::byte>(word >> (b * 8));
  }
}

void SourceOutbound::release_fin() {
  gate_->held = false;
  if (gate_->resume) tasks_.post(std::exchange(gate_->resume, {}));
}

std::unique_ptr<dispatch::StreamSession> SourceOutbound::open_stream(const dispatch::FlowInfo& f,
                                                                     dispatch::StreamSink& sink) {
  ++streams_;
  last_ = std::make_shared<SourceStats>();
  return std::make_unique<SourceSession>(sink, tasks_, bytes_, flow_seed(f.src.port, f.dst.port), last_,
                                         gate_);
}

}  // namespace tunstack::tcp::sim
