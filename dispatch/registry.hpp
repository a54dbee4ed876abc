#pragma once
// Outbounds are chosen by name (`--outbound direct`, `[outbound] type = "socks5"`). Built-ins are
// registered by register_builtin_outbounds(); a user's outbound registers itself the same way from
// its own .cpp (link it into the daemon, see README "Writing an outbound") without touching the stack.
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dispatch/dispatcher.hpp"
#include "dispatch/task_queue.hpp"

namespace tunstack::tun {
class Loop;
}

namespace tunstack::dispatch {

/// Everything an outbound factory may use: the loop it does I/O on (null in sans-IO tests), the
/// packet pool, a deferral queue, and its options from the configuration (key = value strings).
struct OutboundContext {
  tun::Loop* loop = nullptr;
  BufPool* pool = nullptr;
  TaskQueue* tasks = nullptr;
  std::map<std::string, std::string> options;
};

using OutboundFactory =
    std::function<Result<std::unique_ptr<Outbound>, std::string>(const OutboundContext&)>;

/// The name -> factory table of outbounds.
class OutboundRegistry {
 public:
  static OutboundRegistry& instance();
  /// Adds a factory; false when the name is taken.
  bool add(std::string name, std::string description, OutboundFactory factory);
  /// Builds the named outbound, or an error naming the choices.
  Result<std::unique_ptr<Outbound>, std::string> create(const std::string& name,
                                                         const OutboundContext& ctx) const;
  /// True when an outbound of that name is registered.
  bool contains(const std::string& name) const { return entries_.count(name) != 0; }
  /// Registered names with their one-line descriptions, sorted.
  std::vector<std::pair<std::string, std::string>> list() const;

 private:
  struct Entry {
    std::string description;
    OutboundFactory factory;
  };
  std::map<std::string, Entry> entries_;
};

/// Registers echo and reject (sans-IO) and, when built with the I/O library, direct.
void register_builtin_outbounds();

}  // namespace tunstack::dispatch
