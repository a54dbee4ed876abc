#include "tun/sock_util.hpp"

#include <netinet/in.h>

#include <array>
#include <cstring>

namespace tunstack::tun {

std::string errno_text(int e) { return std::string(std::strerror(e)); }

bool to_sockaddr(const Endpoint& ep, SockFamily fam, sockaddr_storage& ss, socklen_t& len) {
  std::memset(&ss, 0, sizeof ss);
  const std::uint16_t port = htons(ep.port.value);
  if (fam == SockFamily::V4) {
    if (!ep.addr.is_v4()) return false;
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = port;
    std::memcpy(&sin.sin_addr, ep.addr.v4().b.data(), 4);
    std::memcpy(&ss, &sin, sizeof sin);
    len = sizeof sin;
    return true;
  }
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  sin6.sin6_port = port;
  if (ep.addr.is_v6()) {
    std::memcpy(&sin6.sin6_addr, ep.addr.v6().b.data(), 16);
  } else {
    if (fam != SockFamily::Dual) return false;
    std::array<std::uint8_t, 16> mapped{};  // ::ffff:a.b.c.d (RFC 4291 §2.5.5.2)
    mapped[10] = 0xff;
    mapped[11] = 0xff;
    std::memcpy(mapped.data() + 12, ep.addr.v4().b.data(), 4);
    std::memcpy(&sin6.sin6_addr, mapped.data(), 16);
  }
  std::memcpy(&ss, &sin6, sizeof sin6);
  len = sizeof sin6;
  return true;
}

std::optional<Endpoint> from_sockaddr(const void* sa, std::size_t len) {
  sa_family_t fam = AF_UNSPEC;
  if (len < sizeof fam) return std::nullopt;
  std::memcpy(&fam, sa, sizeof fam);
  if (fam == AF_INET && len >= sizeof(sockaddr_in)) {
    sockaddr_in sin;
    std::memcpy(&sin, sa, sizeof sin);
    Ip4Addr a;
    std::memcpy(a.b.data(), &sin.sin_addr, 4);
    return Endpoint{a, Port{ntohs(sin.sin_port)}};
  }
  if (fam == AF_INET6 && len >= sizeof(sockaddr_in6)) {
    sockaddr_in6 sin6;
    std::memcpy(&sin6, sa, sizeof sin6);
    Ip6Addr a;
    std::memcpy(a.b.data(), &sin6.sin6_addr, 16);
    const Port port{ntohs(sin6.sin6_port)};
    if (a.is_v4_mapped()) {
      Ip4Addr v4;
      std::memcpy(v4.b.data(), a.b.data() + 12, 4);
      return Endpoint{v4, port};
    }
    return Endpoint{a, port};
  }
  return std::nullopt;
}

Status<std::string> set_int(int fd, int level, int opt, int v, const char* what) {
  if (::setsockopt(fd, level, opt, &v, sizeof v) < 0)
    return Err{std::string(what) + ": " + errno_text(errno)};
  return {};
}

Status<std::string> apply_outbound_options(int fd, const OutboundSockOptions& o) {
  if (o.mark) {
    if (auto st = set_int(fd, SOL_SOCKET, SO_MARK, static_cast<int>(*o.mark), "SO_MARK"); !st)
      return Err{st.error() + " (SO_MARK needs CAP_NET_ADMIN)"};
  }
  if (!o.bind_device.empty()) {
    if (::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, o.bind_device.data(),
                     static_cast<socklen_t>(o.bind_device.size())) < 0)
      return Err{"SO_BINDTODEVICE '" + std::string(o.bind_device) + "': " + errno_text(errno)};
  }
  if (o.rcvbuf > 0) {
    if (auto st = set_int(fd, SOL_SOCKET, SO_RCVBUF, o.rcvbuf, "SO_RCVBUF"); !st) return st;
  }
  if (o.sndbuf > 0) {
    if (auto st = set_int(fd, SOL_SOCKET, SO_SNDBUF, o.sndbuf, "SO_SNDBUF"); !st) return st;
  }
  return {};
}

}  // namespace tunstack::tun
