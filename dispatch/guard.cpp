#include "dispatch/guard.hpp"

#include "dispatch/builtin.hpp"
#include "stack/core/text.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <optional>

namespace tunstack::dispatch {
namespace {

/// The IPv4 address an IPv6 address carries (::ffff:a.b.c.d or ::a.b.c.d), if any.
std::optional<Ip4Addr> embedded_v4(const Ip6Addr& a) {
  bool zero10 = true;
  for (int i = 0; i < 10; ++i) zero10 = zero10 && a.b[i] == 0;
  if (!zero10) return std::nullopt;
  const bool mapped = a.b[10] == 0xff && a.b[11] == 0xff;
  const bool compat = a.b[10] == 0 && a.b[11] == 0;
  if (!mapped && !compat) return std::nullopt;
  Ip4Addr v;
  std::memcpy(v.b.data(), a.b.data() + 12, 4);
  // ::, ::1 are IPv6's own unspecified and loopback, judged as such by the caller.
  if (compat && v.to_host() <= 1) return std::nullopt;
  return v;
}

DenyReason classify_v4(const Ip4Addr& a) {
  const std::uint32_t h = a.to_host();
  if (a.is_loopback()) return DenyReason::Loopback;
  if ((h >> 24) == 0) return DenyReason::Unspecified;  // 0.0.0.0/8: "this network"
  if ((h >> 16) == 0xa9fe) return DenyReason::LinkLocal;  // 169.254.0.0/16
  if (a.is_broadcast()) return DenyReason::Broadcast;
  if (a.is_multicast()) return DenyReason::Multicast;
  if ((h >> 28) == 0xf) return DenyReason::Reserved;  // 240.0.0.0/4
  return DenyReason::None;
}

DenyReason classify(const IpAddr& addr) {
  if (addr.is_v4()) return classify_v4(addr.v4());
  const Ip6Addr& a = addr.v6();
  if (auto v4 = embedded_v4(a)) return classify_v4(*v4);
  if (a.is_unspecified()) return DenyReason::Unspecified;
  if (a.is_loopback()) return DenyReason::Loopback;
  if (a.is_link_local()) return DenyReason::LinkLocal;
  if (a.is_multicast()) return DenyReason::Multicast;
  return DenyReason::None;
}

/// The address as the socket layer would reach it: an IPv6 form of an IPv4 address is that
/// IPv4 address (for the own-address check).
IpAddr canonical(const IpAddr& a) {
  if (a.is_v6())
    if (auto v4 = embedded_v4(a.v6())) return IpAddr(*v4);
  return a;
}

std::optional<std::uint16_t> parse_u16(std::string_view s) {
  unsigned v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || end != s.data() + s.size() || v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

}  // namespace

bool AllowRule::matches(const Endpoint& dst) const {
  return dst.port.value >= port_lo && dst.port.value <= port_hi &&
         (prefix.contains(dst.addr) || prefix.contains(canonical(dst.addr)));
}

namespace {

/// "PORT" or "PORT-PORT" into r.
bool parse_ports(std::string_view ports, AllowRule& r) {
  const auto dash = ports.find('-');
  auto lo = parse_u16(ports.substr(0, dash));
  auto hi = dash == std::string_view::npos ? lo : parse_u16(ports.substr(dash + 1));
  if (!lo || !hi || *lo > *hi) return false;
  r.port_lo = *lo;
  r.port_hi = *hi;
  return true;
}

}  // namespace

Result<AllowRule, std::string> parse_allow_rule(std::string_view text) {
  // ADDRESS[/LEN] | IPV4[/LEN]:PORTS | [IPV6[/LEN]]:PORTS | [IPV6[/LEN]]
  std::string_view addr = text, ports;
  bool has_ports = false;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) addr = {};
    else {
      addr = text.substr(1, close - 1);
      const std::string_view rest = text.substr(close + 1);
      has_ports = !rest.empty();
      if (has_ports) ports = rest.front() == ':' ? rest.substr(1) : std::string_view{};
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    const auto colon = text.find(':');
    addr = text.substr(0, colon);
    ports = text.substr(colon + 1);
    has_ports = true;
  }
  AllowRule r;
  auto prefix = IpPrefix::parse(addr);
  if (prefix) r.prefix = *prefix;
  if (!prefix || (has_ports && !parse_ports(ports, r)))
    return Err{"allow entry '" + std::string(text) +
               "': expects ADDRESS[/LEN][:PORT[-PORT]], IPv6 in brackets when a port follows "
               "(e.g. 127.0.0.1:53, 198.19.0.0/24:8000-8999, fe80::/10, [::1]:53)"};
  return r;
}

Result<std::vector<AllowRule>, std::string> parse_allow_list(std::string_view text) {
  std::vector<AllowRule> rules;
  std::string error;
  for_each_token(text, [&](std::string_view t) {
    auto r = parse_allow_rule(t);
    if (!r) error = r.error();
    else rules.push_back(*r);
    return r.ok();
  });
  if (!error.empty()) return Err{error};
  return rules;
}

void DestinationPolicy::set_own_addresses(std::vector<IpAddr> addrs) {
  for (IpAddr& a : addrs) a = canonical(a);
  std::sort(addrs.begin(), addrs.end());
  addrs.erase(std::unique(addrs.begin(), addrs.end()), addrs.end());
  own_ = std::move(addrs);
}

DenyReason DestinationPolicy::check(const Endpoint& dst) const {
  if (!enabled_) return DenyReason::None;
  DenyReason r = classify(dst.addr);
  if (r == DenyReason::None && std::binary_search(own_.begin(), own_.end(), canonical(dst.addr)))
    r = DenyReason::Self;
  if (r == DenyReason::None) return r;
  for (const AllowRule& a : allow_)
    if (a.matches(dst)) return DenyReason::None;
  return r;
}

/// One outbound behind the guard.
class GuardDispatcher::GuardedOutbound final : public Outbound {
 public:
  GuardedOutbound(GuardDispatcher& g, Outbound& inner) : g_(g), inner_(inner) {}
  std::string_view name() const override { return inner_.name(); }
  std::unique_ptr<StreamSession> open_stream(const FlowInfo& flow, StreamSink& sink) override {
    if (g_.admit(flow.dst) != DenyReason::None) return make_refused_stream(sink, g_.tasks(), flow.dst);
    return inner_.open_stream(flow, sink);
  }
  std::unique_ptr<DatagramSession> open_datagram(const FlowInfo& flow, DatagramSink& sink) override;

