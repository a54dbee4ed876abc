#pragma once
// Strong address types: IPv4, IPv6, either, ports and endpoints. Stored in network byte order
// (as on the wire) so that views can hand them out without swapping.
#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "stack/core/bytes.hpp"

namespace tunstack {

/// An IPv4 address, four bytes in network order.
struct Ip4Addr {
  std::array<std::uint8_t, 4> b{};

  static Ip4Addr from_host(std::uint32_t h) {
    return {{static_cast<std::uint8_t>(h >> 24), static_cast<std::uint8_t>(h >> 16),
             static_cast<std::uint8_t>(h >> 8), static_cast<std::uint8_t>(h)}};
  }
  static Ip4Addr load(const std::byte* p) {
    Ip4Addr a;
    std::memcpy(a.b.data(), p, 4);
    return a;
  }
  void store(std::byte* p) const { std::memcpy(p, b.data(), 4); }
  std::uint32_t to_host() const {
    return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) |
           b[3];
  }
  bool is_unspecified() const { return to_host() == 0; }
  bool is_multicast() const { return (b[0] & 0xf0) == 0xe0; }
  bool is_broadcast() const { return to_host() == 0xffffffffu; }
  bool is_loopback() const { return b[0] == 127; }

  /// Parses dotted-quad text; nullopt when it is not an IPv4 address.
  static std::optional<Ip4Addr> parse(std::string_view s);
  std::string to_string() const;
  friend auto operator<=>(const Ip4Addr&, const Ip4Addr&) = default;
};

/// An IPv6 address, sixteen bytes in network order.
struct Ip6Addr {
  std::array<std::uint8_t, 16> b{};

  static Ip6Addr load(const std::byte* p) {
    Ip6Addr a;
    std::memcpy(a.b.data(), p, 16);
    return a;
  }
  void store(std::byte* p) const { std::memcpy(p, b.data(), 16); }
  bool is_unspecified() const { return *this == Ip6Addr{}; }
  bool is_multicast() const { return b[0] == 0xff; }
  bool is_link_local() const { return b[0] == 0xfe && (b[1] & 0xc0) == 0x80; }
  bool is_loopback() const {
    Ip6Addr l{};
    l.b[15] = 1;
    return *this == l;
  }
  /// True for ::ffff:a.b.c.d (an IPv4-mapped address).
  bool is_v4_mapped() const;

  static std::optional<Ip6Addr> parse(std::string_view s);
  std::string to_string() const;
  friend auto operator<=>(const Ip6Addr&, const Ip6Addr&) = default;
};

/// The IP version of an address or packet.
enum class IpVersion : std::uint8_t { V4 = 4, V6 = 6 };

/// Either an IPv4 or an IPv6 address (a tagged value; no heap).
class IpAddr {
 public:
  IpAddr() = default;
  IpAddr(Ip4Addr a) : v6_{}, version_(IpVersion::V4) { std::memcpy(v6_.b.data(), a.b.data(), 4); }  // NOLINT
  IpAddr(Ip6Addr a) : v6_(a), version_(IpVersion::V6) {}  // NOLINT

  IpVersion version() const { return version_; }
  bool is_v4() const { return version_ == IpVersion::V4; }
  bool is_v6() const { return version_ == IpVersion::V6; }
  Ip4Addr v4() const {
    Ip4Addr a;
    std::memcpy(a.b.data(), v6_.b.data(), 4);
    return a;
  }
  const Ip6Addr& v6() const { return v6_; }
  /// The address bytes: 4 for IPv4, 16 for IPv6.
  Bytes bytes() const { return as_bytes(v6_.b.data(), is_v4() ? 4 : 16); }

  static std::optional<IpAddr> parse(std::string_view s);
  std::string to_string() const { return is_v4() ? v4().to_string() : v6_.to_string(); }
  friend bool operator==(const IpAddr&, const IpAddr&) = default;
  friend auto operator<=>(const IpAddr&, const IpAddr&) = default;

 private:
  Ip6Addr v6_{};  // IPv4 lives in the first four bytes; the rest stays zero
  IpVersion version_ = IpVersion::V4;
};

/// An address prefix ("198.19.0.0/24", "fd00::/8"; a bare address is a /32 or /128).
struct IpPrefix {
  IpAddr addr;
  std::uint8_t len = 0;

  /// Parses "ADDRESS" or "ADDRESS/LEN"; nullopt when either part is wrong.
  static std::optional<IpPrefix> parse(std::string_view s);
  /// True when `a` is of the same family and its first `len` bits are the prefix's.
  bool contains(const IpAddr& a) const;
};

/// A transport port number (host order).
struct Port {
  std::uint16_t value = 0;
  friend auto operator<=>(const Port&, const Port&) = default;
};

/// An address and port: one end of a flow.
struct Endpoint {
  IpAddr addr;
  Port port;

  /// Parses "1.2.3.4:80" or "[fd00::1]:80".
  static std::optional<Endpoint> parse(std::string_view s);
  std::string to_string() const;
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
  friend auto operator<=>(const Endpoint&, const Endpoint&) = default;
};

/// Mixes a 64-bit value (splitmix64 finaliser): a cheap, well-spread hash step.
constexpr std::uint64_t hash_mix(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

std::uint64_t hash_value(const IpAddr& a);
inline std::uint64_t hash_value(const Endpoint& e) {
  return hash_mix(hash_value(e.addr) ^ (std::uint64_t{e.port.value} << 1));
}

}  // namespace tunstack

template <>
struct std::hash<tunstack::IpAddr> {
  std::size_t operator()(const tunstack::IpAddr& a) const noexcept { return tunstack::hash_value(a); }
};
template <>
struct std::hash<tunstack::Endpoint> {
  std::size_t operator()(const tunstack::Endpoint& e) const noexcept { return tunstack::hash_value(e); }
};
