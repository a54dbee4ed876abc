#include "dispatch/builtin.hpp"

#include <charconv>
#include <deque>
#include <utility>

namespace tunstack::dispatch {
namespace {

/// Echo datagram session: each datagram is handed back as if its destination had answered.
/// Delivery is deferred through the task queue (outbounds never call the sink re-entrantly).
class EchoDatagramSession final : public DatagramSession {
 public:
  EchoDatagramSession(DatagramSink& sink, TaskQueue& tasks, EchoConfig cfg)
      : sink_(sink), tasks_(tasks), cfg_(cfg), alive_(std::make_shared<bool>(true)) {}
  ~EchoDatagramSession() override { *alive_ = false; }

  Status<SendError> send(const Endpoint& dst, PacketBuf payload) override {
    if (queue_.size() >= cfg_.max_queued) return Err{SendError::QueueFull};
    queue_.emplace_back(dst, std::move(payload));
    if (queue_.size() == 1) {
      tasks_.post([this, alive = alive_] {
        if (*alive) flush();
      });
    }
    return {};
  }

 private:
  void flush() {
    while (!queue_.empty()) {
      auto [from, buf] = std::move(queue_.front());
      queue_.pop_front();
      sink_.on_datagram(from, std::move(buf));
    }
  }

  DatagramSink& sink_;
  TaskQueue& tasks_;
  EchoConfig cfg_;
  std::shared_ptr<bool> alive_;
  std::deque<std::pair<Endpoint, PacketBuf>> queue_;
};

/// Echo stream session: connects at once; bytes from the client come straight back.
class EchoStreamSession final : public StreamSession {
 public:
  EchoStreamSession(StreamSink& sink, TaskQueue& tasks)
      : sink_(sink), alive_(std::make_shared<bool>(true)) {
    tasks.post([this, alive = alive_] {
      if (*alive) sink_.on_connected();
    });
  }
  ~EchoStreamSession() override { *alive_ = false; }

  std::size_t send(Bytes data) override { return sink_.on_data(data); }
  void shutdown_write() override { sink_.on_remote_fin(); }
  void abort() override {}
  void resume_reading() override { notify_writable(); }

 private:
  StreamSink& sink_;
  std::shared_ptr<bool> alive_;
};

class EchoOutbound final : public Outbound {
 public:
  EchoOutbound(TaskQueue& tasks, EchoConfig cfg) : tasks_(tasks), cfg_(cfg) {}
  std::string_view name() const override { return "echo"; }
  std::unique_ptr<DatagramSession> open_datagram(const FlowInfo&, DatagramSink& sink) override {
    return std::make_unique<EchoDatagramSession>(sink, tasks_, cfg_);
  }
  std::unique_ptr<StreamSession> open_stream(const FlowInfo&, StreamSink& sink) override {
    return std::make_unique<EchoStreamSession>(sink, tasks_);
  }

 private:
  TaskQueue& tasks_;
  EchoConfig cfg_;
};

/// Reject: datagram flows are refused up front; stream flows fail as "refused" (client gets RST).
class RejectStreamSession final : public StreamSession {
 public:
  RejectStreamSession(StreamSink& sink, TaskQueue& tasks, Endpoint dst)
      : alive_(std::make_shared<bool>(true)) {
    tasks.post([&sink, dst, alive = alive_] {
      if (*alive) sink.on_connect_failed(true, RemoteError{RemoteError::Kind::AdminProhibited, dst, dst.addr, 0});
    });
  }
  ~RejectStreamSession() override { *alive_ = false; }
  std::size_t send(Bytes) override { return 0; }
  void shutdown_write() override {}
  void abort() override {}
  void resume_reading() override {}

 private:
  std::shared_ptr<bool> alive_;
};

class RejectOutbound final : public Outbound {
 public:
  explicit RejectOutbound(TaskQueue& tasks) : tasks_(tasks) {}
  std::string_view name() const override { return "reject"; }
  std::unique_ptr<DatagramSession> open_datagram(const FlowInfo&, DatagramSink&) override {
    return nullptr;
  }
  std::unique_ptr<StreamSession> open_stream(const FlowInfo& flow, StreamSink& sink) override {
    return std::make_unique<RejectStreamSession>(sink, tasks_, flow.dst);
  }

 private:
  TaskQueue& tasks_;
};

}  // namespace

std::unique_ptr<Outbound> make_echo_outbound(TaskQueue& tasks, EchoConfig cfg) {
  return std::make_unique<EchoOutbound>(tasks, cfg);
}

std::unique_ptr<Outbound> make_reject_outbound(TaskQueue& tasks) {
  return std::make_unique<RejectOutbound>(tasks);
}

namespace {
Result<std::size_t, std::string> option_size(const OutboundContext& ctx, const std::string& key,
                                             std::size_t fallback) {
  auto it = ctx.options.find(key);
  if (it == ctx.options.end()) return fallback;
  std::size_t v = 0;
  auto [end, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
  if (ec != std::errc{} || end != it->second.data() + it->second.size())
    return Err{"option " + key + " wants a number, got '" + it->second + "'"};
  return v;
}
}  // namespace

void register_builtin_sans_io_outbounds() {
  auto& r = OutboundRegistry::instance();
  r.add("echo", "in-process echo: datagrams and bytes come straight back (tests, benchmarks)",
        [](const OutboundContext& ctx) -> Result<std::unique_ptr<Outbound>, std::string> {
          if (ctx.tasks == nullptr) return Err{std::string("echo needs a task queue")};
          auto q = option_size(ctx, "max_queued", EchoConfig{}.max_queued);
          if (!q) return Err{q.error()};
          return make_echo_outbound(*ctx.tasks, EchoConfig{*q});
        });
  r.add("reject", "refuses every flow (TCP clients get a RST, UDP datagrams are dropped and counted)",
        [](const OutboundContext& ctx) -> Result<std::unique_ptr<Outbound>, std::string> {
          if (ctx.tasks == nullptr) return Err{std::string("reject needs a task queue")};
          return make_reject_outbound(*ctx.tasks);
        });
}

}  // namespace tunstack::dispatch
