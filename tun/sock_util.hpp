#pragma once
// Small helpers shared by the kernel-socket wrappers (UdpSocket, TcpSocket): converting between
// Endpoint and sockaddr, and setting socket options with an error text that names the option.
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "stack/core/addr.hpp"
#include "stack/core/result.hpp"

namespace tunstack::tun {

/// The address family of a socket: one family, or an IPv6 socket that also carries IPv4 (mapped).
enum class SockFamily : std::uint8_t { V4, V6, Dual };

/// strerror(e) as a std::string.
std::string errno_text(int e);

/// Fills `ss` with `ep` for a socket of family `fam`: IPv4 goes IPv4-mapped on a Dual socket.
/// False when the address does not fit the family.
bool to_sockaddr(const Endpoint& ep, SockFamily fam, sockaddr_storage& ss, socklen_t& len);

/// The Endpoint in a kernel socket address; IPv4-mapped IPv6 comes back as plain IPv4.
std::optional<Endpoint> from_sockaddr(const void* sa, std::size_t len);

/// setsockopt(fd, level, opt, int v); the error names `what`.
Status<std::string> set_int(int fd, int level, int opt, int v, const char* what);

/// The options every outbound socket takes from the daemon's configuration.
struct OutboundSockOptions {
  std::optional<std::uint32_t> mark;  ///< SO_MARK (policy routing; needs CAP_NET_ADMIN)
  std::string_view bind_device;       ///< SO_BINDTODEVICE (empty: none)
  int sndbuf = 0;                     ///< SO_SNDBUF when non-zero
  int rcvbuf = 0;                     ///< SO_RCVBUF when non-zero
};
/// Applies `o` to `fd`; the error names the option and, where it helps, what it needs.
Status<std::string> apply_outbound_options(int fd, const OutboundSockOptions& o);

}  // namespace tunstack::tun
