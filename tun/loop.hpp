#pragma once
// The io_uring event loop: one per thread, owning that thread's TUN queue, its outbound sockets
// and its timer. It is the driver of the sans-IO core: it reads packets into pooled PacketBufs,
// hands each batch of completions to a TunHandler with the current Instant, writes what the
// handler queues, and wakes the handler at the deadline it asked for.
//
// Completions are dispatched without allocation: every in-flight operation is an `Op` embedded in
// its owner, and the Op's address is the SQE's user_data. Callers that issue their own operations
// (sockets, dispatch backends) get an SQE with sqe(), fill it, and arm(sqe, op).
//
// Thread rules: create(), run() and every other call happen on the one thread that owns the loop
// (the ring is set up with IORING_SETUP_SINGLE_ISSUER where the kernel has it); only stop() may be
// called from another thread.
#include <liburing.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "stack/core/packet_buf.hpp"
#include "stack/core/result.hpp"
#include "stack/core/time.hpp"
#include "tun/device.hpp"
#include "tun/timer_book.hpp"

namespace tunstack::tun {

/// An in-flight io_uring operation; its address is the SQE's user_data. Embed it in the object
/// that owns the operation (see MemberOp) so that completion needs no lookup and no allocation.
struct Op {
  /// Called once per CQE; `cqe_flags & IORING_CQE_F_MORE` means more CQEs follow for this Op.
  void (*on_complete)(Op* op, int res, std::uint32_t cqe_flags) = nullptr;
};

/// An Op that calls a member function of its owner: `MemberOp<Sock, &Sock::on_recv> op{this};`.
template <class T, void (T::*Fn)(int, std::uint32_t)>
struct MemberOp : Op {
  explicit MemberOp(T* o) : Op{&trampoline}, owner(o) {}
  T* owner;

 private:
  static void trampoline(Op* op, int res, std::uint32_t flags) {
    auto* self = static_cast<MemberOp*>(op);
    (self->owner->*Fn)(res, flags);
  }
};

/// Work that could not proceed for lack of a resource (pool exhausted, SQ full) and asks to be
/// called again on a later loop iteration; intrusive so that queueing never allocates.
/// Doubly linked so that taking one off (a socket closing) costs O(1) even with thousands queued.
struct RetryHook {
  void (*fn)(RetryHook* hook) = nullptr;
  RetryHook* next = nullptr;
  RetryHook* prev = nullptr;
  RetryHook** head = nullptr;  ///< the list it is on (the loop's retry or post list)
  bool queued = false;
};

/// A RetryHook that calls a member function of its owner.
template <class T, void (T::*Fn)()>
struct MemberRetry : RetryHook {
  explicit MemberRetry(T* o) : RetryHook{&trampoline}, owner(o) {}
  T* owner;

 private:
  static void trampoline(RetryHook* hook) {
    auto* self = static_cast<MemberRetry*>(hook);
    (self->owner->*Fn)();
  }
};

/// What the loop delivers to: the sans-IO core's entry points.
class TunHandler {
 public:
  virtual ~TunHandler() = default;
  /// Packets read from the TUN since the last call, in arrival order. The handler may move any
  /// PacketBuf out (e.g. into Loop::write_tun); what it leaves is returned to the pool.
  virtual void on_tun_packets(std::span<PacketBuf> batch, Instant now) = 0;
  /// The deadline set with Loop::set_deadline has passed (it is consumed; set the next one).
  virtual void on_timer(Instant now) = 0;
  /// Called once per loop iteration just before the loop may sleep, after every completion and
  /// posted hook of the iteration ran: socket callbacks may have changed the handler's state
  /// (new deadlines, deferred work), and this is where it brings the loop's deadline up to date.
  virtual void before_wait(Instant /*now*/) {}
  /// Called once per loop iteration right after the wait, before any completion of it is
  /// dispatched: the time at which this iteration's socket callbacks happen.
  virtual void after_wake(Instant /*now*/) {}
};

/// One io_uring event loop; see the file comment.
class Loop {
 public:
  /// How TUN reads are kept outstanding.
  enum class RxMode : std::uint8_t {
    Auto,           ///< MultishotRing when the kernel supports it, else Reads
    Reads,          ///< rx_depth single-shot READs, each into its own pooled PacketBuf
    MultishotRing,  ///< one multishot READ over a provided-buffer ring whose buffers are PacketBufs
  };

