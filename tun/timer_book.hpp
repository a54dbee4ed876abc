#pragma once
// The bookkeeping behind the loop's single kernel timer, kept free of io_uring so that it can be
// unit-tested with plain Instants. The loop owns one IORING_OP_TIMEOUT at most; this book says, once
// per loop iteration, whether that timeout must be armed, moved (TIMEOUT_UPDATE) or removed, and,
// when the timeout's completion arrives, whether the handler's deadline is really due.
#include <optional>

#include "stack/core/time.hpp"

namespace tunstack::tun {

/// Tracks the requested deadline against the one the kernel timeout currently holds.
class TimerBook {
 public:
  /// What the loop must submit to bring the kernel timeout in line with the request.
  enum class Action { None, Arm, Update, Remove };

  /// Asks for a wake-up at `t` or earlier: the earliest request since the last expiry wins
  /// (callers with several deadlines just call this for each one).
  void request(Instant t) {
    if (!wanted_ || t < *wanted_) wanted_ = t;
  }
  /// Forgets the requested deadline; a timeout already in the kernel is removed.
  void clear() { wanted_.reset(); }

  /// The deadline the handler asked for, if any.
  std::optional<Instant> wanted() const { return wanted_; }
  /// The expiry the in-kernel timeout holds (nullopt when no timeout is in flight).
  std::optional<Instant> armed() const { return in_flight_ ? std::optional<Instant>{armed_} : std::nullopt; }
  /// True while a timeout operation is in the kernel (its completion not yet seen).
  bool in_flight() const { return in_flight_; }

  /// Decides what to submit now and records it as submitted. Arm/Update target wanted().
  /// Update also moves the expiry later (after clear() + request()), so the kernel never holds a
  /// stale deadline for long; Remove is sent once per in-flight timeout.
  Action plan() {
    if (!in_flight_) {
      if (!wanted_) return Action::None;
      in_flight_ = true;
      removing_ = false;
      armed_ = *wanted_;
      return Action::Arm;
    }
    if (wanted_) {
      if (*wanted_ == armed_ && !removing_) return Action::None;
      armed_ = *wanted_;
      removing_ = false;  // an update after a remove fails with -ENOENT; the timeout CQE re-arms
      return Action::Update;
    }
    if (removing_) return Action::None;
    removing_ = true;
    return Action::Remove;
  }

  /// The timeout's own completion arrived (expired, removed or cancelled): nothing is in flight
  /// any more. Returns true when the requested deadline is due at `now`; it is then consumed and
  /// the handler must be called (it requests its next deadline itself). A deadline that is not yet
  /// due (the request moved later while the timeout was firing) is re-armed by the next plan().
  bool on_timeout_completed(Instant now) {
    in_flight_ = false;
    removing_ = false;
    if (wanted_ && *wanted_ <= now) {
      wanted_.reset();
      return true;
    }
    return false;
  }

 private:
  std::optional<Instant> wanted_;
  Instant armed_{};
  bool in_flight_ = false;
  bool removing_ = false;
};

}  // namespace tunstack::tun
