// Fuzzes UdpView and UdpRepr: parse arbitrary bytes, emit, parse again; a datagram whose
// checksum verified (and is not the IPv4 "none") must come back byte-identical.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "stack/wire/udp.hpp"
#include "tests/fuzz/wire/fuzz_check.hpp"

using namespace tunstack;
using namespace tunstack::wire;
using tunstack::fuzz::require;
using tunstack::fuzz::same_bytes;

namespace {
const IpAddr kSrc4 = Ip4Addr::from_host(0x0a000001);
const IpAddr kDst4 = Ip4Addr::from_host(0x0a000002);
const IpAddr kSrc6 = *Ip6Addr::parse("fd00::1");
const IpAddr kDst6 = *Ip6Addr::parse("fd00::2");
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const bool v6 = (data[0] & 1) != 0;
  const IpAddr& src = v6 ? kSrc6 : kSrc4;
  const IpAddr& dst = v6 ? kDst6 : kDst4;
  auto v = UdpView::check(as_bytes(data + 1, size - 1));
  if (!v) return 0;
  require(v->datagram().size() == v->length() && v->length() <= size - 1, "view bounds");
  const bool verified = v->verify_checksum(src, dst);
  const UdpRepr r = UdpRepr::parse(*v);
  require(UdpRepr::parse(*v, src, dst).ok() == verified, "parse disagrees with verify");

  std::vector<std::byte> out(UdpRepr::size() + v->payload().size());
  std::copy(v->payload().begin(), v->payload().end(), out.begin() + 8);
  r.emit(MutBytes{out.data(), 8}, Bytes{out.data() + 8, v->payload().size()}, src, dst);
  auto v2 = UdpView::check(out);
  require(v2.ok(), "emitted datagram fails check()");
  require(v2->checksum() != 0, "emitted a zero checksum");
  auto back = UdpRepr::parse(*v2, src, dst);
  require(back.ok(), "emitted datagram fails verification");
  require(*back == r, "repr changed across emit/parse");
  if (verified && v->checksum() != 0)
    require(same_bytes(out, v->datagram()), "valid datagram not reproduced byte-exact");
  return 0;
}
