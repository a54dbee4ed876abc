#pragma once
// Where the sans-IO core puts finished IP packets toward the client: the TUN writer in the daemon,
// a vector in tests.
#include "stack/core/packet_buf.hpp"

namespace tunstack {

/// A sink for complete IP packets (each at most the TUN MTU).
class PacketOutput {
 public:
  virtual ~PacketOutput() = default;
  virtual void emit(PacketBuf ip_packet) = 0;
};

}  // namespace tunstack