  /// Limits and switches; every field has a safe default.
  struct Config {
    unsigned sq_entries = 256;        ///< submission queue size
    unsigned cq_entries = 4096;       ///< completion queue size (IORING_SETUP_CQSIZE)
    unsigned rx_depth = 64;           ///< Reads mode: single-shot reads kept outstanding
    /// MultishotRing mode: buffers in the provided-buffer ring (rounded up to a power of two).
    /// Larger than rx_depth because a ring costs nothing per idle buffer, while each outstanding
    /// single read is woken by every packet; 64 ran dry under 200k pps bursts, 256 did not.
    unsigned rx_ring_entries = 256;
    std::size_t rx_buffer_size = 0;   ///< bytes per TUN read; 0: max(pool small class, MTU)
    std::size_t tx_queue_limit = 1024;  ///< TUN writes in flight; more are dropped and counted
    RxMode rx_mode = RxMode::Auto;
    bool handle_signals = true;       ///< stop on SIGINT/SIGTERM (blocked in this thread, signalfd)
    bool register_tun_fd = true;      ///< use the TUN fd as a registered (fixed) file
    bool fast_setup_flags = true;     ///< try SINGLE_ISSUER|DEFER_TASKRUN, fall back when refused
    Duration starved_retry = std::chrono::milliseconds(1);  ///< wait before retrying a starved op
    Duration shutdown_timeout = std::chrono::seconds(2);    ///< bound on waiting for cancellations
  };

  /// Counters (see stack/core/counters.hpp). tun_io_errors = tun_rx_errors + tun_tx_errors.
  struct Stats {
    std::uint64_t tun_rx_packets = 0;
    std::uint64_t tun_rx_bytes = 0;
    std::uint64_t tun_rx_batches = 0;
    std::uint64_t tun_rx_pool_exhausted = 0;  ///< buffer allocations refused; retried later
    std::uint64_t tun_rx_ring_empty = 0;      ///< multishot read stopped: no buffer in the ring
    std::uint64_t tun_rx_errors = 0;
    std::uint64_t tun_rx_dropped_shutdown = 0;  ///< read while stopping; not delivered
    std::uint64_t tun_tx_queued = 0;            ///< write_tun() calls that were accepted
    std::uint64_t tun_tx_packets = 0;
    std::uint64_t tun_tx_bytes = 0;
    std::uint64_t tun_tx_dropped_queue_full = 0;
    std::uint64_t tun_tx_dropped_invalid = 0;  ///< no device, empty, or no headroom for the vnet header
    std::uint64_t tun_tx_short_writes = 0;
    std::uint64_t tun_tx_errors = 0;
    std::uint64_t tun_io_errors = 0;
    std::uint64_t timer_fires = 0;
    std::uint64_t timer_arms = 0;
    std::uint64_t timer_updates = 0;
    std::uint64_t timer_removes = 0;
    std::uint64_t submits = 0;       ///< io_uring_enter calls that submitted and/or waited
    std::uint64_t sqes_submitted = 0;
    std::uint64_t sq_full = 0;       ///< sqe() found no free SQE even after submitting
    std::uint64_t cqes = 0;
    std::uint64_t enter_errors = 0;
    std::uint64_t signals = 0;

    template <class F>
    void visit(F&& f) const {
      f("tun_rx_packets", tun_rx_packets);
      f("tun_rx_bytes", tun_rx_bytes);
      f("tun_rx_batches", tun_rx_batches);
      f("tun_rx_pool_exhausted", tun_rx_pool_exhausted);
      f("tun_rx_ring_empty", tun_rx_ring_empty);
      f("tun_rx_errors", tun_rx_errors);
      f("tun_rx_dropped_shutdown", tun_rx_dropped_shutdown);
      f("tun_tx_queued", tun_tx_queued);
      f("tun_tx_packets", tun_tx_packets);
      f("tun_tx_bytes", tun_tx_bytes);
      f("tun_tx_dropped_queue_full", tun_tx_dropped_queue_full);
      f("tun_tx_dropped_invalid", tun_tx_dropped_invalid);
      f("tun_tx_short_writes", tun_tx_short_writes);
      f("tun_tx_errors", tun_tx_errors);
      f("tun_io_errors", tun_io_errors);
      f("timer_fires", timer_fires);
      f("timer_arms", timer_arms);
      f("timer_updates", timer_updates);
      f("timer_removes", timer_removes);
      f("submits", submits);
      f("sqes_submitted", sqes_submitted);
      f("sq_full", sq_full);
      f("cqes", cqes);
      f("enter_errors", enter_errors);
      f("signals", signals);
    }
  };

