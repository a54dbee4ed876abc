#pragma once
// Where the sans-IO core puts finished IP packets toward the client: the TUN writer in the daemon,
// a vector in tests.
#include <cstddef>
#include <limits>

#include "stack/core/packet_buf.hpp"

namespace tunstack {

/// A sink for complete IP packets (each at most the TUN MTU).
class PacketOutput {
 public:
  virtual ~PacketOutput() = default;
  virtual void emit(PacketBuf ip_packet) = 0;
  /// How many more packets emit() can take right now without dropping them (the TUN writer's
  /// free queue slots). A sender that sees 0 stops and waits for the driver to tell it that room
  /// came back (TcpLayer::on_output_room), as Linux's TCP small queues do, instead of losing its
  /// own segments at the device.
  virtual std::size_t room() const { return std::numeric_limits<std::size_t>::max(); }
};

}  // namespace tunstack
