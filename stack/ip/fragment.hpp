#pragma once
// Fragmentation, the reverse of reassembly: IPv4 (RFC 791 §3.2, on the path when DF is clear)
// and IPv6 source fragmentation with a Fragment header (RFC 8200 §4.5; the NAT uses it to write
// oversize UDP replies into the TUN). Each fragment is a fresh pool buffer: header written,
// then one copy of its share of the payload.
#include <cstddef>
#include <cstdint>
#include <span>

#include "stack/core/bytes.hpp"
#include "stack/core/packet_buf.hpp"
#include "stack/core/result.hpp"

namespace tunstack::ip {

/// Why a datagram was not fragmented.
enum class FragmentError : std::uint8_t {
  Malformed,          ///< not a parseable datagram (or its offsets overflow)
  DontFragment,       ///< IPv4 DF set and too big: the caller sends ICMP Fragmentation Needed
  MtuTooSmall,        ///< the MTU cannot carry the headers plus 8 data bytes
  AlreadyFragmented,  ///< IPv6 packet that already has a Fragment header
  TooManyFragments,   ///< more fragments than `out` can hold (nothing was allocated)
  NoBuffer,           ///< the pool refused a buffer (nothing is left in `out`)
};
/// A short, stable name for logs ("dont_fragment", ...).
const char* to_string(FragmentError e);

/// Splits an IPv4 datagram into fragments of at most `mtu` bytes, written to out[0, n).
/// The first fragment keeps every option; later ones only options with the copied flag
/// (RFC 791 §3.1). A fragment may itself be fragmented again (offsets add, the last piece
/// keeps the original MF). A datagram that already fits is copied into out[0] unchanged.
/// DF set and too big -> DontFragment (the caller answers with ICMP type 3 code 4, RFC 1191).
Result<std::size_t, FragmentError> fragment_v4(Bytes datagram, std::size_t mtu, BufPool& pool,
                                               std::span<PacketBuf> out);

/// Source-fragments an IPv6 packet into packets of at most `mtu` bytes (RFC 8200 §4.5): each
/// carries the unfragmentable part, a Fragment header with `ident`, and a multiple of 8 data
/// bytes (but the last). The caller picks `ident` (RFC 7739: unpredictable). A packet that
/// already fits is copied into out[0] without a Fragment header (RFC 8021: no atomic fragments).
Result<std::size_t, FragmentError> fragment_v6(Bytes packet, std::size_t mtu, std::uint32_t ident,
                                               BufPool& pool, std::span<PacketBuf> out);

}  // namespace tunstack::ip
