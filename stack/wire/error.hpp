#pragma once
// Why a packet was refused by a parser. Every parser checks every length before it reads and
// returns one of these instead of touching bytes it does not have.
#include <cstdint>

namespace tunstack::wire {

/// A typed parse failure; also the key of the "dropped by reason" counters.
enum class ParseError : std::uint8_t {
  Truncated,         ///< fewer bytes than a header or a length field says
  BadVersion,        ///< IP version field is not what the parser handles
  BadHeaderLength,   ///< a header-length field is below its minimum or past the buffer
  BadTotalLength,    ///< a total/payload length disagrees with the buffer
  BadChecksum,       ///< checksum verification failed
  BadOption,         ///< a malformed option (length 0/1 where >=2 needed, runs past the header)
  BadExtHeader,      ///< a malformed IPv6 extension header or chain
  ExtChainTooLong,   ///< more IPv6 extension headers than we are willing to walk
  UnknownExtHeader,  ///< an IPv6 next-header value we must not skip (RFC 8200 §4)
  BadFragment,       ///< a fragment that cannot be valid (offset+len > 65535, etc.)
  BadType,           ///< an ICMP type/code combination we do not parse
  BadField,          ///< any other field with a value the RFC forbids
};

/// A short, stable name for logs and counters ("truncated", "bad_checksum", ...).
const char* to_string(ParseError e);

}  // namespace tunstack::wire
