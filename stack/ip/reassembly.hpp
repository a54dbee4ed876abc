#pragma once
// IPv4 (RFC 791, RFC 815) and IPv6 (RFC 8200 §4.5) fragment reassembly, sans-IO: time arrives as
// an Instant, memory comes from BufPool, and every table is allocated once and bounded.
//
// Policy on overlaps: any fragment that overlaps another with different bytes or a different
// extent discards the whole datagram, for IPv6 (RFC 5722 requires it) and for IPv4 too (RFC 5722's
// reasoning applies equally and it never builds a datagram from inconsistent data). The key
// stays "dead" until its timeout so the rest of its fragments are dropped cheaply (RFC 5722 §4).
// An exact duplicate (same offset, length and bytes) is dropped alone (RFC 8200 §4.5 allows it).
//
// Fragments are held zero-copy in the PacketBufs they arrived in; the one copy happens when a
// complete datagram is written into a fresh buffer from the pool.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "stack/core/addr.hpp"
#include "stack/core/counters.hpp"
#include "stack/core/packet_buf.hpp"
#include "stack/core/time.hpp"
#include "stack/core/flat_map.hpp"
#include "stack/wire/ipv6.hpp"

namespace tunstack::ip {

/// Why a fragment was not kept; each reason has a counter in Reassembler::Stats.
enum class FragDrop : std::uint8_t {
  None,              ///< kept (or passed through, or completed a datagram)
  Malformed,         ///< header does not parse or its checksum is wrong
  Rejected,          ///< the IPv6 extension-header walk said discard (RFC 8200 §4)
  BadLength,         ///< empty, or a non-last fragment not a multiple of 8 (RFC 8200 §4.5)
  TooBig,            ///< the datagram would exceed 65535 bytes
  IncompleteChain,   ///< IPv6 first fragment without the whole header chain (RFC 7112)
  Overlap,           ///< overlaps another fragment: the datagram is discarded (RFC 5722)
  Inconsistent,      ///< disagrees with the datagram's known end: the datagram is discarded
  Duplicate,         ///< exact copy of a held fragment
  TooManyFragments,  ///< over max_fragments_per_datagram: the datagram is discarded
  OverSourceCap,     ///< the source holds too much: the datagram is discarded
  OverMemory,        ///< global caps reached even after evicting older datagrams
  DeadDatagram,      ///< belongs to a datagram already discarded
  NoBuffer,          ///< the pool had no buffer for the reassembled datagram
};
/// A short, stable name for logs and counters ("overlap", "too_big", ...).
const char* to_string(FragDrop d);

/// Identifies one datagram being reassembled (RFC 791: src, dst, protocol, id; RFC 8200 §4.5:
/// src, dst, id, where protocol is left 0).
struct FragKey {
  IpAddr src;
  IpAddr dst;
  std::uint32_t ident = 0;
  std::uint8_t proto = 0;
  friend bool operator==(const FragKey&, const FragKey&) = default;
};
std::uint64_t hash_value(const FragKey& k);

/// Reassembles IPv4 and IPv6 datagrams from fragments under global, per-source and
/// per-datagram limits. Single-threaded. The pools that fragments were allocated from, and
/// the output pool, must outlive it. Memory is accounted as the capacity of the buffers held,
/// so fragments should arrive in right-sized (MTU class) buffers, not 64 KiB ones.
class Reassembler {
 public:
  /// Limits; each has a safe default.
  struct Config {
    Duration timeout_v4 = std::chrono::seconds(30);  ///< Linux's default (RFC 791 leaves it open)
    Duration timeout_v6 = std::chrono::seconds(60);  ///< RFC 8200 §4.5
    std::size_t max_datagrams = 256;        ///< datagrams in progress (live or dead)
    std::size_t max_fragments = 4096;       ///< fragments held in total
    /// 128 lets a 64 KiB datagram through a 576-byte IPv4 MTU; tiny-fragment floods stop here.
    std::size_t max_fragments_per_datagram = 128;
    std::size_t max_bytes = 4u << 20;            ///< buffer bytes held in total (capacity)
    /// Buffer bytes held per source: an IPv4 address, or an IPv6 /64.
    std::size_t max_bytes_per_source = 1u << 20;
    std::uint64_t hash_seed = 0;  ///< set from a random source so keys are not predictable
  };

