// The destination guard: every refused range in its IPv4 and IPv6 forms, the gateway's own
// addresses, the allow list with ports, and the GuardDispatcher in front of a real (echo)
// outbound: refused TCP gets a refusal (RST), refused UDP an admin-prohibited error and no
// session, allowed traffic passes untouched.
#include <gtest/gtest.h>

#include <vector>

#include "dispatch/builtin.hpp"
#include "dispatch/guard.hpp"

namespace tunstack::dispatch {
namespace {

Endpoint ep(const char* s) { return *Endpoint::parse(s); }

TEST(DestinationPolicy, RefusesTheGatewaysOwnHostAndReservedRanges) {
  DestinationPolicy p;
  p.set_own_addresses({*IpAddr::parse("198.19.0.1"), *IpAddr::parse("fd00:19::1")});
  struct Case {
    const char* dst;
    DenyReason want;
  };
  for (auto [dst, want] : {
           Case{"127.0.0.1:22", DenyReason::Loopback}, Case{"127.255.1.2:80", DenyReason::Loopback},
           Case{"[::1]:22", DenyReason::Loopback}, Case{"[::ffff:127.0.0.1]:22", DenyReason::Loopback},
           Case{"[::127.0.0.1]:22", DenyReason::Loopback}, Case{"0.0.0.0:80", DenyReason::Unspecified},
           Case{"0.1.2.3:80", DenyReason::Unspecified}, Case{"[::]:80", DenyReason::Unspecified},
           Case{"198.19.0.1:8080", DenyReason::Self}, Case{"[fd00:19::1]:8080", DenyReason::Self},
           Case{"[::ffff:198.19.0.1]:8080", DenyReason::Self}, Case{"169.254.169.254:80", DenyReason::LinkLocal},
           Case{"[fe80::1]:80", DenyReason::LinkLocal}, Case{"224.0.0.251:5353", DenyReason::Multicast},
           Case{"239.1.2.3:9", DenyReason::Multicast}, Case{"[ff02::fb]:5353", DenyReason::Multicast},
           Case{"255.255.255.255:67", DenyReason::Broadcast}, Case{"240.0.0.1:1", DenyReason::Reserved},
           Case{"[::ffff:169.254.169.254]:80", DenyReason::LinkLocal},
           // Ordinary destinations, including the test networks and the gateway's neighbours.
           Case{"198.19.0.2:80", DenyReason::None}, Case{"8.8.8.8:53", DenyReason::None},
           Case{"[fd00:19::2]:80", DenyReason::None}, Case{"[2001:db8::1]:443", DenyReason::None},
           Case{"[::ffff:198.19.0.2]:80", DenyReason::None}, Case{"223.255.255.255:1", DenyReason::None}}) {
    EXPECT_EQ(p.check(ep(dst)), want) << dst;
  }
  p.set_enabled(false);
  EXPECT_EQ(p.check(ep("127.0.0.1:22")), DenyReason::None);
}

TEST(DestinationPolicy, OwnAddressesFollowRefresh) {
  DestinationPolicy p;
  EXPECT_EQ(p.check(ep("198.19.0.9:1")), DenyReason::None);
  p.set_own_addresses({*IpAddr::parse("198.19.0.9")});
  EXPECT_EQ(p.check(ep("198.19.0.9:1")), DenyReason::Self);
  p.set_own_addresses({});
  EXPECT_EQ(p.check(ep("198.19.0.9:1")), DenyReason::None);
}

TEST(DestinationPolicy, AllowListOpensChosenPrefixesAndPorts) {
  auto rules = parse_allow_list("127.0.0.1:53, 198.19.0.1/32:8000-8999 fe80::/10 [::1]:5300-5301");
  ASSERT_TRUE(rules.ok()) << rules.error();
  ASSERT_EQ(rules->size(), 4u);
  DestinationPolicy p;
  p.set_own_addresses({*IpAddr::parse("198.19.0.1")});
  p.set_allow(*rules);
  EXPECT_EQ(p.check(ep("127.0.0.1:53")), DenyReason::None);
  EXPECT_EQ(p.check(ep("[::ffff:127.0.0.1]:53")), DenyReason::None);  // the mapped form is the same host
  EXPECT_EQ(p.check(ep("127.0.0.1:54")), DenyReason::Loopback);
  EXPECT_EQ(p.check(ep("127.0.0.2:53")), DenyReason::Loopback);
  EXPECT_EQ(p.check(ep("198.19.0.1:8999")), DenyReason::None);
  EXPECT_EQ(p.check(ep("198.19.0.1:9000")), DenyReason::Self);
  EXPECT_EQ(p.check(ep("[fe80::5]:1")), DenyReason::None);
  EXPECT_EQ(p.check(ep("[::1]:5301")), DenyReason::None);
  EXPECT_EQ(p.check(ep("[::1]:5302")), DenyReason::Loopback);
  for (const char* bad : {"127.0.0.1:", "1.2.3.4/33", "fe80::/129", "[::1]53", "[::1", "host:53", "1.2.3.4:9-8",
                          "1.2.3.4:70000"}) {
    auto r = parse_allow_rule(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().find(bad), std::string::npos) << r.error();
  }
}

struct Sink final : DatagramSink, StreamSink {
  void on_datagram(const Endpoint& from, PacketBuf) override { replies.push_back(from); }
  void on_remote_error(const RemoteError& e) override { errors.push_back(e); }
  void on_session_closed() override {}
  void on_connected() override { ++connected; }
  void on_connect_failed(bool refused, const RemoteError& e) override {
    refused_ = refused;
    errors.push_back(e);
  }
  std::size_t on_data(Bytes d) override { return d.size(); }
  void on_remote_fin() override {}
  void on_reset() override {}
  std::vector<Endpoint> replies;
  std::vector<RemoteError> errors;
  int connected = 0;
  bool refused_ = false;
};

TEST(GuardDispatcher, RefusesBeforeTheOutboundAndCountsByReason) {
  TaskQueue tasks;
  BufPool pool;
  SingleDispatcher inner(make_echo_outbound(tasks));
  DestinationPolicy policy;
  policy.set_own_addresses({*IpAddr::parse("198.19.0.1")});
  GuardDispatcher guard(inner, policy, tasks);

  // TCP to the gateway's loopback: refused (the client gets a RST), never connected.
  Sink tcp;
  FlowInfo f{Proto::Tcp, ep("198.18.0.2:40000"), ep("127.0.0.1:22"), "tun", 1};
  auto s = guard.route(f).open_stream(f, tcp);
  ASSERT_NE(s, nullptr);
  tasks.run_all();
  EXPECT_EQ(tcp.connected, 0);
  EXPECT_TRUE(tcp.refused_);
  ASSERT_EQ(tcp.errors.size(), 1u);
  EXPECT_EQ(tcp.errors[0].kind, RemoteError::Kind::AdminProhibited);
  // TCP elsewhere: the echo outbound's own behaviour.
  Sink ok;
  FlowInfo g{Proto::Tcp, ep("198.18.0.2:40001"), ep("198.19.0.2:80"), "tun", 2};
  auto s2 = guard.route(g).open_stream(g, ok);
  tasks.run_all();
  EXPECT_EQ(ok.connected, 1);

  // UDP: a full-cone mapping whose first datagram goes to the gateway itself opens nothing;
  // that datagram is refused with an admin-prohibited error, a later one to a real remote passes.
  Sink udp;
  FlowInfo u{Proto::Udp, ep("198.18.0.2:5000"), ep("198.19.0.1:53"), "tun", 3};
  auto d = guard.route(u).open_datagram(u, udp);
  ASSERT_NE(d, nullptr);
  auto payload = [&] {
    PacketBuf p = pool.alloc(4);
    p.append(4);
    return p;
  };
  auto st = d->send(ep("198.19.0.1:53"), payload());
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error(), SendError::Unreachable);
  ASSERT_EQ(udp.errors.size(), 1u);
  EXPECT_EQ(udp.errors[0].kind, RemoteError::Kind::AdminProhibited);
  EXPECT_EQ(udp.errors[0].remote, ep("198.19.0.1:53"));
  EXPECT_TRUE(d->send(ep("198.19.0.2:53"), payload()).ok());
  EXPECT_FALSE(d->send(ep("[::ffff:127.0.0.1]:53"), payload()).ok());
  tasks.run_all();
  ASSERT_EQ(udp.replies.size(), 1u);  // the echo answered the allowed datagram only
  EXPECT_EQ(udp.replies[0], ep("198.19.0.2:53"));

  std::vector<std::pair<std::string, std::uint64_t>> counters;
  guard.stats().visit([&](std::string_view n, std::uint64_t v) { counters.emplace_back(n, v); });
  auto count = [&](const char* name) {
    for (auto& [n, v] : counters)
      if (n == name) return v;
    return std::uint64_t{999};
  };
  EXPECT_EQ(count("guard_denied_loopback"), 2u);
  EXPECT_EQ(count("guard_denied_self"), 1u);
  EXPECT_EQ(count("guard_denied_multicast"), 0u);
}

}  // namespace
}  // namespace tunstack::dispatch
