#include "tun/loop.hpp"
#include "tun/sock_util.hpp"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>

namespace tunstack::tun {

namespace {

// IORING_OP_READ_MULTISHOT (kernel 6.7) is newer than Debian's liburing 2.3 header, so the SQE is
// prepared by hand with the kernel's opcode number.
constexpr int kOpReadMultishot = 49;
constexpr std::uint16_t kRxBufGroup = 0x7475;  // "tu": the TUN's provided-buffer group id
constexpr std::uint64_t kLiburingTimeoutData = ~std::uint64_t{0};  // liburing's internal timeouts
constexpr std::uint32_t kMaxRingEntries = 32768;


__kernel_timespec to_timespec(Duration d) {
  const std::int64_t ns = d.count() < 0 ? 0 : d.count();
  __kernel_timespec ts{};
  ts.tv_sec = ns / 1'000'000'000;
  ts.tv_nsec = ns % 1'000'000'000;
  return ts;
}

std::uint32_t round_up_pow2(std::uint32_t v) {
  std::uint32_t p = 1;
  while (p < v && p < kMaxRingEntries) p <<= 1;
  return p;
}

bool kernel_has_op(io_uring* ring, int op) {
  io_uring_probe* probe = io_uring_get_probe_ring(ring);
  if (probe == nullptr) return false;
  const bool ok = io_uring_opcode_supported(probe, op) != 0;
  io_uring_free_probe(probe);
  return ok;
}

}  // namespace

/// A TUN receive buffer slot: its own Op in Reads mode, a buffer id in MultishotRing mode.
struct Loop::RxSlot : Op {
  Loop* loop = nullptr;
  std::uint32_t index = 0;
  PacketBuf buf;
  static void complete(Op* op, int res, std::uint32_t /*flags*/) {
    auto* s = static_cast<RxSlot*>(op);
    s->loop->on_read(*s, res);
  }
};

/// A TUN write in flight: the PacketBuf stays here until the kernel reports the write done.
struct Loop::TxSlot : Op {
  Loop* loop = nullptr;
  std::uint32_t index = 0;
  PacketBuf buf;
  static void complete(Op* op, int res, std::uint32_t /*flags*/) {
    auto* s = static_cast<TxSlot*>(op);
    s->loop->on_write(*s, res);
  }
};

Loop::Loop(BufPool& pool, std::optional<Device> tun, const Config& cfg)
    : pool_(pool), tun_(std::move(tun)), cfg_(cfg) {}

Result<std::unique_ptr<Loop>, std::string> Loop::create(BufPool& pool, std::optional<Device> tun,
                                                        const Config& cfg) {
  std::unique_ptr<Loop> loop(new Loop(pool, std::move(tun), cfg));
  if (auto st = loop->setup(); !st) return Err{st.error()};
  return loop;
}

Status<std::string> Loop::setup() {
  if (cfg_.rx_depth == 0 || cfg_.rx_ring_entries == 0 || cfg_.tx_queue_limit == 0)
    return Err{std::string("Loop config: rx_depth, rx_ring_entries and tx_queue_limit must be positive")};
  if (auto st = setup_ring(); !st) return st;
  if (auto st = setup_control_fds(); !st) return st;

  tx_ = std::make_unique<TxSlot[]>(cfg_.tx_queue_limit);
  tx_free_.reserve(cfg_.tx_queue_limit);
  for (std::size_t i = cfg_.tx_queue_limit; i-- > 0;) {
    tx_[i].on_complete = &TxSlot::complete;
    tx_[i].loop = this;
    tx_[i].index = static_cast<std::uint32_t>(i);
    tx_free_.push_back(static_cast<std::uint32_t>(i));
  }
  if (!tun_) return {};

  vnet_ = tun_->vnet_hdr_size();
  const std::size_t headroom = pool_.config().headroom;
  if (vnet_ > headroom) return Err{std::string("pool headroom is smaller than the vnet header")};
  rx_size_ = cfg_.rx_buffer_size;
  if (rx_size_ == 0) {
    // The pool's cheap class by default; a larger MTU (readable while the device is still in
    // this namespace) grows it so that no packet is cut.
    rx_size_ = pool_.config().small_size - headroom;
    if (auto m = tun_->mtu(); m.ok() && *m + vnet_ > rx_size_) rx_size_ = *m + vnet_;
  }
  if (rx_size_ + headroom > pool_.config().large_size)
    return Err{"rx_buffer_size " + std::to_string(rx_size_) + " exceeds the pool's large class"};

  const int raw_fd = tun_->fd();
  if (cfg_.register_tun_fd && io_uring_register_files(&ring_, &raw_fd, 1) == 0) {
    tun_fd_ = 0;
    tun_sqe_flags_ = IOSQE_FIXED_FILE;
  } else {
    tun_fd_ = raw_fd;  // not fatal: plain fds cost an fget per operation
  }

  const bool have_mshot = kernel_has_op(&ring_, kOpReadMultishot);
  rx_mode_ = cfg_.rx_mode;
  if (rx_mode_ == RxMode::Auto) rx_mode_ = have_mshot ? RxMode::MultishotRing : RxMode::Reads;
  if (rx_mode_ == RxMode::MultishotRing && !have_mshot)
    return Err{std::string("RxMode::MultishotRing needs IORING_OP_READ_MULTISHOT (Linux 6.7+)")};
  rx_count_ = rx_mode_ == RxMode::MultishotRing ? round_up_pow2(cfg_.rx_ring_entries) : cfg_.rx_depth;
  rx_ = std::make_unique<RxSlot[]>(rx_count_);
  for (std::uint32_t i = 0; i < rx_count_; ++i) {
    rx_[i].on_complete = &RxSlot::complete;
    rx_[i].loop = this;
    rx_[i].index = i;
  }
  rx_idle_.reserve(rx_count_);
  batch_.reserve(rx_count_);
  return {};
}

Status<std::string> Loop::setup_ring() {
  // DEFER_TASKRUN runs completion work only when we enter the ring to wait, i.e. in batches at a
  // point of our choosing; SINGLE_ISSUER lets the kernel skip locking. Older kernels refuse them
  // with EINVAL, so fall back step by step. SUBMIT_ALL keeps one bad SQE from stalling a batch.
  const unsigned base = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
  const unsigned fast[] = {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
                           IORING_SETUP_COOP_TASKRUN, 0};
  int rc = -EINVAL;
  for (unsigned extra : fast) {
    if (!cfg_.fast_setup_flags && extra != 0) continue;
    for (unsigned b : {base, unsigned{IORING_SETUP_CQSIZE}}) {
      io_uring_params p{};
      p.flags = b | extra;
      p.cq_entries = cfg_.cq_entries;
      rc = io_uring_queue_init_params(cfg_.sq_entries, &ring_, &p);
      if (rc == 0) {
        setup_flags_ = p.flags;
        ring_ok_ = true;
        return {};
      }
      if (rc != -EINVAL) break;
    }
    if (rc != -EINVAL) break;
  }
  std::string msg = "io_uring setup failed: " + errno_text(-rc);
  if (rc == -EPERM || rc == -EACCES)
    msg += " (io_uring may be disabled: see sysctl kernel.io_uring_disabled, or a seccomp filter)";
  if (rc == -ENOMEM) msg += " (locked-memory limit too low? try a smaller sq/cq size)";
  if (rc == -ENOSYS) msg += " (this kernel has no io_uring)";
  return Err{msg};
}

Status<std::string> Loop::setup_control_fds() {
  event_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (event_fd_ < 0) return Err{"eventfd: " + errno_text(errno)};
  if (!cfg_.handle_signals) return {};
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  // Blocked so that the signals queue for the signalfd instead of killing the process; the old
  // mask comes back when the loop is destroyed.
  if (const int e = ::pthread_sigmask(SIG_BLOCK, &set, &old_sigmask_); e != 0)
    return Err{"pthread_sigmask: " + errno_text(e)};
  signals_blocked_ = true;
  signal_fd_ = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signal_fd_ < 0) return Err{"signalfd: " + errno_text(errno)};
  return {};
}

