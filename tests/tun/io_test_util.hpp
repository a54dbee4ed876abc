#pragma once
// Shared helpers of the tun_io_tests binary. The binary moves itself into a private network
// namespace at start (tun_io_test_main.cpp), so every TUN and address it makes vanishes with it.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "tun/loop.hpp"

namespace tunstack::tun::testing {

/// True when the process runs as root inside its own network namespace (set by main()).
extern bool g_private_netns;

/// Skips the current test unless it may create interfaces.
#define TUNSTACK_REQUIRE_NETNS()                                                    \
  do {                                                                             \
    if (!::tunstack::tun::testing::g_private_netns) GTEST_SKIP() << "needs root (network namespace)"; \
  } while (0)

/// Runs a shell command in the test's namespace; true when it exited 0.
inline bool sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0; }

/// Stops `loop` from another thread after `after`, unless disarmed first: a bound on every run().
class Watchdog {
 public:
  Watchdog(Loop& loop, std::chrono::milliseconds after)
      : thread_([this, &loop, after] {
          const auto end = std::chrono::steady_clock::now() + after;
          while (!done_.load() && std::chrono::steady_clock::now() < end)
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
          if (!done_.load()) {
            fired_.store(true);
            loop.stop();
          }
        }) {}
  ~Watchdog() {
    done_.store(true);
    thread_.join();
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  /// True when the watchdog had to stop the loop (the test's own stop never came).
  bool fired() const { return fired_.load(); }

 private:
  std::atomic<bool> done_{false};
  std::atomic<bool> fired_{false};
  std::thread thread_;
};

/// A TunHandler that does nothing unless told to (tests override what they need).
class NullHandler : public TunHandler {
 public:
  void on_tun_packets(std::span<PacketBuf> /*batch*/, Instant /*now*/) override {}
  void on_timer(Instant /*now*/) override {}
};

}  // namespace tunstack::tun::testing
