#include "stack/core/addr.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace tunstack {

std::optional<Ip4Addr> Ip4Addr::parse(std::string_view s) {
  char buf[INET_ADDRSTRLEN];
  if (s.empty() || s.size() >= sizeof buf) return std::nullopt;  // empty: data() may be null
  std::memcpy(buf, s.data(), s.size());
  buf[s.size()] = '\0';
  Ip4Addr a;
  if (inet_pton(AF_INET, buf, a.b.data()) != 1) return std::nullopt;
  return a;
}

std::string Ip4Addr::to_string() const {
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, b.data(), buf, sizeof buf);
  return buf;
}

bool Ip6Addr::is_v4_mapped() const {
  for (int i = 0; i < 10; ++i)
    if (b[i] != 0) return false;
  return b[10] == 0xff && b[11] == 0xff;
}

std::optional<Ip6Addr> Ip6Addr::parse(std::string_view s) {
  char buf[INET6_ADDRSTRLEN];
  if (s.empty() || s.size() >= sizeof buf) return std::nullopt;  // empty: data() may be null
  std::memcpy(buf, s.data(), s.size());
  buf[s.size()] = '\0';
  Ip6Addr a;
  if (inet_pton(AF_INET6, buf, a.b.data()) != 1) return std::nullopt;
  return a;
}

std::string Ip6Addr::to_string() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, b.data(), buf, sizeof buf);
  return buf;
}

std::optional<IpAddr> IpAddr::parse(std::string_view s) {
  if (auto a = Ip4Addr::parse(s)) return IpAddr{*a};
  if (auto a = Ip6Addr::parse(s)) return IpAddr{*a};
  return std::nullopt;
}

std::optional<Endpoint> Endpoint::parse(std::string_view s) {
  std::string_view host, port;
  if (!s.empty() && s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':')
      return std::nullopt;
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else {
    auto colon = s.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::nullopt;  // bare IPv6 needs []
  }
  auto addr = IpAddr::parse(host);
  if (!addr) return std::nullopt;
  unsigned p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc{} || end != port.data() + port.size() || p > 65535) return std::nullopt;
  return Endpoint{*addr, Port{static_cast<std::uint16_t>(p)}};
}

std::string Endpoint::to_string() const {
  // Appended piecewise: g++ 12 warns falsely (-Wrestrict) on "[" + std::string.
  std::string out;
  out.reserve(48);
  if (addr.is_v6()) out.push_back('[');
  out.append(addr.to_string());
  if (addr.is_v6()) out.push_back(']');
  out.push_back(':');
  out.append(std::to_string(port.value));
  return out;
}

std::uint64_t hash_value(const IpAddr& a) {
  const auto& b = a.v6().b;
  std::uint64_t lo, hi;
  std::memcpy(&lo, b.data(), 8);
  std::memcpy(&hi, b.data() + 8, 8);
  return hash_mix(lo ^ hash_mix(hi ^ static_cast<std::uint64_t>(a.version())));
}

std::optional<IpPrefix> IpPrefix::parse(std::string_view s) {
  const auto slash = s.find('/');
  auto a = IpAddr::parse(s.substr(0, slash));
  if (!a) return std::nullopt;
  const unsigned max = a->is_v4() ? 32 : 128;
  unsigned len = max;
  if (slash != std::string_view::npos) {
    const std::string_view n = s.substr(slash + 1);
    auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), len);
    if (n.empty() || ec != std::errc{} || end != n.data() + n.size() || len > max) return std::nullopt;
  }
  return IpPrefix{*a, static_cast<std::uint8_t>(len)};
}

bool IpPrefix::contains(const IpAddr& a) const {
  if (a.version() != addr.version()) return false;
  const Bytes x = a.bytes();
  const Bytes p = addr.bytes();
  const std::size_t whole = len / 8u;
  if (std::memcmp(x.data(), p.data(), whole) != 0) return false;
  const unsigned rest = len % 8u;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff00u >> rest);
  return (static_cast<std::uint8_t>(x[whole]) & mask) == (static_cast<std::uint8_t>(p[whole]) & mask);
}

}  // namespace tunstack