Loop::~Loop() {
  if (ring_ok_) {
    if (inflight_ > 0) {
      stopping_ = true;
      if (io_uring_sqe* s = sqe()) {
        io_uring_prep_cancel64(s, 0, IORING_ASYNC_CANCEL_ANY);
        arm(s, &noop_op_);
      }
      drain(cfg_.shutdown_timeout);
    }
    unregister_rx_ring();
    // The ring's file table holds its own reference to the TUN file and the ring is torn down
    // asynchronously: unregister synchronously so that closing the Device really closes it (a
    // non-persistent interface disappears when the loop is destroyed, not some time later).
    if ((tun_sqe_flags_ & IOSQE_FIXED_FILE) != 0) (void)io_uring_unregister_files(&ring_);
    // Tearing the ring down also cancels anything that survived the drain before we free buffers.
    io_uring_queue_exit(&ring_);
  }
  batch_.clear();
  rx_.reset();
  tx_.reset();
  if (buf_ring_ != nullptr) ::munmap(buf_ring_, ring_entries_ * sizeof(io_uring_buf));
  if (signal_fd_ >= 0) ::close(signal_fd_);
  if (event_fd_ >= 0) ::close(event_fd_);
  if (signals_blocked_) ::pthread_sigmask(SIG_SETMASK, &old_sigmask_, nullptr);
}

