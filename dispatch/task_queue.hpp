#pragma once
// A deferral queue: outbounds must not call back into the stack from inside a call the stack made
// (open_stream, send); they post the callback here and the driver runs it after the current packet.
#include <cstddef>
#include <functional>
#include <utility>
#include <vector>

namespace tunstack::dispatch {

/// FIFO of deferred callbacks, drained by the driver between packets.
class TaskQueue {
 public:
  void post(std::function<void()> task) { tasks_.push_back(std::move(task)); }
  bool empty() const { return tasks_.empty(); }
  /// Runs queued tasks (including ones they post) until the queue is empty; returns how many ran.
  std::size_t run_all() {
    std::size_t n = 0;
    while (!tasks_.empty()) {
      std::vector<std::function<void()>> batch;
      batch.swap(tasks_);
      for (auto& t : batch) {
        t();
        ++n;
      }
    }
    return n;
  }

 private:
  std::vector<std::function<void()>> tasks_;
};

}  // namespace tunstack::dispatch
