// Feeds the Reassembler a stream of fuzzer-derived operations: well-formed IPv4/IPv6 fragments
// of a few colliding keys (offsets, lengths and flags chosen by the fuzzer, so overlaps,
// duplicates, gaps and contradictions all happen), raw packets, clock steps and polls, under a
// fuzzer-chosen small configuration. Checks after every step: the caps hold, and any datagram
// that comes out is well-formed and carries, at every byte, the data its key's fragments carry
// at that offset (so nothing inconsistent or uninitialised is ever produced). At the end every
// buffer must be back in the pool.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "stack/checksum/checksum.hpp"
#include "stack/ip/reassembly.hpp"
#include "stack/wire/ipv4.hpp"
#include "stack/wire/ipv6.hpp"
#include "tests/fuzz/ip/ip_fuzz_check.hpp"

using namespace tunstack;
using tunstack::fuzz_ip::require;
using wire::IpProto;

namespace {

/// Reads the fuzzer's bytes; zeros once they run out.
struct Reader {
  const std::uint8_t* p;
  std::size_t n;
  bool empty() const { return n == 0; }
  std::uint8_t u8() {
    if (n == 0) return 0;
    --n;
    return *p++;
  }
  std::uint16_t u16() { return static_cast<std::uint16_t>(u8() << 8 | u8()); }
};

/// The data byte every generated fragment of a key carries at datagram offset `at`.
std::byte pattern(std::uint32_t key_salt, std::size_t at) {
  return static_cast<std::byte>((at * 131 + (at >> 8) + key_salt) & 0xff);
}

/// A fragment's offset and length: usually small multiples of 8 (so that fragments of a key
/// meet, overlap and complete often), sometimes anywhere in the 64 KiB range.
struct Extent {
  std::size_t offset;
  std::size_t len;
};
Extent extent(Reader& rd, bool more) {
  const std::uint8_t shape = rd.u8();
  if ((shape & 0xe0) == 0xe0) return {(rd.u16() % 8192) * 8u, rd.u16() % 2000u};
  const std::size_t len = more ? 8u * (1 + rd.u8() % 8u) : 1u + rd.u8() % 64u;
  return {(shape & 0x1fu) * 8u, len};
}

std::uint32_t salt_of(std::uint32_t ident, std::uint8_t src_low, std::uint8_t proto) {
  return ident * 7 + src_low * 13u + proto;
}

/// An IPv4 fragment of key `k` (bits: 0 source, 1 ident, 2 protocol, 6 Router Alert option).
std::vector<std::byte> v4_build(std::uint8_t k, Extent e, bool more) {
  wire::Ipv4Repr r;
  // Few keys (2 sources x 2 idents x 2 protocols) so that fragments of one datagram meet.
  r.src = Ip4Addr::from_host(0x0a000000u | (k & 1u));  // generated: 10.0.0.0/30
  r.dst = Ip4Addr::from_host(0x0a000101u);
  r.ident = static_cast<std::uint16_t>((k >> 1) & 1u);
  r.protocol = (k & 0x04) != 0 ? IpProto::Tcp : IpProto::Udp;
  r.more_frags = more;
  if ((k & 0x40) != 0) {
    const std::byte ra[] = {std::byte{0x94}, std::byte{4}, std::byte{0}, std::byte{0}};
    (void)r.options.assign(Bytes{ra});
  }
  // Keep the datagram within 65535 bytes so that the header can be emitted at all.
  const std::size_t max_off = (65535 - r.header_len()) & ~std::size_t{7};
  r.frag_offset = static_cast<std::uint16_t>(std::min(e.offset, max_off));
  const std::size_t len = std::min(e.len, 65535 - r.header_len() - r.frag_offset);
  r.payload_len = static_cast<std::uint16_t>(len);
  std::vector<std::byte> b(r.total_len());
  r.emit(b);
  const std::uint32_t salt = salt_of(r.ident, k & 1u, static_cast<std::uint8_t>(r.protocol));
  for (std::size_t i = 0; i < len; ++i) b[r.header_len() + i] = pattern(salt, r.frag_offset + i);
  return b;
}

/// An IPv6 fragment of key `k` (bits: 0 source, 1 ident, 6 a Hop-by-Hop header in front).
std::vector<std::byte> v6_build(std::uint8_t k, Extent e, bool more) {
  const bool hbh = (k & 0x40) != 0;
  const auto offset = static_cast<std::uint16_t>(e.offset);
  wire::Ipv6Repr r;
  r.src = *Ip6Addr::parse("fd00::");  // generated: fd00::/127
  r.src.b[15] = k & 1u;
  r.dst = *Ip6Addr::parse("fd00::ffff");
  r.next_header = hbh ? IpProto::HopByHop : IpProto::Ipv6Frag;
  r.payload_len = static_cast<std::uint16_t>((hbh ? 8 : 0) + 8 + e.len);
  std::vector<std::byte> b(40 + r.payload_len);
  r.emit(b);
  std::size_t pos = 40;
  if (hbh) {
    b[pos] = std::byte{44};
    b[pos + 2] = std::byte{1};  // PadN, 4 bytes
    b[pos + 3] = std::byte{4};
    pos += 8;
  }
  const std::uint32_t ident = (k >> 1) & 1u;
  wire::Ipv6FragHeader{17, offset, more, ident}.emit(MutBytes{b.data() + pos, 8});
  pos += 8;
  const std::uint32_t salt = salt_of(ident, k & 1u, 0);
  for (std::size_t i = 0; i < e.len; ++i) b[pos + i] = pattern(salt, offset + i);
  return b;
}

std::vector<std::byte> one_fragment(Reader& rd, bool v6) {
  const std::uint8_t k = rd.u8();
  const bool more = (k & 0x20) != 0;
  const Extent e = extent(rd, more);
  return v6 ? v6_build(k, e, more) : v4_build(k, e, more);
}

/// Every fragment of one datagram, rotated, sometimes with a piece missing or doubled: so that
/// completions are common among whatever else the stream does.
std::vector<std::vector<std::byte>> fragment_set(Reader& rd, bool v6) {
  const std::uint8_t k = rd.u8();
  const std::size_t total = 8 + rd.u16() % 4000;
  const std::size_t chunk = 8u * (1 + rd.u8() % 64u);
  const std::uint8_t twist = rd.u8();
  std::vector<std::vector<std::byte>> set;
  for (std::size_t off = 0; off < total; off += chunk) {
    const Extent e{off, std::min(chunk, total - off)};
    const bool more = off + e.len < total;
    set.push_back(v6 ? v6_build(k, e, more) : v4_build(k, e, more));
  }
  std::rotate(set.begin(), set.begin() + static_cast<std::ptrdiff_t>(twist % set.size()), set.end());
  if ((twist & 0x80) != 0 && set.size() > 1) {
    set.pop_back();  // a hole
  } else if ((twist & 0x40) != 0) {
    set.push_back(set.front());  // a duplicate
  }
  return set;
}

/// Raw bytes from the fuzzer, moved out of the generated address ranges so that they never
/// join a generated datagram (whose contents are checked).
std::vector<std::byte> raw(Reader& rd, bool v6) {
  std::vector<std::byte> b(rd.u8() + std::size_t{rd.u8()} * 4);
  for (auto& x : b) x = static_cast<std::byte>(rd.u8());
  if (!v6 && b.size() >= 20) {
    b[12] = std::byte{192};
    const std::size_t hl = std::size_t{load_u8(b.data()) & 0x0fu} * 4;
    if (hl >= 20 && hl <= b.size()) {  // a valid checksum lets raw fragments in
      store_be16(b.data() + 10, 0);
      store_be16(b.data() + 10, checksum::internet(Bytes{b.data(), hl}));
    }
  }
  if (v6 && b.size() >= 40) b[8] = std::byte{0x20};
  return b;
}

void check_v4_output(Bytes d) {
  auto v = wire::Ipv4View::check(d);
  require(v.ok(), "v4 output does not parse");
  require(v->checksum_ok() && !v->is_fragment() && v->bytes().size() == d.size(), "v4 output header");
  const std::uint32_t src = v->src().to_host();
  if ((src & 0xfffffffcu) != 0x0a000000u) return;  // from raw input: contents unknown
  const std::uint32_t salt = salt_of(v->ident(), src & 3u, v->protocol_raw());
  const Bytes p = v->payload();
  for (std::size_t i = 0; i < p.size(); ++i) require(p[i] == pattern(salt, i), "v4 output data");
}

void check_v6_output(Bytes d) {
  auto v = wire::Ipv6View::check(d);
  require(v.ok() && v->bytes().size() == d.size(), "v6 output does not parse");
  auto c = wire::walk_ext_headers(*v);
  require(c.ok(), "v6 output chain");
  if (v->src().b[0] != 0xfd) return;  // from raw input
  require(!c->fragment && c->upper_protocol == 17, "v6 output still fragmented");
  // The ident is gone with the Fragment header; the data must match one of the source's keys.
  const Bytes p = d.subspan(c->upper_offset);
  bool any = false;
  for (std::uint32_t ident = 0; ident < 2 && !any; ++ident) {
    const std::uint32_t salt = salt_of(ident, v->src().b[15], 0);
    bool all = true;
    for (std::size_t i = 0; i < p.size() && all; ++i) all = p[i] == pattern(salt, i);
    any = all;
  }
  require(any, "v6 output data");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Reader rd{data, size};
  const std::uint8_t sel = rd.u8();
  ip::Reassembler::Config cfg;
  cfg.max_datagrams = 1 + (sel & 7u);
  cfg.max_fragments = 4 + ((sel >> 3) & 7u) * 8;
  cfg.max_fragments_per_datagram = 2 + (sel >> 6) * 6;
  BufPool::Config pc;
  cfg.max_bytes = (2 + rd.u8() % 64) * pc.small_size;
  cfg.max_bytes_per_source = (1 + rd.u8() % 32) * pc.small_size;
  pc.max_bytes = 64u << 20;  // bounded whatever the input
  BufPool pool(pc);
  {
    ip::Reassembler r(pool, cfg);
    Instant now = instant_from_ns(0);
    for (int steps = 0; !rd.empty() && steps < 4096; ++steps) {
      const std::uint8_t op = rd.u8();
      ip::Reassembler::Outcome o;
      bool v6 = false;
      switch (op % 8) {
        case 0: now += std::chrono::milliseconds(rd.u16()) * 4; break;
        case 1:
          r.poll(now, [](ip::Reassembler::Expired&& e) {
            require(e.first_fragment.valid(), "expired report without its first fragment");
          });
          if (auto d = r.next_deadline()) require(*d > now, "poll left an expired datagram");
          break;
        case 2: o = r.input_v4(pool.copy_of(one_fragment(rd, false)), now); break;
        case 3:
          o = r.input_v6(pool.copy_of(one_fragment(rd, true)), now);
          v6 = true;
          break;
        case 4: o = r.input_v4(pool.copy_of(raw(rd, false)), now); break;
        case 5:
          o = r.input_v6(pool.copy_of(raw(rd, true)), now);
          v6 = true;
          break;
        case 6: {  // a whole set of fragments, checked piece by piece below
          const bool set_v6 = (rd.u8() & 1) != 0;
          for (const auto& f : fragment_set(rd, set_v6)) {
            auto fo = set_v6 ? r.input_v6(pool.copy_of(f), now) : r.input_v4(pool.copy_of(f), now);
            if (fo.datagram) set_v6 ? check_v6_output(fo.datagram->view()) : check_v4_output(fo.datagram->view());
            require(r.bytes_held() <= cfg.max_bytes, "global byte cap exceeded");
          }
          break;
        }
        default: {  // an IPv6 fragment through the caller-supplied-info entry point
          const auto b = one_fragment(rd, true);
          auto v = wire::Ipv6View::check(b);
          auto c = wire::walk_ext_headers(*v);
          require(c.ok() && c->fragment.has_value(), "generated v6 fragment does not walk");
          o = r.input_v6(pool.copy_of(b), *c->fragment, now);
          v6 = true;
        }
      }
      require(r.bytes_held() <= cfg.max_bytes, "global byte cap exceeded");
      require(r.fragments_held() <= cfg.max_fragments, "fragment cap exceeded");
      require(r.datagrams_in_progress() <= cfg.max_datagrams, "datagram cap exceeded");
      require(!(o.datagram && o.dropped != ip::FragDrop::None), "datagram and drop at once");
      require(o.offending.valid() == o.param_problem.has_value(), "param problem without packet");
      if (o.datagram) v6 ? check_v6_output(o.datagram->view()) : check_v4_output(o.datagram->view());
    }
  }
  require(pool.stats().blocks_out == 0, "buffers leaked");
  return 0;
}