Instant Loop::now() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return instant_from_ns(std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec);
}

// ---- submission plumbing -------------------------------------------------------------------

int Loop::submit_now() {
  const unsigned ready = io_uring_sq_ready(&ring_);
  const int rc = io_uring_submit(&ring_);
  ++stats_.submits;
  if (rc >= 0) stats_.sqes_submitted += ready;
  return rc;
}

io_uring_sqe* Loop::sqe() {
  io_uring_sqe* s = io_uring_get_sqe(&ring_);
  if (s == nullptr) {
    (void)submit_now();
    s = io_uring_get_sqe(&ring_);
    if (s == nullptr) ++stats_.sq_full;
  }
  return s;
}

void Loop::arm(io_uring_sqe* s, Op* op) {
  io_uring_sqe_set_data(s, op);
  ++inflight_;
}

bool Loop::arm_poll_multishot(int fd, unsigned events, Op* op) {
  if (stopping_) return false;
  io_uring_sqe* q = sqe();
  if (q == nullptr) return false;
  io_uring_prep_poll_multishot(q, fd, events);
  arm(q, op);
  return true;
}

bool Loop::cancel(Op* target, Op* done) {
  io_uring_sqe* q = sqe();
  if (q == nullptr) return false;
  io_uring_prep_cancel64(q, reinterpret_cast<std::uintptr_t>(target), 0);
  arm(q, done);
  return true;
}

void Loop::push(RetryHook** head, RetryHook* hook) {
  if (hook->queued) return;
  hook->queued = true;
  hook->head = head;
  hook->prev = nullptr;
  hook->next = *head;
  if (*head != nullptr) (*head)->prev = hook;
  *head = hook;
}

void Loop::retry_later(RetryHook* hook) { push(&retry_head_, hook); }

void Loop::post(RetryHook* hook) { push(&post_head_, hook); }

void Loop::cancel_retry(RetryHook* hook) {
  if (!hook->queued) return;
  if (hook->prev != nullptr) {
    hook->prev->next = hook->next;
  } else {
    *hook->head = hook->next;
  }
  if (hook->next != nullptr) hook->next->prev = hook->prev;
  hook->queued = false;
  hook->next = hook->prev = nullptr;
  hook->head = nullptr;
}

void Loop::run_list(RetryHook** head) {
  // The queued hooks move to a local list: hooks that queue themselves again run on a later
  // pass, and a hook that cancels another still pending (a socket closing another) unlinks it
  // from the local list, so that it does not run.
  RetryHook* pending = *head;
  *head = nullptr;
  for (RetryHook* h = pending; h != nullptr; h = h->next) h->head = &pending;
  while (pending != nullptr) {
    RetryHook* h = pending;
    pending = h->next;
    if (pending != nullptr) pending->prev = nullptr;
    h->next = h->prev = nullptr;
    h->head = nullptr;
    h->queued = false;
    h->fn(h);
  }
}

// ---- the loop ------------------------------------------------------------------------------

