// Fuzzes the IPv6 wire format: Ipv6View::check and the accessors, Ipv6Repr round trip, the
// extension-header walker (with a fuzzer-chosen chain cap), first_fragment_chain_complete and
// find_unfragmentable, checking the offsets each returns. Packets the walker accepts whole are
// also source-fragmented and reassembled: the result, when reassembly accepts the pieces,
// must be the input again.
#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "stack/ip/fragment.hpp"
#include "stack/ip/reassembly.hpp"
#include "stack/wire/ipv6.hpp"
#include "tests/fuzz/ip/ip_fuzz_check.hpp"

using namespace tunstack;
using namespace tunstack::wire;
using tunstack::fuzz_ip::require;

namespace {

void check_chain(const Ipv6View& v, const Ipv6Chain& c, const Ipv6WalkLimits& lim) {
  const std::size_t n = v.bytes().size();
  require(c.ext_headers <= lim.max_ext_headers, "chain cap");
  require(c.upper_offset >= kIpv6HeaderLen && c.upper_offset <= n, "upper offset");
  require(c.upper_offset + c.upper_len == n, "upper length");
  require(c.next_header_field < c.upper_offset, "next header field");
  require(load_u8(v.bytes().data() + c.next_header_field) == c.upper_protocol,
          "next header field does not name the upper protocol");
  if (c.verdict == Ipv6Verdict::DiscardIcmp) require(c.problem.pointer < n, "icmp pointer");
  if (c.fragment) {
    const Ipv6FragmentInfo& f = *c.fragment;
    require(f.header_offset >= kIpv6HeaderLen && f.data_offset == f.header_offset + 8, "frag offsets");
    require(f.data_offset + f.data_len == n, "frag data");
    require(f.next_header_field < f.header_offset, "frag next header field");
    require(load_u8(v.bytes().data() + f.next_header_field) == 44, "frag not named");
    require(f.header.offset % 8 == 0, "frag offset unit");
  }
}

void fragment_round_trip(const Ipv6View& v, std::size_t mtu, std::uint32_t ident) {
  static std::array<PacketBuf, 160> frags;
  BufPool pool;
  {
    auto n = ip::fragment_v6(v.bytes(), mtu, ident, pool, frags);
    if (!n) {
      require(n.error() != ip::FragmentError::NoBuffer, "fragment_v6: pool refused");
      return;
    }
    ip::Reassembler::Config cfg;
    cfg.max_datagrams = 2;
    cfg.max_fragments = frags.size();
    cfg.max_fragments_per_datagram = frags.size();
    ip::Reassembler r(pool, cfg);
    std::optional<PacketBuf> out;
    for (std::size_t i = 0; i < *n; ++i) {
      require(frags[i].size() <= mtu || *n == 1, "fragment larger than the MTU");
      auto o = r.input_v6(std::move(frags[i]), instant_from_ns(0));
      if (o.datagram) out = std::move(o.datagram);
    }
    if (out) {
      require(std::ranges::equal(out->view(), v.bytes()), "reassembled packet differs");
    } else {
      const auto& s = r.stats();
      // Legitimate reasons: RFC 7112 (chain split across fragments), a walk rejection, or a
      // chain over the walker's cap once the Fragment header is added.
      require(s.incomplete_chain + s.rejected + s.malformed > 0, "fragments lost silently");
    }
  }
  require(pool.stats().blocks_out == 0, "buffers leaked");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t mode = data[0];
  std::vector<std::byte> pkt(size - 1);
  for (std::size_t i = 1; i < size; ++i) pkt[i - 1] = static_cast<std::byte>(data[i]);
  if ((mode & 1) != 0 && pkt.size() >= kIpv6HeaderLen && pkt.size() - kIpv6HeaderLen <= 65535)
    store_be16(pkt.data() + 4, static_cast<std::uint16_t>(pkt.size() - kIpv6HeaderLen));
  auto v = Ipv6View::check(pkt);
  if (!v) return 0;
  require(v->version() == 6, "version");
  require(v->bytes().size() == kIpv6HeaderLen + v->payload_length(), "length");
  require(v->flow_label() <= 0xfffff, "flow label");
  auto r = Ipv6Repr::parse(*v);
  require(r.ok(), "repr");
  std::array<std::byte, kIpv6HeaderLen> h{};
  r->emit(h);
  require(std::ranges::equal(Bytes{h}, v->header()), "emit differs from input");

  const Ipv6WalkLimits lim{static_cast<std::size_t>((mode >> 1) & 15u)};
  auto c = walk_ext_headers(*v, lim);
  if (c) check_chain(*v, *c, lim);
  (void)first_fragment_chain_complete(v->payload(), v->next_header_raw());
  if (auto u = find_unfragmentable(*v)) {
    require(u->length >= kIpv6HeaderLen && u->length <= v->bytes().size(), "unfragmentable length");
    require(u->next_header_field < u->length, "unfragmentable next header field");
  }
  auto full = walk_ext_headers(*v);
  if (full && full->verdict == Ipv6Verdict::Accept && !full->fragment)
    fragment_round_trip(*v, 64 + static_cast<std::size_t>(mode >> 5) * 200, 0x1234u * mode);
  return 0;
}
