#pragma once
// Initial sequence numbers per RFC 6528: ISN = M + F(4-tuple, secret), M a 4 µs clock.
#include <cstdint>

#include "stack/core/addr.hpp"
#include "stack/core/seq.hpp"
#include "stack/core/time.hpp"

namespace tunstack::tcp {

/// Keyed hash of a connection's 4-tuple (client, server) with the engine's secret.
std::uint64_t tuple_hash(const Endpoint& client, const Endpoint& server, std::uint64_t secret);

/// RFC 6528 §3: the ISN for a connection; grows with the 4 µs clock so a reused 4-tuple gets a
/// higher ISN than the last incarnation (what the peer's TIME_WAIT reuse check wants).
SeqNum make_isn(const Endpoint& client, const Endpoint& server, std::uint64_t secret, Instant now);

/// A per-connection random offset for our timestamp clock (RFC 7323 §5.4 recommends one).
std::uint32_t ts_offset(const Endpoint& client, const Endpoint& server, std::uint64_t secret);

}  // namespace tunstack::tcp