Status<std::string> Loop::run(TunHandler& handler) {
  if (handler_ != nullptr) return Err{std::string("Loop::run: already running")};
  handler_ = &handler;
  stopping_ = false;
  Status<std::string> result;
  arm_control();
  start_rx();
  while (!stop_requested_.load(std::memory_order_acquire)) {
    run_list(&retry_head_);
    run_list(&post_head_);
    handler.before_wait(now());
    sync_timer();
    const int rc = enter(retry_head_ != nullptr, post_head_ != nullptr);
    if (rc < 0 && rc != -EINTR && rc != -ETIME && rc != -EAGAIN && rc != -EBUSY) {
      ++stats_.enter_errors;
      result = Err{"io_uring_enter: " + errno_text(-rc)};
      break;
    }
    handler.after_wake(now());
    reap();
    deliver();
  }
  shutdown();
  handler_ = nullptr;
  stop_requested_.store(false, std::memory_order_release);
  return result;
}

void Loop::stop() {
  stop_requested_.store(true, std::memory_order_release);
  const std::uint64_t one = 1;
  // Async-signal-safe; a full counter (EAGAIN) still means "wake up", so the result is moot.
  [[maybe_unused]] const ssize_t n = ::write(event_fd_, &one, sizeof one);
}

int Loop::enter(bool bounded_wait, bool no_wait) {
  const unsigned ready = io_uring_sq_ready(&ring_);
  ++stats_.submits;
  int rc;
  if (no_wait) {
    // Posted work is waiting: submit and collect what has completed, but do not sleep.
    rc = io_uring_submit_and_get_events(&ring_);
  } else if (bounded_wait) {
    __kernel_timespec ts = to_timespec(cfg_.starved_retry);
    io_uring_cqe* cqe = nullptr;
    rc = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
  } else {
    rc = io_uring_submit_and_wait(&ring_, 1);
  }
  if (rc >= 0 || rc == -ETIME) stats_.sqes_submitted += ready;
  return rc;
}

void Loop::reap() {
  unsigned head;
  io_uring_cqe* cqe;
  unsigned n = 0;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    ++n;
    const std::uint64_t ud = cqe->user_data;
    const int res = cqe->res;
    const std::uint32_t flags = cqe->flags;
    if (ud != 0 && ud != kLiburingTimeoutData) {
      Op* op = static_cast<Op*>(io_uring_cqe_get_data(cqe));
      if ((flags & IORING_CQE_F_MORE) == 0) --inflight_;
      op->on_complete(op, res, flags);
    }
    if (n >= cfg_.cq_entries) break;  // bound one batch; the rest waits for the next iteration
  }
  io_uring_cq_advance(&ring_, n);
  stats_.cqes += n;
}

void Loop::deliver() {
  Instant t{};
  bool have_now = false;
  if (!batch_.empty()) {
    t = now();
    have_now = true;
    ++stats_.tun_rx_batches;
    handler_->on_tun_packets(std::span<PacketBuf>(batch_), t);
    batch_.clear();  // whatever the handler left goes back to the pool
  }
  rearm_rx();
  if (timer_completed_) {
    timer_completed_ = false;
    if (!have_now) t = now();
    if (timer_.on_timeout_completed(t)) {
      ++stats_.timer_fires;
      handler_->on_timer(t);
    }
  }
}

void Loop::arm_control() {
  if (signal_fd_ >= 0 && !signal_armed_) {
    if (io_uring_sqe* s = sqe()) {
      io_uring_prep_poll_add(s, signal_fd_, POLLIN);
      arm(s, &signal_op_);
      signal_armed_ = true;
    }
  }
  if (!wake_armed_) {
    if (io_uring_sqe* s = sqe()) {
      io_uring_prep_poll_add(s, event_fd_, POLLIN);
      arm(s, &wake_op_);
      wake_armed_ = true;
    }
  }
}

