#pragma once
// Test support: build real client packets with the stack's own emitters, and capture what the
// stack emits. Header-only; used by the sans-IO tests of stack/, nat/ and dispatch/.
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "stack/core/packet_output.hpp"
#include "stack/udp/udp_out.hpp"

namespace tunstack::testing {

/// A PacketOutput that keeps everything emitted.
class CaptureOutput final : public PacketOutput {
 public:
  void emit(PacketBuf p) override { packets.push_back(std::move(p)); }
  std::vector<PacketBuf> packets;
};

inline Endpoint ep(std::string_view s) { return *Endpoint::parse(s); }
inline IpAddr addr(std::string_view s) { return *IpAddr::parse(s); }

inline Bytes text(std::string_view s) { return as_bytes(s.data(), s.size()); }

inline std::string to_string(Bytes b) { return std::string(reinterpret_cast<const char*>(b.data()), b.size()); }  // NOLINT

/// A buffer holding `payload` with headroom, as the NAT or an outbound would hand it over.
inline PacketBuf payload_buf(BufPool& pool, Bytes payload) { return pool.copy_of(payload); }

/// A whole client IP/UDP packet (unfragmented: the MTU is ignored).
inline PacketBuf udp_packet(BufPool& pool, const Endpoint& src, const Endpoint& dst, Bytes payload) {
  CaptureOutput out;
  udp::OutFields f;
  f.mtu = 65535;
  auto n = udp::emit_datagram(pool.copy_of(payload), src, dst, f, pool, out);
  if (!n || out.packets.size() != 1) return {};
  return std::move(out.packets.front());
}

}  // namespace tunstack::testing
