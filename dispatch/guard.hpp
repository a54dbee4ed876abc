#pragma once
// The destination guard: flows to the gateway's own host and to addresses nobody means to reach
// through a tunnel are refused before any outbound sees them (no socket is opened).
//
// Refused by default (DenyReason): loopback (127.0.0.0/8, ::1), unspecified (0.0.0.0/8, ::),
// the gateway's own addresses (handed in by the daemon, refreshed as they change), link-local
// (169.254.0.0/16, fe80::/10), multicast (224.0.0.0/4, ff00::/8), the limited broadcast and the
// reserved 240.0.0.0/4. IPv6 forms of IPv4 addresses (::ffff:a.b.c.d mapped, ::a.b.c.d
// compatible) are judged as the IPv4 address they carry. An allow list (prefix and optional port
// range) opens chosen destinations.
//
// How a refusal looks to the client: a TCP SYN gets a RST (connect() fails with ECONNREFUSED at
// once, as from a closed port: clearer to applications than an ICMP error, which Linux reports as
// EHOSTUNREACH only after its SYN retries); a UDP datagram or ping gets ICMP destination
// unreachable, administratively prohibited (v4 type 3 code 13, v6 type 1 code 1). Each refusal is
// counted by reason.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dispatch/dispatcher.hpp"
#include "dispatch/task_queue.hpp"
#include "stack/core/counters.hpp"

namespace tunstack::dispatch {

/// Why a destination is refused (None: it is not).
enum class DenyReason : std::uint8_t { None, Loopback, Unspecified, Self, LinkLocal, Multicast, Broadcast, Reserved };
constexpr std::size_t kDenyReasons = 8;

/// One allow-list entry: a prefix and a port range ("198.19.0.1/32:8080-8090", "fe80::/10",
/// "[::1]:53", "127.0.0.1:53"); without a port, every port (and ICMP).
struct AllowRule {
  IpPrefix prefix;
  std::uint16_t port_lo = 0;
  std::uint16_t port_hi = 65535;
  bool matches(const Endpoint& dst) const;
};

/// Parses one allow-list entry; the error names it and says what is expected.
Result<AllowRule, std::string> parse_allow_rule(std::string_view text);
/// Parses a list of entries separated by commas or spaces.
Result<std::vector<AllowRule>, std::string> parse_allow_list(std::string_view text);

/// Decides which destinations may be reached (see the file comment).
class DestinationPolicy {
 public:
  /// Off: everything is allowed (the guard only counts nothing).
  void set_enabled(bool on) { enabled_ = on; }
  void set_allow(std::vector<AllowRule> rules) { allow_ = std::move(rules); }
  /// The gateway's own addresses (every interface of its namespace).
  void set_own_addresses(std::vector<IpAddr> addrs);
  const std::vector<IpAddr>& own_addresses() const { return own_; }
  /// The reason `dst` is refused, or None.
  DenyReason check(const Endpoint& dst) const;

 private:
  bool enabled_ = true;
  std::vector<AllowRule> allow_;
  std::vector<IpAddr> own_;  ///< sorted
};

/// Counters of the guard.
struct GuardStats {
  Counter denied[kDenyReasons] = {};  ///< by DenyReason (index 0 unused)
  template <class F>
  void visit(F&& f) const {
    static constexpr const char* kNames[] = {nullptr, "guard_denied_loopback", "guard_denied_unspecified",
                                             "guard_denied_self", "guard_denied_link_local",
                                             "guard_denied_multicast", "guard_denied_broadcast",
                                             "guard_denied_reserved"};
    for (std::size_t i = 1; i < kDenyReasons; ++i) f(kNames[i], denied[i]);
  }
};

/// A dispatcher in front of another: every outbound it hands out checks each destination with
/// the policy first (TCP at the SYN, UDP and ping per datagram: a full-cone mapping may reach
/// many destinations, and one refused destination does not close the mapping).
class GuardDispatcher final : public Dispatcher {
 public:
  GuardDispatcher(Dispatcher& inner, const DestinationPolicy& policy, TaskQueue& tasks);
  ~GuardDispatcher() override;
  Outbound& route(const FlowInfo& flow) override;
  const GuardStats& stats() const { return stats_; }

  /// Checks `dst` and counts a refusal.
  DenyReason admit(const Endpoint& dst);
  TaskQueue& tasks() { return tasks_; }

 private:
  class GuardedOutbound;
  Dispatcher& inner_;
  const DestinationPolicy& policy_;
  TaskQueue& tasks_;
  GuardStats stats_;
  std::map<Outbound*, std::unique_ptr<GuardedOutbound>> wrapped_;
};

}  // namespace tunstack::dispatch