// Control fds are polled and then read directly: both reads are tiny and never block, and a poll
// cannot steal a signal the way a read run on an io-wq worker thread could.
void Loop::on_signal(int res, std::uint32_t /*flags*/) {
  signal_armed_ = false;
  if (res < 0) return;
  signalfd_siginfo si;
  while (::read(signal_fd_, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) ++stats_.signals;
  stop_requested_.store(true, std::memory_order_release);
}

void Loop::on_wake(int res, std::uint32_t /*flags*/) {
  wake_armed_ = false;
  if (res < 0) return;
  std::uint64_t v;
  [[maybe_unused]] const ssize_t n = ::read(event_fd_, &v, sizeof v);
  if (!stop_requested_.load(std::memory_order_acquire) && !stopping_) arm_control();
}

void Loop::on_noop(int /*res*/, std::uint32_t /*flags*/) {}

// ---- TUN reads ---------------------------------------------------------------------------

void Loop::start_rx() {
  if (!tun_) return;
  ring_filled_ = 0;
  multishot_armed_ = false;
  rx_backoff_ = false;
  if (rx_mode_ == RxMode::MultishotRing) {
    if (auto st = register_rx_ring(); !st) {
      // Registration can fail when memory is tight; single reads work everywhere.
      rx_mode_ = RxMode::Reads;
      rx_count_ = std::min(rx_count_, cfg_.rx_depth);
    }
  }
  rx_idle_.clear();
  for (std::uint32_t i = rx_count_; i-- > 0;) rx_idle_.push_back(i);
  rearm_rx();
}

Status<std::string> Loop::register_rx_ring() {
  if (ring_registered_) return {};
  ring_entries_ = rx_count_;
  if (buf_ring_ == nullptr) {
    void* mem = ::mmap(nullptr, ring_entries_ * sizeof(io_uring_buf), PROT_READ | PROT_WRITE,
                       MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED) return Err{"mmap for the buffer ring: " + errno_text(errno)};
    buf_ring_ = static_cast<io_uring_buf_ring*>(mem);
  }
  io_uring_buf_ring_init(buf_ring_);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uintptr_t>(buf_ring_);  // the kernel ABI wants an integer
  reg.ring_entries = ring_entries_;
  reg.bgid = kRxBufGroup;
  if (const int rc = io_uring_register_buf_ring(&ring_, &reg, 0); rc != 0)
    return Err{"io_uring_register_buf_ring: " + errno_text(-rc)};
  ring_registered_ = true;
  return {};
}

void Loop::unregister_rx_ring() {
  if (!ring_registered_) return;
  (void)io_uring_unregister_buf_ring(&ring_, kRxBufGroup);
  ring_registered_ = false;
}

void Loop::rearm_rx() {
  if (!tun_ || stopping_ || handler_ == nullptr || rx_idle_.empty()) return;
  if (rx_backoff_) {
    // A read failed (e.g. the interface was deleted): retry after a pause instead of spinning.
    rx_backoff_ = false;
    retry_later(&rx_retry_);
    return;
  }
  if (rx_mode_ == RxMode::Reads) {
    while (!rx_idle_.empty()) {
      if (!arm_read(rx_idle_.back())) {
        retry_later(&rx_retry_);
        return;
      }
      rx_idle_.pop_back();
    }
    return;
  }
  // MultishotRing: hand every idle slot's buffer to the ring, publish them with one tail update.
  const int mask = io_uring_buf_ring_mask(ring_entries_);
  int added = 0;
  while (!rx_idle_.empty()) {
    RxSlot& s = rx_[rx_idle_.back()];
    if (!s.buf.valid()) {
      s.buf = pool_.alloc(rx_size_);
      if (!s.buf.valid()) {
        ++stats_.tun_rx_pool_exhausted;
        retry_later(&rx_retry_);
        break;
      }
    }
    s.buf.reset(pool_.config().headroom - vnet_);
    io_uring_buf_ring_add(buf_ring_, s.buf.data(), static_cast<unsigned>(s.buf.tailroom()),
                          static_cast<unsigned short>(s.index), mask, added++);
    rx_idle_.pop_back();
  }
  if (added > 0) {
    io_uring_buf_ring_advance(buf_ring_, added);
    ring_filled_ += static_cast<std::uint32_t>(added);
  }
  if (!multishot_armed_ && ring_filled_ > 0) arm_multishot();
}

bool Loop::arm_read(std::uint32_t i) {
  RxSlot& s = rx_[i];
  if (!s.buf.valid()) {
    s.buf = pool_.alloc(rx_size_);
    if (!s.buf.valid()) {
      ++stats_.tun_rx_pool_exhausted;
      return false;
    }
  }
  io_uring_sqe* q = sqe();
  if (q == nullptr) return false;
  // The header lands vnet_ bytes early so that the IP header starts exactly at the headroom.
  s.buf.reset(pool_.config().headroom - vnet_);
  io_uring_prep_read(q, tun_fd_, s.buf.data(), static_cast<unsigned>(s.buf.tailroom()), 0);
  q->flags |= static_cast<std::uint8_t>(tun_sqe_flags_);
  arm(q, &s);
  return true;
}

void Loop::arm_multishot() {
  io_uring_sqe* q = sqe();
  if (q == nullptr) {
    retry_later(&rx_retry_);
    return;
  }
  io_uring_prep_rw(kOpReadMultishot, q, tun_fd_, nullptr, 0, 0);
  q->flags |= static_cast<std::uint8_t>(tun_sqe_flags_ | IOSQE_BUFFER_SELECT);
  q->buf_group = kRxBufGroup;
  arm(q, &multishot_op_);
  multishot_armed_ = true;
}

void Loop::on_read(RxSlot& slot, int res) {
  rx_complete(slot, res);
  rx_idle_.push_back(slot.index);
}

void Loop::on_multishot(int res, std::uint32_t flags) {
  if ((flags & IORING_CQE_F_MORE) == 0) multishot_armed_ = false;
  if ((flags & IORING_CQE_F_BUFFER) != 0) {
    const std::uint32_t bid = flags >> IORING_CQE_BUFFER_SHIFT;
    if (bid < rx_count_) {
      --ring_filled_;
      rx_complete(rx_[bid], res);
      rx_idle_.push_back(bid);
      return;
    }
  }
  if (res == -ENOBUFS) {
    ++stats_.tun_rx_ring_empty;  // re-armed by rearm_rx() once buffers are back in the ring
  } else if (res < 0 && res != -ECANCELED) {
    ++stats_.tun_rx_errors;
    ++stats_.tun_io_errors;
    rx_backoff_ = true;
  }
}

void Loop::rx_complete(RxSlot& slot, int res) {
  if (res > 0) {
    const auto n = static_cast<std::size_t>(res);
    if (n <= vnet_) {
      ++stats_.tun_rx_errors;
      ++stats_.tun_io_errors;
      return;
    }
    ++stats_.tun_rx_packets;
    stats_.tun_rx_bytes += n - vnet_;
    slot.buf.resize(n);
    // GSO and checksum offload are not negotiated (no TUNSETOFFLOAD), so the virtio header is
    // all zeroes: it is dropped here.
    if (vnet_ != 0) slot.buf.trim_front(vnet_);
    if (stopping_ || handler_ == nullptr) {
      ++stats_.tun_rx_dropped_shutdown;
      slot.buf = PacketBuf{};
      return;
    }
    batch_.push_back(std::move(slot.buf));
    return;
  }
  if (res == 0 || res == -ECANCELED || res == -EAGAIN || res == -EINTR) return;
  // Anything else (EFAULT for a packet larger than the buffer, EBADFD for a detached device)
  // keeps the buffer for the next read and pauses reading briefly.
  ++stats_.tun_rx_errors;
  ++stats_.tun_io_errors;
  rx_backoff_ = true;
}

void Loop::release_rx_buffers() {
  for (std::uint32_t i = 0; i < rx_count_; ++i) rx_[i].buf = PacketBuf{};
  rx_idle_.clear();
  ring_filled_ = 0;
  multishot_armed_ = false;
}

// ---- TUN writes --------------------------------------------------------------------------

bool Loop::write_tun(PacketBuf&& pkt) {
  PacketBuf p = std::move(pkt);  // from here the packet is ours: sent, or dropped and counted
  if (!tun_ || !p.valid() || p.size() == 0 || p.headroom() < vnet_) {
    ++stats_.tun_tx_dropped_invalid;
    return false;
  }
  if (tx_free_.empty()) {
    ++stats_.tun_tx_dropped_queue_full;
    return false;
  }
  io_uring_sqe* q = sqe();
  if (q == nullptr) {
    ++stats_.tun_tx_dropped_queue_full;
    return false;
  }
  if (vnet_ != 0) std::memset(p.prepend(vnet_).data(), 0, vnet_);  // VIRTIO_NET_HDR_GSO_NONE
  TxSlot& t = tx_[tx_free_.back()];
  tx_free_.pop_back();
  t.buf = std::move(p);
  io_uring_prep_write(q, tun_fd_, t.buf.data(), static_cast<unsigned>(t.buf.size()), 0);
  q->flags |= static_cast<std::uint8_t>(tun_sqe_flags_);
  arm(q, &t);
  ++stats_.tun_tx_queued;
  return true;
}

void Loop::on_write(TxSlot& t, int res) {
  const std::size_t len = t.buf.size();
  if (res >= 0 && static_cast<std::size_t>(res) == len) {
    ++stats_.tun_tx_packets;
    stats_.tun_tx_bytes += len - vnet_;
  } else if (res >= 0) {
    ++stats_.tun_tx_short_writes;
  } else {
    // EINVAL: not an IP packet (the version nibble is checked by the kernel); EIO: device down.
    ++stats_.tun_tx_errors;
    ++stats_.tun_io_errors;
  }
  t.buf = PacketBuf{};
  tx_free_.push_back(t.index);
}

// ---- the timer ---------------------------------------------------------------------------

void Loop::sync_timer() {
  if (io_uring_sq_space_left(&ring_) == 0) {
    (void)submit_now();
    if (io_uring_sq_space_left(&ring_) == 0) return;  // try again next iteration
  }
  const TimerBook::Action action = timer_.plan();
  if (action == TimerBook::Action::None) return;
  io_uring_sqe* q = io_uring_get_sqe(&ring_);  // space checked above
  if (action == TimerBook::Action::Remove) {
    io_uring_prep_timeout_remove(q, reinterpret_cast<std::uintptr_t>(&timeout_op_), 0);
    arm(q, &timer_aux_op_);
    ++stats_.timer_removes;
    return;
  }
  // Absolute CLOCK_MONOTONIC expiry (the timeout's default clock): no drift between the reading
  // of now() and the submission. The kernel copies the timespec when the SQE is submitted.
  timer_ts_ = to_timespec(timer_.armed()->time_since_epoch());
  if (action == TimerBook::Action::Arm) {
    io_uring_prep_timeout(q, &timer_ts_, 0, IORING_TIMEOUT_ABS);
    arm(q, &timeout_op_);
    ++stats_.timer_arms;
  } else {
    io_uring_prep_timeout_update(q, &timer_ts_, reinterpret_cast<std::uintptr_t>(&timeout_op_),
                                 IORING_TIMEOUT_ABS);
    arm(q, &timer_aux_op_);
    ++stats_.timer_updates;
  }
}

void Loop::on_timeout(int /*res*/, std::uint32_t /*flags*/) {
  // -ETIME (expired) or -ECANCELED (removed): either way nothing is in flight any more; deliver()
  // asks the book whether the deadline is due.
  timer_completed_ = true;
}

void Loop::on_timer_aux(int /*res*/, std::uint32_t /*flags*/) {
  // An update or remove that found the timeout already completed (-ENOENT) is harmless: the
  // timeout's own CQE follows and the book re-arms from it.
}

// ---- shutdown ----------------------------------------------------------------------------

void Loop::shutdown() {
  stopping_ = true;
  // Writes already prepared go out with the cancel request (a TUN write completes inline).
  if (io_uring_sqe* s = sqe()) {
    io_uring_prep_cancel64(s, 0, IORING_ASYNC_CANCEL_ANY);
    arm(s, &noop_op_);
  }
  drain(cfg_.shutdown_timeout);
  batch_.clear();
  if (inflight_ == 0) {
    unregister_rx_ring();
    release_rx_buffers();
  }
  timer_completed_ = false;
  stopping_ = false;
}

void Loop::drain(Duration limit) {
  const Instant deadline = now() + limit;
  while (inflight_ > 0 && now() < deadline) {
    const int rc = enter(true, false);
    reap();
    batch_.clear();
    if (rc == -ETIME) {
      // Something armed after the first cancel (a socket re-arming its receive): cancel again.
      if (io_uring_sqe* s = sqe()) {
        io_uring_prep_cancel64(s, 0, IORING_ASYNC_CANCEL_ANY);
        arm(s, &noop_op_);
      }
    }
  }
}

}  // namespace tunstack::tun