  /// Fragment and datagram counters; every fragment not kept lands in exactly one drop counter.
  struct Stats {
    Counter fragments = 0;     ///< fragments offered (pass-throughs not included)
    Counter reassembled = 0;   ///< datagrams completed
    Counter unfragmented = 0;  ///< whole datagrams passed straight through
    Counter atomic = 0;        ///< IPv6 atomic fragments (RFC 6946) passed through
    Counter malformed = 0;
    Counter rejected = 0;
    Counter bad_length = 0;
    Counter too_big = 0;
    Counter incomplete_chain = 0;
    Counter overlap = 0;
    Counter inconsistent = 0;
    Counter duplicate = 0;
    Counter too_many_fragments = 0;
    Counter over_source_cap = 0;
    Counter over_memory = 0;
    Counter dead_datagram = 0;
    Counter no_buffer = 0;
    Counter evicted = 0;    ///< datagrams evicted (oldest first) to make room
    Counter timed_out = 0;  ///< datagrams that expired in poll()

    template <class F>
    void visit(F&& f) const {
      f("fragments", fragments); f("reassembled", reassembled);
      f("unfragmented", unfragmented); f("atomic", atomic); f("malformed", malformed);
      f("rejected", rejected); f("bad_length", bad_length); f("too_big", too_big);
      f("incomplete_chain", incomplete_chain); f("overlap", overlap);
      f("inconsistent", inconsistent); f("duplicate", duplicate);
      f("too_many_fragments", too_many_fragments); f("over_source_cap", over_source_cap);
      f("over_memory", over_memory); f("dead_datagram", dead_datagram);
      f("no_buffer", no_buffer); f("evicted", evicted); f("timed_out", timed_out);
    }
  };

  /// What happened to one input.
  struct Outcome {
    /// The complete datagram (reassembled, atomic or unfragmented), starting at its IP header.
    std::optional<PacketBuf> datagram;
    FragDrop dropped = FragDrop::None;
    /// IPv6 only: a Parameter Problem RFC 8200 §4.5 says the caller should send ...
    std::optional<wire::Ipv6ParamProblem> param_problem;
    /// ... about this packet, handed back so that the ICMP error can quote it.
    PacketBuf offending;
  };

  /// A datagram that timed out after its first fragment arrived: the caller may send ICMP
  /// Time Exceeded code 1 (RFC 792, RFC 4443 §3.3) quoting first_fragment.
  struct Expired {
    IpVersion version = IpVersion::V4;
    PacketBuf first_fragment;  ///< the offset-0 fragment as received, from its IP header
  };

  /// `out_pool` supplies the buffers of reassembled datagrams.
  explicit Reassembler(BufPool& out_pool) : Reassembler(out_pool, Config{}) {}
  Reassembler(BufPool& out_pool, Config cfg);
  Reassembler(const Reassembler&) = delete;
  Reassembler& operator=(const Reassembler&) = delete;

  /// Takes an IPv4 packet starting at its header. Fragments are verified (header checksum
  /// too: the rebuilt header gets a fresh checksum, so a corrupt one must not pass) and held;
  /// a non-fragment is handed straight back as the datagram.
  Outcome input_v4(PacketBuf pkt, Instant now);
  /// Takes an IPv6 packet starting at its header, with the Fragment header the caller's
  /// walk_ext_headers() found. Atomic fragments come back at once without the Fragment header.
  Outcome input_v6(PacketBuf pkt, const wire::Ipv6FragmentInfo& frag, Instant now);
  /// As above, walking the extension headers itself; a packet without a Fragment header is
  /// handed straight back.
  Outcome input_v6(PacketBuf pkt, Instant now);

