#include "stack/tcp/isn.hpp"

#include <array>

namespace tunstack::tcp {

namespace {

constexpr std::uint64_t rotl(std::uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

/// Little-endian 64-bit word at p (SipHash's byte order, whatever the host's).
std::uint64_t load_le64(const std::byte* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | std::to_integer<std::uint64_t>(p[i]);
  return v;
}

struct SipState {
  std::uint64_t v0, v1, v2, v3;
  void round() {
    v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);
    v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;
    v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;
    v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);
  }
  void absorb(std::uint64_t m) {
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }
};

/// Writes an endpoint (address bytes, then the port) at p; returns the bytes written.
std::size_t put_endpoint(std::byte* p, const Endpoint& e) {
  const Bytes a = e.addr.bytes();
  std::memcpy(p, a.data(), a.size());
  store_be16(p + a.size(), e.port.value);
  return a.size() + 2;
}

}  // namespace

std::uint64_t siphash24(const SipKey& key, Bytes data) {
  SipState s{key.k0 ^ 0x736f6d6570736575ULL, key.k1 ^ 0x646f72616e646f6dULL,
             key.k0 ^ 0x6c7967656e657261ULL, key.k1 ^ 0x7465646279746573ULL};
  const std::size_t n = data.size();
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) s.absorb(load_le64(data.data() + i));
  std::uint64_t last = static_cast<std::uint64_t>(n) << 56;
  for (std::size_t j = 0; i + j < n; ++j) last |= std::to_integer<std::uint64_t>(data[i + j]) << (8 * j);
  s.absorb(last);
  s.v2 ^= 0xff;
  for (int r = 0; r < 4; ++r) s.round();
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

SipKey derive_key(std::uint64_t secret, std::uint64_t domain) {
  // The secret is only 64 bits; two independent mixes spread it over the 128-bit key.
  return {hash_mix(secret ^ hash_mix(domain)), hash_mix(~secret + 0x9e3779b97f4a7c15ULL * (domain + 1))};
}

std::uint64_t tuple_hash(const SipKey& key, const Endpoint& client, const Endpoint& server,
                         std::uint64_t extra) {
  std::array<std::byte, 2 * 18 + 8> buf{};
  std::size_t n = put_endpoint(buf.data(), client);
  n += put_endpoint(buf.data() + n, server);
  store_be32(buf.data() + n, static_cast<std::uint32_t>(extra >> 32));
  store_be32(buf.data() + n + 4, static_cast<std::uint32_t>(extra));
  return siphash24(key, Bytes{buf.data(), n + 8});
}

std::uint64_t tuple_hash(const Endpoint& client, const Endpoint& server, std::uint64_t secret) {
  return tuple_hash(derive_key(secret, 0), client, server);
}

SeqNum make_isn(const Endpoint& client, const Endpoint& server, std::uint64_t secret, Instant now) {
  const auto ticks = static_cast<std::uint64_t>(now.time_since_epoch().count()) / 4000;  // 4 µs
  const auto f = static_cast<std::uint32_t>(tuple_hash(client, server, secret));
  return SeqNum{static_cast<std::uint32_t>(ticks) + f};
}

std::uint32_t ts_offset(const Endpoint& client, const Endpoint& server, std::uint64_t secret) {
  return static_cast<std::uint32_t>(tuple_hash(derive_key(secret, 1), client, server) >> 32);
}

}  // namespace tunstack::tcp
