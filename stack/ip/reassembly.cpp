#include "stack/ip/reassembly.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "stack/checksum/checksum.hpp"
#include "stack/wire/ipv4.hpp"

namespace tunstack::ip {

namespace {
constexpr std::uint8_t kFragmentNh = static_cast<std::uint8_t>(wire::IpProto::Ipv6Frag);
constexpr std::uint32_t kPayloadLengthField = 4;  // IPv6 header offset of Payload Length
constexpr std::uint32_t kNoSlot = 0xffffffffu;
}  // namespace

IpAddr Reassembler::source_of(const IpAddr& src) {
  if (src.is_v4()) return src;
  // One IPv6 host usually owns a whole /64 (SLAAC, privacy addresses): cap the prefix, or a
  // single peer could take the whole table by rotating its interface identifier.
  Ip6Addr a = src.v6();
  std::fill(a.b.begin() + 8, a.b.end(), std::uint8_t{0});
  return a;
}

const char* to_string(FragDrop d) {
  switch (d) {
    case FragDrop::None: return "none";
    case FragDrop::Malformed: return "malformed";
    case FragDrop::Rejected: return "rejected";
    case FragDrop::BadLength: return "bad_length";
    case FragDrop::TooBig: return "too_big";
    case FragDrop::IncompleteChain: return "incomplete_chain";
    case FragDrop::Overlap: return "overlap";
    case FragDrop::Inconsistent: return "inconsistent";
    case FragDrop::Duplicate: return "duplicate";
    case FragDrop::TooManyFragments: return "too_many_fragments";
    case FragDrop::OverSourceCap: return "over_source_cap";
    case FragDrop::OverMemory: return "over_memory";
    case FragDrop::DeadDatagram: return "dead_datagram";
    case FragDrop::NoBuffer: return "no_buffer";
  }
  return "unknown";
}

std::uint64_t hash_value(const FragKey& k) {
  const std::uint64_t a = hash_value(k.src);
  const std::uint64_t b = hash_mix(hash_value(k.dst) + 0x9e3779b97f4a7c15ULL);
  return a ^ b ^ ((std::uint64_t{k.ident} << 8) | k.proto);
}

Reassembler::Reassembler(BufPool& out_pool, Config cfg)
    : pool_(out_pool),
      cfg_(cfg),
      slots_(cfg.max_datagrams),
      frags_(cfg.max_fragments),
      index_(cfg.max_datagrams, cfg.hash_seed),
      source_bytes_(cfg.max_datagrams, hash_mix(cfg.hash_seed + 1)) {
  assert(cfg.max_fragments < 0x7fffffffu && cfg.max_datagrams < kNoSlot);
  free_slots_.reserve(slots_.size());
  for (std::size_t i = slots_.size(); i > 0; --i) free_slots_.push_back(static_cast<std::uint32_t>(i - 1));
  for (std::size_t i = 0; i < frags_.size(); ++i)
    frags_[i].next = i + 1 < frags_.size() ? static_cast<std::int32_t>(i + 1) : -1;
  free_frag_ = frags_.empty() ? -1 : 0;
}

Reassembler::Outcome Reassembler::drop(FragDrop why) {
  Counter* c = nullptr;
  switch (why) {
    case FragDrop::None: break;
    case FragDrop::Malformed: c = &stats_.malformed; break;
    case FragDrop::Rejected: c = &stats_.rejected; break;
    case FragDrop::BadLength: c = &stats_.bad_length; break;
    case FragDrop::TooBig: c = &stats_.too_big; break;
    case FragDrop::IncompleteChain: c = &stats_.incomplete_chain; break;
    case FragDrop::Overlap: c = &stats_.overlap; break;
    case FragDrop::Inconsistent: c = &stats_.inconsistent; break;
    case FragDrop::Duplicate: c = &stats_.duplicate; break;
    case FragDrop::TooManyFragments: c = &stats_.too_many_fragments; break;
    case FragDrop::OverSourceCap: c = &stats_.over_source_cap; break;
    case FragDrop::OverMemory: c = &stats_.over_memory; break;
    case FragDrop::DeadDatagram: c = &stats_.dead_datagram; break;
    case FragDrop::NoBuffer: c = &stats_.no_buffer; break;
  }
  if (c != nullptr) ++*c;
  Outcome o;
  o.dropped = why;
  return o;
}

Reassembler::Outcome Reassembler::input_v4(PacketBuf pkt, Instant now) {
  auto v = wire::Ipv4View::check(pkt.view());
  if (!v || !v->checksum_ok()) return drop(FragDrop::Malformed);
  if (!v->is_fragment()) {
    ++stats_.unfragmented;
    pkt.truncate(v->total_length());
    return Outcome{std::move(pkt), FragDrop::None, std::nullopt, {}};
  }
  ++stats_.fragments;
  const std::uint32_t hdr = static_cast<std::uint32_t>(v->header_len());
  const std::uint32_t len = v->total_length() - hdr;
  const std::uint32_t off = v->frag_offset();
  // RFC 791 §3.2: every fragment but the last carries a multiple of 8 data bytes.
  if (len == 0 || (v->more_frags() && len % 8 != 0)) return drop(FragDrop::BadLength);
  if (hdr + off + len > wire::kIpv4MaxTotalLen) return drop(FragDrop::TooBig);
  Piece p;
  p.key = FragKey{v->src(), v->dst(), v->ident(), v->protocol_raw()};
  p.version = IpVersion::V4;
  p.offset = off;
  p.len = len;
  p.data_off = hdr;
  p.more = v->more_frags();
  return insert(std::move(pkt), p, now);
}

Reassembler::Outcome Reassembler::input_v6(PacketBuf pkt, Instant now) {
  auto v = wire::Ipv6View::check(pkt.view());
  if (!v) return drop(FragDrop::Malformed);
  auto chain = wire::walk_ext_headers(*v);
  if (!chain) return drop(FragDrop::Malformed);
  if (chain->verdict != wire::Ipv6Verdict::Accept) {
    Outcome o = drop(FragDrop::Rejected);
    if (chain->verdict == wire::Ipv6Verdict::DiscardIcmp) {
      o.param_problem = chain->problem;
      o.offending = std::move(pkt);
    }
    return o;
  }
  if (!chain->fragment) {
    ++stats_.unfragmented;
    pkt.truncate(v->bytes().size());
    return Outcome{std::move(pkt), FragDrop::None, std::nullopt, {}};
  }
  return input_v6(std::move(pkt), *chain->fragment, now);
}

Reassembler::Outcome Reassembler::input_v6(PacketBuf pkt, const wire::Ipv6FragmentInfo& frag,
                                           Instant now) {
  auto v = wire::Ipv6View::check(pkt.view());
  if (!v) return drop(FragDrop::Malformed);
  const Bytes b = v->bytes();
  const std::size_t h = frag.header_offset;
  const std::size_t nh = frag.next_header_field;
  // The caller's walk produced `frag`; still check it describes this packet before using it:
  // the byte at nh names a Fragment header, which starts right after the header holding nh.
  if (h < wire::kIpv6HeaderLen || h > b.size() - wire::kIpv6FragHeaderLen || nh >= h ||
      load_u8(b.data() + nh) != kFragmentNh)
    return drop(FragDrop::Malformed);
  const std::size_t expected_h =
      nh == 6 ? wire::kIpv6HeaderLen
      : nh >= wire::kIpv6HeaderLen ? nh + (std::size_t{load_u8(b.data() + nh + 1)} + 1) * 8
                                   : 0;
  if (h != expected_h) return drop(FragDrop::Malformed);
  const wire::Ipv6FragHeader fh = *wire::Ipv6FragHeader::parse(b.subspan(h));
  const std::size_t data_off = h + wire::kIpv6FragHeaderLen;
  const std::size_t len = b.size() - data_off;

  if (fh.atomic()) {
    // RFC 6946: a whole datagram; drop the Fragment header in place and touch no state.
    ++stats_.atomic;
    pkt.truncate(b.size());
    std::byte* d = pkt.data();
    store_u8(d + nh, fh.next_header);
    store_be16(d + kPayloadLengthField,
               static_cast<std::uint16_t>(v->payload_length() - wire::kIpv6FragHeaderLen));
    std::memmove(d + wire::kIpv6FragHeaderLen, d, h);
    pkt.trim_front(wire::kIpv6FragHeaderLen);
    return Outcome{std::move(pkt), FragDrop::None, std::nullopt, {}};
  }
  ++stats_.fragments;
  std::optional<wire::Ipv6ParamProblem> problem;
  FragDrop why = FragDrop::None;
  if (len == 0) {
    why = FragDrop::BadLength;
  } else if (fh.more && len % 8 != 0) {
    // RFC 8200 §4.5: Parameter Problem code 0 pointing at Payload Length.
    why = FragDrop::BadLength;
    problem = wire::Ipv6ParamProblem{wire::Ipv6ProblemCode::ErroneousField, kPayloadLengthField};
  } else if (h - wire::kIpv6HeaderLen + fh.offset + len > wire::kIpv6MaxPayloadLen) {
    // RFC 8200 §4.5: Parameter Problem code 0 pointing at the Fragment Offset field.
    why = FragDrop::TooBig;
    problem = wire::Ipv6ParamProblem{wire::Ipv6ProblemCode::ErroneousField,
                                     static_cast<std::uint32_t>(h + 2)};
  } else if (fh.offset == 0 && !wire::first_fragment_chain_complete(b.subspan(data_off), fh.next_header)) {
    // RFC 8200 §4.5 (RFC 7112): Parameter Problem code 3, pointer zero.
    why = FragDrop::IncompleteChain;
    problem = wire::Ipv6ParamProblem{wire::Ipv6ProblemCode::IncompleteChain, 0};
  }
  if (why != FragDrop::None) {
    Outcome o = drop(why);
    if (problem) {
      o.param_problem = problem;
      o.offending = std::move(pkt);
    }
    return o;
  }
  Piece p;
  p.key = FragKey{v->src(), v->dst(), fh.ident, 0};
  p.version = IpVersion::V6;
  p.offset = fh.offset;
  p.len = static_cast<std::uint32_t>(len);
  p.data_off = static_cast<std::uint32_t>(data_off);
  p.more = fh.more;
  p.nh_field = static_cast<std::uint32_t>(nh);
  p.next_header = fh.next_header;
  return insert(std::move(pkt), p, now);
}

Reassembler::Outcome Reassembler::insert(PacketBuf pkt, const Piece& p, Instant now) {
  const auto found = find_or_create(p.key, p.version, now);
  if (!found) return drop(FragDrop::OverMemory);  // only with max_datagrams == 0
  const std::uint32_t idx = *found;
  Slot& s = slots_[idx];
  if (s.state == SlotState::Dead) return drop(FragDrop::DeadDatagram);

  // The last fragment fixes the datagram's length; nothing may contradict it.
  const std::uint32_t end = p.offset + p.len;
  const bool contradicts = p.more ? (s.have_last && end > s.total)
                                  : (s.have_last ? end != s.total : s.max_end > end);
  if (contradicts) {
    poison(s);
    return drop(FragDrop::Inconsistent);
  }

  // Find the neighbours in offset order (appending in order is the common case).
  std::int32_t prev = -1;
  std::int32_t next = s.head;
  if (s.tail >= 0 && frags_[s.tail].offset < p.offset) {
    prev = s.tail;
    next = -1;
  } else {
    while (next >= 0 && frags_[next].offset < p.offset) {
      prev = next;
      next = frags_[next].next;
    }
  }
  if (prev >= 0 && frags_[prev].offset + frags_[prev].len > p.offset) {
    poison(s);  // RFC 5722: any overlap discards the whole datagram
    return drop(FragDrop::Overlap);
  }
  if (next >= 0 && frags_[next].offset < end) {
    const Frag& n = frags_[next];
    if (n.offset == p.offset && n.len == p.len && n.more == p.more &&
        std::memcmp(n.buf.data() + n.data_off, pkt.data() + p.data_off, p.len) == 0)
      return drop(FragDrop::Duplicate);  // RFC 8200 §4.5: exact duplicates may be dropped alone
    poison(s);
    return drop(FragDrop::Overlap);
  }

  if (s.nfrags >= cfg_.max_fragments_per_datagram) {
    poison(s);
    return drop(FragDrop::TooManyFragments);
  }
  const std::size_t cost = pkt.capacity();
  const std::size_t* used = source_bytes_.find(source_of(p.key.src));
  if ((used != nullptr ? *used : 0) + cost > cfg_.max_bytes_per_source) {
    poison(s);
    return drop(FragDrop::OverSourceCap);
  }
  if (!make_room(idx, cost)) {
    poison(s);
    return drop(FragDrop::OverMemory);
  }

  link(idx, prev, std::move(pkt), p);
  account(source_of(p.key.src), cost, 0);
  s.nfrags++;
  s.received += p.len;
  s.bytes += cost;
  s.max_end = std::max(s.max_end, end);
  if (!p.more) {
    s.have_last = true;
    s.total = end;
  }
  if (p.offset == 0) {
    s.first_nh_field = p.nh_field;
    s.first_next_header = p.next_header;
  }
  // Fragments never overlap and all lie below total, so this many bytes means no holes.
  if (s.have_last && s.received == s.total) return assemble(idx);
  return Outcome{};
}

std::optional<std::uint32_t> Reassembler::find_or_create(const FragKey& key, IpVersion v,
                                                         Instant now) {
  if (const std::uint32_t* i = index_.find(key)) {
    if (slots_[*i].deadline > now) return *i;
    // Stale (poll() has not run yet): expire it here so the key can start afresh.
    Expired lost = expire(*i);
    (void)lost;
  }
  if (free_slots_.empty()) {
    // Dead slots hold no memory: evict those first, then the oldest live datagram.
    auto victim = oldest_slot(kNoSlot, SlotState::Dead);
    if (!victim) {
      victim = oldest_slot(kNoSlot, SlotState::Active);
      if (victim) ++stats_.evicted;
    }
    if (!victim) return std::nullopt;
    free_slot(*victim);
  }
  const std::uint32_t idx = free_slots_.back();
  free_slots_.pop_back();
  Slot& s = slots_[idx];
  s = Slot{};
  s.key = key;
  s.state = SlotState::Active;
  s.version = v;
  s.created = now;
  s.deadline = now + (v == IpVersion::V4 ? cfg_.timeout_v4 : cfg_.timeout_v6);
  earliest_deadline_ = std::min(earliest_deadline_, s.deadline);
  const bool inserted = index_.insert(key, idx) != nullptr;
  assert(inserted);  // the index holds exactly the non-free slots
  (void)inserted;
  return idx;
}

void Reassembler::link(std::uint32_t slot_idx, std::int32_t prev, PacketBuf pkt,
                       const Piece& p) {
  Slot& s = slots_[slot_idx];
  const std::int32_t fi = free_frag_;
  assert(fi >= 0);
  Frag& f = frags_[static_cast<std::size_t>(fi)];
  free_frag_ = f.next;
  f.cost = static_cast<std::uint32_t>(pkt.capacity());
  f.buf = std::move(pkt);
  f.offset = p.offset;
  f.len = p.len;
  f.data_off = p.data_off;
  f.more = p.more;
  if (prev < 0) {
    f.next = s.head;
    s.head = fi;
  } else {
    f.next = frags_[static_cast<std::size_t>(prev)].next;
    frags_[static_cast<std::size_t>(prev)].next = fi;
  }
  if (f.next < 0) s.tail = fi;
  bytes_held_ += f.cost;
  ++frags_held_;
}

bool Reassembler::make_room(std::uint32_t keep, std::size_t cost) {
  while (bytes_held_ + cost > cfg_.max_bytes || free_frag_ < 0) {
    auto victim = oldest_slot(keep, SlotState::Active);
    if (!victim) return false;
    ++stats_.evicted;
    poison(slots_[*victim]);  // dead, not free: its remaining fragments are dropped cheaply
  }
  return true;
}

std::optional<std::uint32_t> Reassembler::oldest_slot(std::uint32_t except,
                                                      SlotState state) const {
  std::optional<std::uint32_t> best;
  for (std::uint32_t i = 0; i < slots_.size(); ++i) {
    const Slot& s = slots_[i];
    if (i == except || s.state != state) continue;
    if (state == SlotState::Active && s.head < 0) continue;  // holds nothing to free
    if (!best || s.created < slots_[*best].created) best = i;
  }
  return best;
}

void Reassembler::release_fragments(Slot& s) {
  for (std::int32_t i = s.head; i >= 0;) {
    Frag& f = frags_[static_cast<std::size_t>(i)];
    const std::int32_t next = f.next;
    account(source_of(s.key.src), 0, f.cost);
    bytes_held_ -= f.cost;
    --frags_held_;
    f.buf = PacketBuf{};
    f.next = free_frag_;
    free_frag_ = i;
    i = next;
  }
  s.head = s.tail = -1;
  s.nfrags = 0;
  s.received = 0;
  s.bytes = 0;
}

void Reassembler::poison(Slot& s) {
  release_fragments(s);
  s.state = SlotState::Dead;
}

void Reassembler::free_slot(std::uint32_t idx) {
  Slot& s = slots_[idx];
  release_fragments(s);
  index_.erase(s.key);
  s.state = SlotState::Free;
  free_slots_.push_back(idx);
}

Reassembler::Expired Reassembler::expire(std::uint32_t idx) {
  Slot& s = slots_[idx];
  Expired e;
  e.version = s.version;
  if (s.state == SlotState::Active) {
    ++stats_.timed_out;
    if (s.head >= 0 && frags_[static_cast<std::size_t>(s.head)].offset == 0)
      e.first_fragment = std::move(frags_[static_cast<std::size_t>(s.head)].buf);
  }
  free_slot(idx);  // accounting uses Frag::cost, so the moved-out buffer is still released
  return e;
}

void Reassembler::account(const IpAddr& src, std::size_t add, std::size_t sub) {
  std::size_t* used = source_bytes_.find(src);
  if (used == nullptr) {
    assert(sub == 0);
    // Every source with bytes has a slot with fragments, so the map (sized like the slot
    // table) cannot be full here.
    used = source_bytes_.insert(src, 0);
    assert(used != nullptr);
    if (used == nullptr) return;  // unreachable (see above); keeps release builds from UB
  }
  *used += add;
  *used -= sub;
  if (*used == 0) source_bytes_.erase(src);
}

Reassembler::Outcome Reassembler::assemble(std::uint32_t idx) {
  Slot& s = slots_[idx];
  const Frag& first = frags_[static_cast<std::size_t>(s.head)];
  assert(first.offset == 0);
  const bool v4 = s.version == IpVersion::V4;
  // IPv4: the first fragment's header (RFC 791 §3.2); IPv6: its unfragmentable part (§4.5).
  const std::size_t hdr_len = v4 ? first.data_off : first.data_off - wire::kIpv6FragHeaderLen;
  const std::size_t total = hdr_len + s.total;
  const std::size_t limit = v4 ? wire::kIpv4MaxTotalLen : wire::kIpv6HeaderLen + wire::kIpv6MaxPayloadLen;
  if (total > limit) {
    free_slot(idx);
    return drop(FragDrop::TooBig);
  }
  PacketBuf out = pool_.alloc(total);
  if (!out.valid()) {
    free_slot(idx);
    return drop(FragDrop::NoBuffer);
  }
  std::byte* o = out.append(total).data();
  std::memcpy(o, first.buf.data(), hdr_len);
  // The one copy of reassembly: each fragment's data into its place in the datagram.
  for (std::int32_t i = s.head; i >= 0;) {
    const Frag& f = frags_[static_cast<std::size_t>(i)];
    std::memcpy(o + hdr_len + f.offset, f.buf.data() + f.data_off, f.len);
    i = f.next;
  }
  if (v4) {
    store_be16(o + 2, static_cast<std::uint16_t>(total));
    store_be16(o + 6, static_cast<std::uint16_t>(load_be16(o + 6) & 0x4000));  // keep DF only
    store_be16(o + 10, 0);
    store_be16(o + 10, checksum::internet(Bytes{o, hdr_len}));
  } else {
    store_be16(o + kPayloadLengthField, static_cast<std::uint16_t>(total - wire::kIpv6HeaderLen));
    store_u8(o + s.first_nh_field, s.first_next_header);
  }
  ++stats_.reassembled;
  free_slot(idx);
  return Outcome{std::move(out), FragDrop::None, std::nullopt, {}};
}

std::optional<Instant> Reassembler::next_deadline() const {
  std::optional<Instant> best;
  for (const Slot& s : slots_)
    if (s.state != SlotState::Free && (!best || s.deadline < *best)) best = s.deadline;
  return best;
}

}  // namespace tunstack::ip