  /// Sets up the ring (and the TUN reads, when a device is given). The loop keeps `pool` by
  /// reference: the pool must outlive it. Without a device the loop only runs sockets and timers.
  [[nodiscard]] static Result<std::unique_ptr<Loop>, std::string> create(
      BufPool& pool, std::optional<Device> tun, const Config& cfg);
  [[nodiscard]] static Result<std::unique_ptr<Loop>, std::string> create(
      BufPool& pool, std::optional<Device> tun) {
    return create(pool, std::move(tun), Config{});
  }
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  /// Runs until stop() or SIGINT/SIGTERM; then cancels every outstanding operation and waits for
  /// its completion, so no buffer is freed while the kernel may still write it.
  [[nodiscard]] Status<std::string> run(TunHandler& handler);
  /// Asks run() to return. Safe from any thread and from a signal handler.
  void stop();
  /// True from the moment run() starts shutting down until it returns.
  bool stopping() const { return stopping_; }
  /// True while inside run().
  bool running() const { return handler_ != nullptr; }

  /// Queues one packet for the TUN (the loop submits all queued writes in one io_uring_enter per
  /// iteration). The buffer is kept alive until its completion. False (and counted) when the
  /// queue is full or the packet cannot be written.
  bool write_tun(PacketBuf&& pkt);
  /// TUN writes that can be queued now (free TX slots): what a sender may emit without drops.
  std::size_t tx_room() const { return tx_free_.size(); }

  /// Asks for handler.on_timer() at `t` or earlier; the earliest request since the last expiry wins.
  void set_deadline(Instant t) { timer_.request(t); }
  /// Forgets the requested deadline.
  void clear_deadline() { timer_.clear(); }
  /// The current time: CLOCK_MONOTONIC (what std::chrono::steady_clock reads) as an Instant.
  static Instant now();

  /// A free SQE, submitting queued ones first when the SQ is full; nullptr (counted) only when
  /// the kernel refuses to take more (e.g. CQ overflow backlog).
  io_uring_sqe* sqe();
  /// Tags `sqe` with `op` (its user_data) and counts it as in flight.
  void arm(io_uring_sqe* sqe, Op* op);
  /// Arms a multishot poll of `fd` for `events`, completing to `op` on every wake-up of the fd
  /// (edge-like: the owner reads until EAGAIN). False, with nothing armed, while the loop is
  /// stopping or has no SQE: the owner retries later (retry_later).
  bool arm_poll_multishot(int fd, unsigned events, Op* op);
  /// Cancels the operation tagged `target` (by user_data: a hash lookup, where cancelling by fd
  /// scans every request of the ring); the cancel's own completion goes to `done`. False when
  /// no SQE could be had.
  bool cancel(Op* target, Op* done);
  /// Calls hook->fn on a later iteration (after a short wait; see Config::starved_retry).
  void retry_later(RetryHook* hook);
  /// Calls hook->fn on the next iteration without waiting for a completion: the rest of a
  /// batch of work that stopped at its fairness bound (e.g. a socket with more datagrams queued).
  void post(RetryHook* hook);
  /// Takes `hook` off the retry or post list if it is queued.
  void cancel_retry(RetryHook* hook);

  /// Loop-wide state that another component of this layer keeps per loop (the UdpSockets'
  /// receive scratch and send slots); destroyed with the loop, after its I/O has drained.
  struct Attachment {
    virtual ~Attachment() = default;
  };
  /// The UdpSockets' attachment (tun/udp_socket.cpp); empty until the first socket opens.
  std::unique_ptr<Attachment>& udp_state() { return udp_state_; }

