#pragma once
// DataSegments: names the server's data segments for scenario scripts, so a test can say "drop
// the 100th data segment and its first retransmission": each original transmission gets an index
// (0-based, in order of first appearance), and every later segment that starts inside it counts
// as its next transmission, even when the sender re-packetized it.
#include <map>
#include <optional>

#include "tests/stack/tcp/sim/sim_net.hpp"

namespace tunstack::tcp::sim {

/// See the file comment.
class DataSegments {
 public:
  /// One server segment carrying data or a FIN.
  struct Seen {
    int index = 0;         ///< the original it belongs to
    int transmission = 0;  ///< 0 for the original, 1 for the first retransmission, ...
    bool fin = false;
  };

  /// Classifies a packet; nullopt for packets toward the server and pure ACKs.
  std::optional<Seen> classify(const LinkPacket& p) {
    if (p.dir != Dir::ToClient) return std::nullopt;
    auto r = parse_segment(p);
    if (!r || r->flags.has(wire::TcpFlags::SYN)) return std::nullopt;
    const bool fin = r->flags.has(wire::TcpFlags::FIN);
    if (r->payload_len == 0 && !fin) return std::nullopt;
    if (!base_) {
      base_ = r->seq;
      high_ = r->seq;
    }
    const std::int64_t off = high_off_ + (r->seq - high_);
    const std::int64_t end = off + r->payload_len + (fin ? 1 : 0);
    if (off >= high_off_) {  // new data (or the first FIN)
      high_off_ = end;
      high_ = r->seq + static_cast<std::uint32_t>(end - off);
      originals_[off] = Orig{next_index_, 0};
      return Seen{next_index_++, 0, fin};
    }
    auto it = originals_.upper_bound(off);
    if (it == originals_.begin()) return std::nullopt;
    --it;
    return Seen{it->second.index, ++it->second.sent, fin};
  }

 private:
  struct Orig {
    int index;
    int sent;  ///< retransmissions so far
  };
  std::optional<SeqNum> base_;
  SeqNum high_;
  std::int64_t high_off_ = 0;
  int next_index_ = 0;
  std::map<std::int64_t, Orig> originals_;
};

}  // namespace tunstack::tcp::sim