  /// Expires every datagram whose deadline is <= now and calls on_expired(Expired&&) for each
  /// that had its first fragment. Returns how many expired. on_expired must not call back
  /// into this Reassembler.
  template <class F>
  std::size_t poll(Instant now, F&& on_expired) {
    if (now < earliest_deadline_) return 0;
    std::size_t n = 0;
    Instant earliest = Instant::max();
    for (std::uint32_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].state == SlotState::Free) continue;
      if (slots_[i].deadline > now) {
        earliest = std::min(earliest, slots_[i].deadline);
        continue;
      }
      Expired e = expire(i);
      ++n;
      if (e.first_fragment.valid()) on_expired(std::move(e));
    }
    earliest_deadline_ = earliest;
    return n;
  }
  std::size_t poll(Instant now) {
    return poll(now, [](Expired&&) {});
  }
  /// When poll() next has work: the earliest deadline of any datagram in progress.
  std::optional<Instant> next_deadline() const;

  std::size_t datagrams_in_progress() const { return index_.size(); }
  std::size_t fragments_held() const { return frags_held_; }
  std::size_t bytes_held() const { return bytes_held_; }
  const Stats& stats() const { return stats_; }
  const Config& config() const { return cfg_; }

 private:
  enum class SlotState : std::uint8_t { Free, Active, Dead };

  /// One held fragment, linked in offset order within its datagram.
  struct Frag {
    PacketBuf buf;
    std::uint32_t offset = 0;    ///< in the datagram's data
    std::uint32_t len = 0;       ///< data bytes
    std::uint32_t data_off = 0;  ///< where the data starts in buf
    std::uint32_t cost = 0;      ///< buf.capacity() when taken: what the caps account
    std::int32_t next = -1;
    bool more = false;           ///< its MF / M flag (part of being an exact duplicate)
  };

  /// One datagram in progress.
  struct Slot {
    FragKey key;
    SlotState state = SlotState::Free;
    IpVersion version = IpVersion::V4;
    Instant created;
    Instant deadline;
    std::int32_t head = -1;
    std::int32_t tail = -1;
    std::uint32_t total = 0;     ///< data length, known once the last fragment arrived
    std::uint32_t max_end = 0;   ///< highest offset + len seen
    std::uint32_t received = 0;  ///< data bytes held (fragments never overlap)
    std::uint32_t nfrags = 0;
    std::size_t bytes = 0;       ///< buffer capacity held
    bool have_last = false;
    // From the IPv6 offset-0 fragment: where its unfragmentable part names the Fragment
    // header, and the next header the Fragment header names (RFC 8200 §4.5).
    std::uint32_t first_nh_field = 0;
    std::uint8_t first_next_header = 0;
  };

  /// A fragment after family-specific validation.
  struct Piece {
    FragKey key;
    IpVersion version = IpVersion::V4;
    std::uint32_t offset = 0;
    std::uint32_t len = 0;
    std::uint32_t data_off = 0;
    bool more = false;
    std::uint32_t nh_field = 0;     ///< IPv6: Next Header byte naming the Fragment header
    std::uint8_t next_header = 0;   ///< IPv6: the Fragment header's Next Header
  };

  Outcome drop(FragDrop why);
  Outcome insert(PacketBuf pkt, const Piece& piece, Instant now);
  std::optional<std::uint32_t> find_or_create(const FragKey& key, IpVersion v, Instant now);
  /// Links a new fragment after `prev`; the caller checked overlaps and caps.
  void link(std::uint32_t slot_idx, std::int32_t prev, PacketBuf pkt, const Piece& piece);
  bool make_room(std::uint32_t keep, std::size_t cost);
  std::optional<std::uint32_t> oldest_slot(std::uint32_t except, SlotState state) const;
  void release_fragments(Slot& s);
  void poison(Slot& s);
  void free_slot(std::uint32_t idx);
  Expired expire(std::uint32_t idx);
  Outcome assemble(std::uint32_t idx);
  void account(const IpAddr& source, std::size_t add, std::size_t sub);
  /// The per-source accounting key: the IPv4 address, or the /64 of an IPv6 address.
  static IpAddr source_of(const IpAddr& src);

  BufPool& pool_;
  Config cfg_;
  Stats stats_;
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_slots_;
  std::vector<Frag> frags_;
  std::int32_t free_frag_ = -1;
  FlatMap<FragKey, std::uint32_t> index_;
  FlatMap<IpAddr, std::size_t> source_bytes_;
  std::size_t bytes_held_ = 0;
  std::size_t frags_held_ = 0;
  Instant earliest_deadline_ = Instant::max();
};

}  // namespace tunstack::ip