 private:
  GuardDispatcher& g_;
  Outbound& inner_;
};

namespace {

/// A datagram session behind the guard: each destination is checked; the outbound's own session
/// is opened with the first allowed datagram (at once when the first destination is allowed, so
/// a refused first datagram opens no socket).
class GuardedDatagrams final : public DatagramSession {
 public:
  GuardedDatagrams(GuardDispatcher& g, Outbound& out, const FlowInfo& flow, DatagramSink& sink,
                   std::unique_ptr<DatagramSession> inner)
      : g_(g), out_(out), flow_(flow), sink_(sink), inner_(std::move(inner)) {}
  Status<SendError> send(const Endpoint& dst, PacketBuf payload) override {
    if (g_.admit(dst) != DenyReason::None) {
      sink_.on_remote_error(RemoteError{RemoteError::Kind::AdminProhibited, dst, dst.addr, 0});
      return Err{SendError::Unreachable};
    }
    if (!inner_) {
      FlowInfo f = flow_;
      f.dst = dst;
      inner_ = out_.open_datagram(f, sink_);
      if (!inner_) return Err{SendError::Closed};
    }
    return inner_->send(dst, std::move(payload));
  }
  std::optional<Endpoint> mapped_endpoint() const override {
    return inner_ ? inner_->mapped_endpoint() : std::nullopt;
  }

 private:
  GuardDispatcher& g_;
  Outbound& out_;
  FlowInfo flow_;
  DatagramSink& sink_;
  std::unique_ptr<DatagramSession> inner_;
};

}  // namespace

std::unique_ptr<DatagramSession> GuardDispatcher::GuardedOutbound::open_datagram(const FlowInfo& flow,
                                                                                 DatagramSink& sink) {
  std::unique_ptr<DatagramSession> inner;
  if (g_.policy_.check(flow.dst) == DenyReason::None) {
    inner = inner_.open_datagram(flow, sink);
    if (!inner) return nullptr;  // the outbound could not open it: the NAT counts that
  }
  return std::make_unique<GuardedDatagrams>(g_, inner_, flow, sink, std::move(inner));
}

GuardDispatcher::GuardDispatcher(Dispatcher& inner, const DestinationPolicy& policy, TaskQueue& tasks)
    : inner_(inner), policy_(policy), tasks_(tasks) {}

GuardDispatcher::~GuardDispatcher() = default;

Outbound& GuardDispatcher::route(const FlowInfo& flow) {
  Outbound& out = inner_.route(flow);
  auto& slot = wrapped_[&out];
  if (!slot) slot = std::make_unique<GuardedOutbound>(*this, out);
  return *slot;
}

DenyReason GuardDispatcher::admit(const Endpoint& dst) {
  const DenyReason r = policy_.check(dst);
  if (r != DenyReason::None) ++stats_.denied[static_cast<std::size_t>(r)];
  return r;
}

}  // namespace tunstack::dispatch
