#include "stack/tcp/isn.hpp"

namespace tunstack::tcp {

std::uint64_t tuple_hash(const Endpoint& client, const Endpoint& server, std::uint64_t secret) {
  // A keyed chain of splitmix finalisers: not a MAC, but the secret is unknown to the client and
  // RFC 6528 §3 only asks that F() not be guessable from outside.
  std::uint64_t h = hash_mix(secret ^ hash_value(client));
  h = hash_mix(h ^ hash_value(server) ^ secret);
  return hash_mix(h + secret);
}

SeqNum make_isn(const Endpoint& client, const Endpoint& server, std::uint64_t secret, Instant now) {
  const auto ticks = static_cast<std::uint64_t>(now.time_since_epoch().count()) / 4000;  // 4 µs
  const auto f = static_cast<std::uint32_t>(tuple_hash(client, server, secret));
  return SeqNum{static_cast<std::uint32_t>(ticks) + f};
}

std::uint32_t ts_offset(const Endpoint& client, const Endpoint& server, std::uint64_t secret) {
  return static_cast<std::uint32_t>(tuple_hash(client, server, ~secret) >> 32);
}

}  // namespace tunstack::tcp