  BufPool& pool() { return pool_; }
  const Stats& stats() const { return stats_; }
  const Device* device() const { return tun_ ? &*tun_ : nullptr; }
  /// The receive mode in use (Auto resolved at create()).
  RxMode rx_mode() const { return rx_mode_; }
  /// The io_uring setup flags the kernel accepted.
  unsigned setup_flags() const { return setup_flags_; }
  /// Operations submitted (or prepared) whose last completion has not been reaped.
  std::size_t in_flight() const { return inflight_; }

 private:
  struct RxSlot;
  struct TxSlot;

  Loop(BufPool& pool, std::optional<Device> tun, const Config& cfg);
  Status<std::string> setup();
  Status<std::string> setup_ring();
  Status<std::string> setup_control_fds();
  Status<std::string> register_rx_ring();
  void unregister_rx_ring();

  void arm_control();
  void start_rx();
  void rearm_rx();
  bool arm_read(std::uint32_t slot);
  bool refill_ring_slot(std::uint32_t bid);
  void arm_multishot();
  void rx_complete(RxSlot& slot, int res);
  void on_read(RxSlot& slot, int res);
  void on_multishot(int res, std::uint32_t flags);
  void on_write(TxSlot& slot, int res);
  void on_timeout(int res, std::uint32_t flags);
  void on_timer_aux(int res, std::uint32_t flags);
  void on_signal(int res, std::uint32_t flags);
  void on_wake(int res, std::uint32_t flags);
  void on_noop(int res, std::uint32_t flags);

  void sync_timer();
  static void push(RetryHook** head, RetryHook* hook);
  static void run_list(RetryHook** head);
  int enter(bool bounded_wait, bool no_wait);
  void reap();
  void deliver();
  int submit_now();
  void shutdown();
  void drain(Duration limit);
  void release_rx_buffers();

  BufPool& pool_;
  std::optional<Device> tun_;
  Config cfg_;
  Stats stats_;
  io_uring ring_{};
  bool ring_ok_ = false;
  unsigned setup_flags_ = 0;
  RxMode rx_mode_ = RxMode::Reads;
  int tun_fd_ = -1;          ///< fd or fixed-file index used in SQEs
  unsigned tun_sqe_flags_ = 0;  ///< IOSQE_FIXED_FILE when the TUN fd is registered
  std::size_t rx_size_ = 0;
  std::size_t vnet_ = 0;

  std::unique_ptr<RxSlot[]> rx_;
  std::uint32_t rx_count_ = 0;
  std::vector<std::uint32_t> rx_idle_;  ///< slots without a buffer in the kernel (reserved)
  io_uring_buf_ring* buf_ring_ = nullptr;
  std::uint32_t ring_entries_ = 0;
  bool ring_registered_ = false;
  std::uint32_t ring_filled_ = 0;  ///< slots whose buffer the kernel may fill
  bool multishot_armed_ = false;
  bool rx_backoff_ = false;  ///< a read failed: re-arm after starved_retry, not at once
  MemberRetry<Loop, &Loop::rearm_rx> rx_retry_{this};

  std::unique_ptr<TxSlot[]> tx_;
  std::vector<std::uint32_t> tx_free_;

  std::vector<PacketBuf> batch_;  ///< reserved to the number of rx slots: no growth per packet

  TimerBook timer_;
  __kernel_timespec timer_ts_{};
  bool timer_completed_ = false;
  MemberOp<Loop, &Loop::on_timeout> timeout_op_{this};
  MemberOp<Loop, &Loop::on_timer_aux> timer_aux_op_{this};
  MemberOp<Loop, &Loop::on_multishot> multishot_op_{this};
  MemberOp<Loop, &Loop::on_signal> signal_op_{this};
  MemberOp<Loop, &Loop::on_wake> wake_op_{this};
  bool signal_armed_ = false;
  bool wake_armed_ = false;
  MemberOp<Loop, &Loop::on_noop> noop_op_{this};

  int signal_fd_ = -1;
  int event_fd_ = -1;
  bool signals_blocked_ = false;
  sigset_t old_sigmask_{};
  std::atomic<bool> stop_requested_{false};
  bool stopping_ = false;
  TunHandler* handler_ = nullptr;
  std::size_t inflight_ = 0;
  RetryHook* retry_head_ = nullptr;
  RetryHook* post_head_ = nullptr;
  std::unique_ptr<Attachment> udp_state_;  ///< destroyed after the destructor's drain
};

}  // namespace tunstack::tun
