#pragma once
// Builds UDP datagrams toward the client: the UDP and IP headers go into the payload buffer's
// headroom (no copy); a datagram larger than the TUN MTU is fragmented (IPv4 and IPv6) so that
// nothing oversize is ever written to the TUN.
#include <cstddef>
#include <cstdint>

#include "stack/core/addr.hpp"
#include "stack/core/packet_buf.hpp"
#include "stack/core/packet_output.hpp"
#include "stack/core/result.hpp"

namespace tunstack::udp {

/// Why a datagram could not be built.
enum class BuildError : std::uint8_t {
  FamilyMismatch,  ///< from and to are of different IP versions
  NoHeadroom,      ///< the payload buffer has no room for the headers
  TooLarge,        ///< more than IP can carry in one datagram
  NoBuffer,        ///< the pool refused a fragment buffer
};
const char* to_string(BuildError e);

/// Per-datagram settings.
struct OutFields {
  std::size_t mtu = 1500;
  std::uint8_t hop_limit = 64;
  std::uint32_t ident = 0;  ///< IPv4 identification (low 16 bits) / IPv6 fragment identification
};

/// Emits the datagram `payload` from `from` to `to` (one packet, or its fragments) into `out`;
/// returns how many packets were emitted.
Result<std::size_t, BuildError> emit_datagram(PacketBuf payload, const Endpoint& from,
                                              const Endpoint& to, const OutFields& fields,
                                              BufPool& pool, PacketOutput& out);

}  // namespace tunstack::udp
