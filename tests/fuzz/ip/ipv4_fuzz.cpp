// Fuzzes the IPv4 wire format: Ipv4View::check and every accessor, the option reader, and
// Ipv4Repr parse -> emit -> parse (the emitted header must parse to the same repr and match the
// input but for the reserved flag and the checksum). When the input is a whole datagram with DF
// clear, it is also fragmented along a fuzzer-chosen MTU and reassembled: the result must be the
// input again.
#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "stack/checksum/checksum.hpp"
#include "stack/ip/fragment.hpp"
#include "stack/ip/reassembly.hpp"
#include "stack/wire/ipv4.hpp"
#include "tests/fuzz/ip/ip_fuzz_check.hpp"

using namespace tunstack;
using namespace tunstack::wire;
using tunstack::fuzz_ip::require;

namespace {

void options(const Ipv4View& v) {
  Ipv4OptionReader rd(v.options());
  std::size_t seen = 0;
  bool bad = false;
  for (int guard = 0; guard < 64; ++guard) {
    auto o = rd.next();
    if (!o) {
      bad = true;
      break;
    }
    if (!*o) break;
    require((*o)->raw.size() == (*o)->length && (*o)->length >= 1, "option length");
    require((*o)->data.size() + ((*o)->length == 1 ? 1u : 2u) == (*o)->length, "option data");
    seen += (*o)->length;
  }
  require(seen <= v.options().size(), "options read past the area");
  require(Ipv4OptionReader::validate(v.options()).ok() == !bad, "validate disagrees with next()");
}

/// Equal but for the reserved flag bit (byte 6, 0x80) and the checksum (bytes 10-11).
bool same_header(Bytes a, Bytes b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (i == 10 || i == 11) continue;
    const auto mask = static_cast<std::byte>(i == 6 ? 0x7f : 0xff);
    if ((a[i] & mask) != (b[i] & mask)) return false;
  }
  return true;
}

void fragment_round_trip(const Ipv4View& v, std::size_t mtu) {
  static std::array<PacketBuf, 160> frags;  // 4 KiB inputs at MTU 68: <= 90 fragments
  BufPool pool;
  {
    auto n = ip::fragment_v4(v.bytes(), mtu, pool, frags);
    if (!n) {
      require(n.error() == ip::FragmentError::MtuTooSmall ||
                  n.error() == ip::FragmentError::TooManyFragments,
              "fragment_v4 refused a valid datagram");
      return;
    }
    ip::Reassembler::Config cfg;
    cfg.max_datagrams = 2;
    cfg.max_fragments = frags.size();
    cfg.max_fragments_per_datagram = frags.size();
    ip::Reassembler r(pool, cfg);
    std::optional<PacketBuf> out;
    for (std::size_t i = *n; i > 0; --i) {  // reverse order: the hardest for the list
      require(frags[i - 1].size() <= mtu || *n == 1, "fragment larger than the MTU");
      auto o = r.input_v4(std::move(frags[i - 1]), instant_from_ns(0));
      require(o.dropped == ip::FragDrop::None, "own fragment dropped");
      if (o.datagram) out = std::move(o.datagram);
    }
    require(out.has_value(), "fragments did not reassemble");
    const Bytes got = out->view();
    require(got.size() == v.bytes().size(), "reassembled length");
    require(same_header(got.first(v.header_len()), v.header()), "reassembled header");
    require(std::equal(got.begin() + static_cast<std::ptrdiff_t>(v.header_len()), got.end(),
                       v.payload().begin()),
            "reassembled payload");
    require(checksum::verify(got.first(v.header_len())), "reassembled checksum");
  }
  require(pool.stats().blocks_out == 0, "buffers leaked");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t mode = data[0];
  std::vector<std::byte> pkt(size - 1);
  for (std::size_t i = 1; i < size; ++i) pkt[i - 1] = static_cast<std::byte>(data[i]);
  // Half the time fix the checksum up so that parsing goes past it.
  if ((mode & 1) != 0 && pkt.size() >= kIpv4MinHeaderLen) {
    const std::size_t hl = std::size_t{load_u8(pkt.data()) & 0x0fu} * 4;
    if (hl >= kIpv4MinHeaderLen && hl <= pkt.size()) {
      store_be16(pkt.data() + 10, 0);
      store_be16(pkt.data() + 10, checksum::internet(Bytes{pkt.data(), hl}));
    }
  }
  auto v = Ipv4View::check(pkt);
  if (!v) return 0;
  require(v->version() == 4, "version");
  require(v->header_len() >= kIpv4MinHeaderLen && v->header_len() <= v->total_length(), "ihl");
  require(v->bytes().size() == v->total_length() && v->total_length() <= pkt.size(), "length");
  require(v->payload().size() + v->header_len() == v->total_length(), "payload");
  require(v->options().size() == v->header_len() - kIpv4MinHeaderLen, "options size");
  require(v->frag_offset() % 8 == 0, "frag offset");
  require((v->dscp() << 2 | v->ecn()) == v->dscp_ecn(), "dscp/ecn");
  options(*v);

  auto r = Ipv4Repr::parse(*v, /*verify_checksum=*/false);
  const auto checked = Ipv4Repr::parse(*v);
  require(checked.ok() == (r.ok() && v->checksum_ok()), "checksum verification");
  if (!r) return 0;
  std::vector<std::byte> out(r->total_len());
  require(r->header_len() == v->header_len(), "repr header length");
  r->emit(MutBytes{out.data(), r->header_len()});
  std::copy(v->payload().begin(), v->payload().end(), out.begin() + static_cast<std::ptrdiff_t>(r->header_len()));
  require(same_header(Bytes{out.data(), r->header_len()}, v->header()), "emit differs from input");
  auto v2 = Ipv4View::check(out);
  require(v2.ok() && v2->checksum_ok(), "emitted header does not check");
  auto r2 = Ipv4Repr::parse(*v2);
  require(r2.ok() && *r2 == *r, "parse(emit(r)) != r");

  if (!v->is_fragment() && !v->dont_frag())
    fragment_round_trip(*v2, kIpv4MinMtu + static_cast<std::size_t>(mode >> 1) * 8);
  return 0;
}
