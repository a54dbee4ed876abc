#pragma once
// Keyed hashing of connection identities: RFC 6528 initial sequence numbers (ISN = M + F(4-tuple,
// secret), M a 4 µs clock), the per-connection timestamp offset (RFC 7323 §5.4) and the MACs of
// SYN cookies (syncookie.hpp). F is SipHash-2-4, a keyed PRF: the client sees many of its outputs
// (every ISN, every cookie) and must learn nothing that lets it predict another one.
#include <cstdint>

#include "stack/core/addr.hpp"
#include "stack/core/bytes.hpp"
#include "stack/core/seq.hpp"
#include "stack/core/time.hpp"

namespace tunstack::tcp {

/// A 128-bit SipHash key.
struct SipKey {
  std::uint64_t k0 = 0;
  std::uint64_t k1 = 0;
};

/// SipHash-2-4 (Aumasson & Bernstein, 2012) of `data` under `key`.
std::uint64_t siphash24(const SipKey& key, Bytes data);

/// The SipHash key for one use (`domain`) of the engine's 64-bit secret, so that ISNs, timestamp
/// offsets and cookies never share a key.
SipKey derive_key(std::uint64_t secret, std::uint64_t domain);

/// Keyed hash of a connection's 4-tuple (client, server) and an extra word.
std::uint64_t tuple_hash(const SipKey& key, const Endpoint& client, const Endpoint& server,
                         std::uint64_t extra = 0);
/// As above, keyed by the engine's secret (the RFC 6528 F()).
std::uint64_t tuple_hash(const Endpoint& client, const Endpoint& server, std::uint64_t secret);

/// RFC 6528 §3: the ISN for a connection; grows with the 4 µs clock so a reused 4-tuple gets a
/// higher ISN than the last incarnation (what the peer's TIME_WAIT reuse check wants).
SeqNum make_isn(const Endpoint& client, const Endpoint& server, std::uint64_t secret, Instant now);

/// A per-connection random offset for our timestamp clock (RFC 7323 §5.4 recommends one).
std::uint32_t ts_offset(const Endpoint& client, const Endpoint& server, std::uint64_t secret);

/// Our timestamp clock (1 ms ticks since `origin`, plus the connection's offset): one function
/// for connections and for the stateless SYN-ACK of a SYN cookie, which must agree.
inline std::uint32_t ts_clock(Instant now, Instant origin, std::uint32_t offset) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - origin).count();
  return static_cast<std::uint32_t>(ms) + offset;
}

}  // namespace tunstack::tcp
