#include "dispatch/builtin.hpp"

#include <algorithm>
#include <charconv>
#include <deque>
#include <utility>
#include <vector>

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

/// Echo stream session: connects at once; bytes from the client come back through a bounded
/// buffer. Every callback into the stack is deferred through the TaskQueue (never from inside
/// send() or shutdown_write()), and back-pressure holds both ways: send() takes only what fits in
/// the buffer, and bytes the client's side refuses wait for resume_reading().
class EchoStreamSession final : public StreamSession {
 public:
  static constexpr std::size_t kBuffer = 64u << 10;

  EchoStreamSession(StreamSink& sink, TaskQueue& tasks)
      : sink_(sink), tasks_(tasks), alive_(std::make_shared<bool>(true)) {
    tasks_.post([this, alive = alive_] {
      if (*alive) sink_.on_connected();
    });
  }
  ~EchoStreamSession() override { *alive_ = false; }

  std::size_t send(Bytes data) override {
    if (done_) return 0;
    const std::size_t n = std::min(data.size(), kBuffer - buf_.size());
    if (n == 0) {
      want_writable_ = true;
      return 0;
    }
    buf_.insert(buf_.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(n));
    schedule();
    return n;
  }
  void shutdown_write() override {
    fin_pending_ = true;
    schedule();
  }
  void abort() override {
    done_ = true;
    buf_.clear();
  }
  void resume_reading() override {
    paused_ = false;
    schedule();
  }

 private:
  void schedule() {
    if (scheduled_ || paused_ || done_) return;
    scheduled_ = true;
    tasks_.post([this, alive = alive_] {
      if (*alive) flush();
    });
  }

  void flush() {
    scheduled_ = false;
    if (done_) return;
    if (!buf_.empty()) {
      const std::size_t took = sink_.on_data(Bytes{buf_.data(), buf_.size()});
      buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(took));
      if (!buf_.empty()) paused_ = true;  // wait for resume_reading()
      if (took > 0 && want_writable_) {
        want_writable_ = false;
        notify_writable();
      }
    }
    if (buf_.empty() && fin_pending_) {
      done_ = true;
      sink_.on_remote_fin();
    }
  }

  StreamSink& sink_;
  TaskQueue& tasks_;
  std::shared_ptr<bool> alive_;
  std::vector<std::byte> buf_;
  bool scheduled_ = false;
  bool paused_ = false;
  bool want_writable_ = false;
  bool fin_pending_ = false;
  bool done_ = false;
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
    return make_refused_stream(sink, tasks_, flow.dst);
  }

 private:
  TaskQueue& tasks_;
};

}  // namespace

std::unique_ptr<Outbound> make_echo_outbound(TaskQueue& tasks, EchoConfig cfg) {
  return std::make_unique<EchoOutbound>(tasks, cfg);
}

std::unique_ptr<StreamSession> make_refused_stream(StreamSink& sink, TaskQueue& tasks, const Endpoint& dst) {
  return std::make_unique<RejectStreamSession>(sink, tasks, dst);
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
